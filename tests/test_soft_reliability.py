"""Reliability of the soft kernels and IHT (issue 18, round 2): each test failed before its fix.

Rows of docs/reliability.md: return_path type-checked; weights that require grad in ``iht``;
subnormal and out-of-range data in ``soft_omp``; temperatures at the bottom of float32's range;
softsort's dtypes; diverging fixed steps.
"""

from __future__ import annotations

import pytest
import torch

import greedybench as gb
from greedybench._validation import DTypeError, InvalidParameterError, NonFiniteError

F64 = torch.float64


def _problem(B=4, m=20, N=40, s=3, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=F64)
    A = A / A.norm(dim=0)
    X = torch.zeros(B, N, dtype=F64)
    for b in range(B):
        X[b, torch.randperm(N, generator=g)[:s]] = torch.randn(s, generator=g, dtype=F64)
    return A.to(dtype), (X @ A.T).to(dtype)


S = 3
SOLVERS = {
    "iht": lambda A, y, **k: gb.iht(A, y, S, step=0.5, n_iter=6, **k),
    "niht": lambda A, y, **k: gb.niht(A, y, S, n_iter=6, **k),
    "soft_omp": lambda A, y, **k: gb.soft_omp(A, y, 6, tau=1e-2, **k),
    "soft_iht": lambda A, y, **k: gb.soft_iht(A, y, S, tau=1e-2, step=0.5, n_iter=6, **k),
    "soft_htp": lambda A, y, **k: gb.soft_htp(A, y, S, tau=1e-2, n_iter=6, **k),
    "soft_cosamp": lambda A, y, **k: gb.soft_cosamp(A, y, S, tau=1e-2, n_iter=6, **k),
}


@pytest.mark.parametrize("bad", ["no", 1, None, torch.tensor(True)])
@pytest.mark.parametrize("name", list(SOLVERS))
def test_return_path_must_be_a_bool(name, bad):
    A, y = _problem()
    with pytest.raises(InvalidParameterError, match=f"{name}: return_path must be a bool"):
        SOLVERS[name](A, y, return_path=bad)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_return_path_returns_the_path_only(name):
    """Every solver: return_path=True gives one tensor (B, n_iter + 1, N), iterate 0 = 0, whose
    last iterate is the plain result."""
    A, y = _problem()
    path = SOLVERS[name](A, y, return_path=True)
    assert isinstance(path, torch.Tensor) and path.shape == (y.shape[0], 7, A.shape[1])
    assert torch.equal(path[:, 0], torch.zeros_like(path[:, 0]))
    torch.testing.assert_close(path[:, -1], SOLVERS[name](A, y), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["iht", "niht"])
@pytest.mark.parametrize("shape", ["shared", "per_problem"])
def test_hard_thresholding_accepts_weights_that_require_grad(name, shape):
    """iht raised 'abs(): functions with out=...' (its selection buffer picked up the graph);
    the selection is piecewise constant in the weights, so the result equals the run with plain
    weights and carries no graph to them."""
    A, y = _problem()
    g = torch.Generator().manual_seed(1)
    w = 0.5 + torch.rand((A.shape[1],) if shape == "shared" else (y.shape[0], A.shape[1]),
                         generator=g, dtype=F64)
    x_plain = SOLVERS[name](A, y, weights=w)
    x = SOLVERS[name](A, y, weights=w.clone().requires_grad_(True))
    assert torch.equal(x, x_plain)
    assert not x.requires_grad


def _uniform_limit(A, y):
    """Soft-OMP as tau -> inf: every row 1/N, x = (1/N) 1 * (b^T y / ||b||^2), b = A 1 / N."""
    N = A.shape[1]
    b = A.sum(-1) / N
    return ((y @ b) / (b @ b)).unsqueeze(-1) * torch.full((N,), 1.0 / N, dtype=A.dtype)


@pytest.mark.parametrize("dtype, e", [(F64, 1040), (F64, 1070), (torch.float32, 135)])
def test_soft_omp_on_subnormal_data_is_the_defined_limit(dtype, e):
    """A and y scaled by 2^-e (subnormal): soft_omp gave NaN (squared norms underflowed, the
    pseudo-inverse overflowed). The problem is now solved exactly rescaled: its statistic
    |A^H r| ~ 2^-2e is far below any admissible tau, so the rows are uniform and x is the
    tau -> inf limit of the unscaled problem (x itself is scale-invariant; the reference is
    computed on the subnormal data scaled back, which is exact: the scaling itself rounded)."""
    A, y = _problem(dtype=dtype)
    c = 2.0 ** -e
    As, ys = A * c, y * c
    assert bool((As[As != 0].abs() < torch.finfo(dtype).tiny).all())
    x = gb.soft_omp(As, ys, 4, tau=1e-3)
    assert bool(torch.isfinite(x).all())
    tol = dict(rtol=1e-8, atol=1e-12) if dtype == F64 else dict(rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(x, _uniform_limit(As / c, ys / c), **tol)


@pytest.mark.parametrize("name", ["soft_omp", "soft_iht", "soft_htp"])
@pytest.mark.parametrize("ea, ey", [(-450, -450), (300, 0), (0, 600), (-40, 900)])
def test_soft_solvers_are_exactly_scale_equivariant_outside_the_safe_range(name, ea, ey):
    """x(2^ea A, 2^ey y) with tau and step rescaled to match is 2^(ey - ea) x(A, y): the
    out-of-range data is solved exactly rescaled by powers of two."""
    A, y = _problem()
    a, b = 2.0 ** ea, 2.0 ** ey
    if name == "soft_omp":
        x0 = gb.soft_omp(A, y, 5, tau=1e-2)
        x = gb.soft_omp(A * a, y * b, 5, tau=1e-2 * a * b)
    elif name == "soft_iht":
        x0 = gb.soft_iht(A, y, S, tau=1e-2, step=0.5, n_iter=8)
        x = gb.soft_iht(A * a, y * b, S, tau=1e-2 * b / a, step=0.5 / a**2, n_iter=8)
    else:
        x0 = gb.soft_htp(A, y, S, tau=1e-2, step=0.5, n_iter=4)
        x = gb.soft_htp(A * a, y * b, S, tau=1e-2 * b / a, step=0.5 / a**2, n_iter=4)
    torch.testing.assert_close(x * (a / b), x0, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("tau", [1.1e-38, 2.8e-39, 1e-45, 1e-50])
@pytest.mark.parametrize("name", ["soft_omp", "soft_iht", "soft_htp", "soft_cosamp", "softsort"])
def test_float32_tau_below_the_smallest_normal_is_refused(name, tau):
    """float32 soft_omp / soft_iht returned NaN or raised a raw RuntimeError ('value cannot be
    converted to type float without overflow') for tau below ~2.9e-39; now a clear error naming
    tau and the dtype's limit."""
    A, y = _problem(dtype=torch.float32)
    call = {
        "soft_omp": lambda: gb.soft_omp(A, y, 4, tau=tau),
        "soft_iht": lambda: gb.soft_iht(A, y, S, tau=tau, step=0.5, n_iter=5),
        "soft_htp": lambda: gb.soft_htp(A, y, S, tau=tau, n_iter=3),
        "soft_cosamp": lambda: gb.soft_cosamp(A, y, S, tau=tau, n_iter=3),
        "softsort": lambda: gb.softsort(y.abs(), tau, 2),
    }[name]
    with pytest.raises(InvalidParameterError, match=r"tau must be >= 1\.18e-38 .*float32.*got"):
        call()


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_float32_tiny_tau_gives_the_hard_algorithm(scale):
    """At the smallest admissible float32 temperatures (and statistics up to ~1e3, whose
    v / tau overflows float32) the logits are differences divided by tau: finite, and the
    iterates are those of OMP / IHT exactly (NaN before)."""
    A, y = _problem(dtype=torch.float32)
    y = y * scale
    for tau in (1.2e-38, 1e-30):
        x = gb.soft_omp(A, y, 4, tau=tau)
        assert bool(torch.isfinite(x).all())
        torch.testing.assert_close(x, gb.omp(A, y, 4), rtol=1e-4, atol=1e-5 * scale)
        x = gb.soft_iht(A, y, S, tau=tau, step=0.5, n_iter=10)
        assert bool(torch.isfinite(x).all())
        torch.testing.assert_close(x, gb.iht(A, y, S, step=0.5, n_iter=10), rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.complex64, torch.int64])
def test_softsort_refuses_the_dtypes_the_solvers_refuse(dtype):
    """softsort accepted float16 / bfloat16 while every solver refuses them: now the same
    DTypeError (float32 and float64 only, as the real solvers)."""
    v = torch.rand(2, 6).to(dtype)
    with pytest.raises(DTypeError, match=r"softsort: v\.dtype must be float32 or float64"):
        gb.softsort(v, 0.1, 2)
    A, y = _problem()
    if not dtype.is_complex:
        with pytest.raises(DTypeError):
            gb.soft_omp(A.to(dtype), y.to(dtype), 3, tau=0.1)


@pytest.mark.parametrize("name", ["iht", "soft_iht"])
def test_diverging_step_raises_a_clear_error(name):
    """iht with step 3 (far above 1 / ||A||_2^2 ~ 0.19 here) overflowed to NaN and the public API
    returned it; now NonFiniteError naming the step and the operator-norm bound."""
    A, y = _problem()
    f = (lambda: gb.iht(A, y, S, step=3.0, n_iter=1000)) if name == "iht" else \
        (lambda: gb.soft_iht(A, y, S, tau=1e-3, step=3.0, n_iter=1000))
    msg = rf"{name}: the iterates diverged .*step = 3\b.*1 / \|\|A\|\|_2\^2 = 0\.19"
    with pytest.raises(NonFiniteError, match=msg):
        f()
    # a converging step is unaffected
    assert bool(torch.isfinite(SOLVERS[name](A, y)).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softsort_logits_never_overflow(dtype):
    """softsort's first row was softmax(v / tau) with v / tau formed first: v ~ 1e30 at tau = 1e-9
    overflowed float32 (Inf - Inf = NaN). The logits are now (v - max v) / tau: finite rows,
    one-hot where the gaps are >> tau, ties shared, and the Soft-IHT mask likewise."""
    from greedybench.functional.softsort import _soft_topk_mask

    big = torch.finfo(dtype).max / 4
    v = torch.tensor([[1.0, 0.5, 0.25, 0.0], [1.0, 1.0, 0.0, 0.5]], dtype=dtype) * big
    P = gb.softsort(v, 1e-9, 1)
    assert torch.equal(P[:, 0], torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]], dtype=dtype))
    P2 = gb.softsort(v, 1e-9, 2)
    assert bool(torch.isfinite(P2).all())
    q = _soft_topk_mask(v[:1], 1e-9, 2)
    assert torch.equal(q, torch.tensor([[1.0, 1.0, 0, 0]], dtype=dtype))
