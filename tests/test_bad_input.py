"""Bad input, tried all together: every case of docs/reliability.md, with what it gets.

Each case is data: an id, a description (the docs table row), a call, and either the error class
and message fragment it must raise, or a check of the defined result it must return.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import greedybench as gb
from greedybench._validation import (
    DTypeError,
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


def _problem(B=4, m=16, N=32, s=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=dtype)
    A = A / A.norm(dim=0)
    X = torch.zeros(B, N, dtype=dtype)
    for b in range(B):
        idx = torch.randperm(N, generator=g)[:s]
        X[b, idx] = torch.randn(s, generator=g, dtype=dtype)
    return A, X @ A.T, X


A, Y, X = _problem()
S = 3
HARD = {
    "omp": lambda A, y, **kw: gb.omp(A, y, S, **kw),
    "iht": lambda A, y, **kw: gb.iht(A, y, S, step=0.5, n_iter=20, **kw),
    "niht": lambda A, y, **kw: gb.niht(A, y, S, n_iter=20, **kw),
    "htp": lambda A, y, **kw: gb.htp(A, y, S, n_iter=10, **kw),
    "cosamp": lambda A, y, **kw: gb.cosamp(A, y, S, n_iter=10, **kw),
    "subspace_pursuit": lambda A, y, **kw: gb.subspace_pursuit(A, y, S, n_iter=10, **kw),
    "soft_omp": lambda A, y, **kw: gb.soft_omp(A, y, S, tau=1e-3, **kw),
    "soft_iht": lambda A, y, **kw: gb.soft_iht(A, y, S, tau=1e-3, step=0.5, n_iter=20, **kw),
}

# (id, description, call, expected exception, message fragment)
ERROR_CASES = [
    ("A-1d", "A with one dimension", lambda: gb.omp(A[0], Y, S), ShapeError, "A must be of shape"),
    ("y-wrong-m", "y with the wrong number of measurements", lambda: gb.omp(A, Y[:, :-1], S), ShapeError, "m = A.shape"),
    ("y-1d", "a single y without a batch axis", lambda: gb.omp(A, Y[0], S), ShapeError, r"y\[None\]"),
    ("A-batch-mismatch", "per-problem A whose batch differs from y's", lambda: gb.omp(A.expand(3, -1, -1), Y, S), ShapeError, "B = y.shape"),
    ("precision-mismatch", "A float64 with y float32", lambda: gb.omp(A, Y.float(), S), DTypeError, "same precision"),
    ("complex-y-real-A", "complex y with a real A", lambda: gb.omp(A, Y.to(torch.complex128), S), DTypeError, "y is complex"),
    ("int-dtype", "integer A", lambda: gb.omp(A.long(), Y, S), DTypeError, "A.dtype"),
    ("not-a-tensor", "y given as a list", lambda: gb.omp(A, Y.tolist(), S), InvalidParameterError, "torch.Tensor"),
    ("weights-length", "weights of the wrong length", lambda: gb.omp(A, Y, S, weights=torch.ones(5)), ShapeError, "weights"),
    ("weights-complex", "complex weights", lambda: gb.omp(A, Y, S, weights=torch.ones(32, dtype=torch.complex128)), DTypeError, "weights"),
    ("nan-A", "NaN in A", lambda: gb.omp(A.clone().index_put_((torch.tensor(0), torch.tensor(0)), torch.tensor(math.nan, dtype=A.dtype)), Y, S), NonFiniteError, "A contains non-finite"),
    ("inf-y", "Inf in y", lambda: gb.iht(A, Y.clone().fill_(math.inf), S, step=0.5, n_iter=3), NonFiniteError, "y contains non-finite"),
    ("nan-weights", "NaN in weights", lambda: gb.omp(A, Y, S, weights=torch.full((32,), math.nan)), NonFiniteError, "weights contains non-finite"),
    ("s-zero", "s = 0", lambda: gb.iht(A, Y, 0, step=0.5, n_iter=3), InvalidParameterError, "s must be"),
    ("s-negative", "s < 0", lambda: gb.htp(A, Y, -2, n_iter=3), InvalidParameterError, "s must be"),
    ("s-above-m", "s > m", lambda: gb.cosamp(A, Y, 17, n_iter=3), InvalidParameterError, "s must be"),
    ("n_iter-zero", "n_iter = 0", lambda: gb.omp(A, Y, 0), InvalidParameterError, "n_iter must be"),
    ("n_iter-above-m", "OMP with n_iter > m", lambda: gb.omp(A, Y, 17), InvalidParameterError, "n_iter must be"),
    ("n_iter-bool", "n_iter = True", lambda: gb.omp(A, Y, True), InvalidParameterError, "n_iter must be an integer"),
    ("n_iter-float", "n_iter = 3.0", lambda: gb.iht(A, Y, S, step=0.5, n_iter=3.0), InvalidParameterError, "n_iter must be an integer"),
    ("tau-zero", "tau = 0", lambda: gb.soft_omp(A, Y, S, tau=0.0), InvalidParameterError, "tau must be"),
    ("tau-negative", "tau < 0", lambda: gb.soft_iht(A, Y, S, tau=-1.0, step=0.5, n_iter=3), InvalidParameterError, "tau must be"),
    ("tau-nan", "tau = NaN", lambda: gb.softsort(Y.abs(), math.nan, 2), InvalidParameterError, "tau must be"),
    ("tau-inf", "tau = Inf", lambda: gb.soft_omp(A, Y, S, tau=math.inf), InvalidParameterError, "tau must be"),
    ("step-zero", "IHT step = 0", lambda: gb.iht(A, Y, S, step=0.0, n_iter=3), InvalidParameterError, "step must be"),
    ("step-nan", "IHT step = NaN", lambda: gb.iht(A, Y, S, step=math.nan, n_iter=3), InvalidParameterError, "step must be"),
    ("softsort-k", "softsort with k > N", lambda: gb.softsort(Y.abs(), 1e-3, 17), InvalidParameterError, "k must be"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_input_raises_clear_error(case):
    _, _, call, exc, match = case
    with pytest.raises(exc, match=match):
        call()


# ---- inputs with a defined, documented result (not an error) -----------------------------------

@pytest.mark.parametrize("name", sorted(HARD))
def test_empty_batch_gives_empty_result(name):
    x = HARD[name](A, Y[:0])
    assert x.shape == (0, A.shape[1])


@pytest.mark.parametrize("name", sorted(HARD))
def test_zero_measurements_give_zero_solution(name):
    x = HARD[name](A, torch.zeros_like(Y))
    assert torch.isfinite(x).all() and x.abs().max() == 0


@pytest.mark.parametrize("name", sorted(HARD))
def test_zero_column_is_finite_and_unused(name):
    A0 = A.clone()
    A0[:, 5] = 0
    x = HARD[name](A0, Y)
    assert torch.isfinite(x).all()
    if not name.startswith("soft"):
        assert (x[:, 5] == 0).all()


@pytest.mark.parametrize("name", sorted(HARD))
def test_duplicated_column_is_finite(name):
    A2 = A.clone()
    A2[:, 7] = A2[:, 6]
    x = HARD[name](A2, Y)
    assert torch.isfinite(x).all()
    if name == "omp":  # OMP never selects both copies: the second has zero correlation after projection
        assert ((x[:, 6] != 0) & (x[:, 7] != 0)).sum() == 0


@pytest.mark.parametrize("scale", [1e-150, 1e150])
@pytest.mark.parametrize("name", ["omp", "iht", "niht", "htp", "cosamp", "subspace_pursuit"])
def test_extreme_scales_are_equivariant(name, scale):
    """Hard solvers are positively homogeneous in y: x(c y) = c x(y), even at 1e+-150."""
    x = HARD[name](A, Y)
    xs = HARD[name](A, Y * scale)
    assert torch.isfinite(xs).all()
    torch.testing.assert_close(xs / scale, x, rtol=1e-9, atol=1e-12 * float(x.abs().max()))


def test_docs_table_lists_every_case():
    text = DOC.read_text()
    missing = [c[0] for c in ERROR_CASES if f"`{c[0]}`" not in text]
    assert not missing, f"docs/reliability.md lacks rows for {missing}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.complex128])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_all_finite_finds_one_bad_entry_anywhere(dtype, bad):
    """The finiteness check reads two extremes instead of a mask: one NaN or Inf in any position,
    either part of a complex entry, a strided view or a lazy conjugate must still be caught."""
    from greedybench._validation import all_finite

    x = torch.ones(6, 9, dtype=dtype)
    assert all_finite(x) and all_finite(x[:, ::2]) and all_finite(torch.empty(0, 3, dtype=dtype))
    for i, j in [(0, 0), (5, 8), (2, 3)]:
        parts = [bad, 0.0] if dtype.is_complex else [bad]
        for k in range(len(parts)):
            y = x.clone()
            y[i, j] = complex(*parts[k:] + parts[:k]) if dtype.is_complex else bad
            assert not all_finite(y) and not all_finite(y.mT)
            if dtype.is_complex:
                assert not all_finite(y.conj())
