"""The built-in solver entries (``greedybench.solvers``): one file per entry, declaration only
(docs/architecture.md, "Solver entry contract"). What several entries declare alike lives here,
once: their capability sets, the citations they share, the defaults an entry takes from another
(IHT's step and iteration count) and :func:`kernel_solve`, the ``solve`` of an entry that is one
call of a library kernel with the entry's parameters.

An entry imports these absolutely (``from greedybench.solvers import ...``): this module is part
of the version of every entry that uses it (``greedybench.versioning.HASHED_MODULES``). The
registry loads only ``solvers/[!_]*.py`` files as entries, never this one.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

__all__ = ["CLASSICAL", "SOFT", "TRAINED", "PEER", "IHT_STEP", "IHT_ITERS", "PATI_1993",
           "BLUMENSATH_DAVIES_2009", "ORACLE_WEIGHTS", "BATCH_OMP", "kernel_solve", "per_matrix"]

# capability sets (``registry.CAPABILITY_KEYS``); the registry copies an entry's dict
#: classical solvers: not differentiable, no training; complex data and GPUs
CLASSICAL = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
#: soft (softsort) relaxations: differentiable, no training
SOFT = {"differentiable": True, "trained": False, "complex": True, "gpu": True}
#: trained unrolled nets: differentiable, with ``train``
TRAINED = {"differentiable": True, "trained": True, "complex": True, "gpu": True}
#: other projects' implementations wrapped for comparison (real data, their own CPU code)
PEER = {"differentiable": False, "trained": False, "complex": False, "gpu": False}

#: the ``iht`` entry's step and iteration count, shared by the entries compared with it
#: (``iht_oracle``, ``soft_iht``): Maleki & Donoho's tuned step for unit-norm columns
IHT_STEP = 0.65
IHT_ITERS = 300

# citations of more than one entry
PATI_1993 = "Pati, Rezaiifar & Krishnaprasad (1993)"
BLUMENSATH_DAVIES_2009 = "Blumensath & Davies (2009), Iterative hard thresholding for compressed sensing"
ORACLE_WEIGHTS = "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), oracle weights"
BATCH_OMP = "Rubinstein, Zibulevsky & Elad (2008), Batch-OMP"


def kernel_solve(kernel: Callable, parameters: Optional[Dict[str, list]] = None, *, oracle: bool = False,
                 **defaults) -> Callable:
    """The ``solve`` of an entry that is one call of a sparse kernel ``kernel(A, y, s, **kw)``.

    ``solve(problem, **params)`` returns ``kernel(problem.A, problem.y, problem.s, **kw)`` where
    ``kw`` holds, for each name of ``parameters`` (the entry's grid) its first value and for each
    of ``defaults`` its value, replaced by ``params`` (the variant's); with ``oracle`` also
    ``weights=problem.oracle_weights()`` (1 on the instance's hidden set, or None: the plain
    solver). A name that is neither a parameter nor a default raises TypeError, as an unexpected
    keyword would (the pipeline's config check reports it).
    """
    base = {k: v[0] for k, v in (parameters or {}).items()}
    base.update(defaults)

    def solve(problem, **params):
        """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
        unknown = sorted(set(params) - set(base))
        if unknown:
            raise TypeError(f"solve ({kernel.__name__}) got unexpected parameter(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(base) or 'none'}")
        kw = {**base, **params}
        if oracle:
            kw["weights"] = problem.oracle_weights()
        return kernel(problem.A, problem.y, problem.s, **kw)

    return solve


def per_matrix(problem, solve_one: Callable, *, to_numpy: bool = True):
    """Run a peer's solver ``solve_one(A, Y) -> X`` (``A`` ``(m, N)``, ``Y`` ``(b, m)``, ``X``
    ``(b, N)``) once for a shared A (``b = B``) or once per problem (``b = 1``), and return x
    ``(B, N)`` as a tensor in the problem's dtype and device. With ``to_numpy`` A and Y are handed
    over as float64 numpy arrays (what numpy-based packages take), else as tensors."""
    import numpy as np
    import torch

    A, Y = problem.A, problem.y
    if to_numpy:
        A, Y = A.detach().cpu().numpy().astype(np.float64), Y.detach().cpu().numpy().astype(np.float64)
    pairs = [(A, Y)] if A.ndim == 2 else [(A[b], Y[b:b + 1]) for b in range(problem.B)]
    parts = [torch.as_tensor(np.asarray(solve_one(a, y)) if to_numpy else solve_one(a, y)).reshape(y.shape[0], -1)
             for a, y in pairs]
    return torch.cat(parts).to(dtype=problem.y.dtype, device=problem.y.device)
