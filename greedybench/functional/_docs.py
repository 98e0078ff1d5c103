"""Shared numpydoc fragments of the batched solvers' docstrings: one wording per common parameter.

A public solver's docstring names a fragment by a line that holds only ``%(name)s``;
:func:`shared_doc` replaces that line by the fragment, indented like the marker.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["FRAGMENTS", "shared_doc"]

#: the fragments by name (numpydoc text, unindented)
FRAGMENTS = {
    "problem": """\
A : Tensor (m, N) or (B, m, N)
    Sensing matrix, shared by the batch or one per problem; float32/float64, real or complex.
y : Tensor (B, m)
    Measurements.
s : int
    Sparsity, 1 <= s <= min(m, N).""",
    "weights": """\
weights : None or Tensor (N,) or (B, N)
    Selection weights, multiplying the statistic only (|w * u| with w = |weights|); an index
    with weight 0 is never kept.""",
    "path_returns": """\
return_path : bool
    If True return only the path: all iterates, shape (B, n_iter + 1, N), iterate 0 = 0.

Returns
-------
x : Tensor (B, N), or the path (B, n_iter + 1, N).""",
}


def shared_doc(**extra: str) -> Callable:
    """Decorator: fill the ``%(name)s`` marker lines of a function's docstring with
    :data:`FRAGMENTS` (and ``extra`` fragments, which take precedence); an unknown name raises
    KeyError at import time."""
    fragments = {**FRAGMENTS, **extra}

    def decorate(func: Callable) -> Callable:
        lines = []
        for line in (func.__doc__ or "").split("\n"):
            key = line.strip()
            if key.startswith("%(") and key.endswith(")s"):
                indent = line[: len(line) - len(line.lstrip())]
                lines.extend(indent + part if part else part for part in fragments[key[2:-2]].split("\n"))
            else:
                lines.append(line)
        func.__doc__ = "\n".join(lines)
        return func

    return decorate
