"""Property-based tests (hypothesis) of the solvers' invariants over random shapes, dtypes, seeds."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greedybench as gb

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = [torch.float64, torch.float32, torch.complex128]


@st.composite
def problems(draw, dtypes=DTYPES):
    m = draw(st.integers(4, 24))
    N = draw(st.integers(m, 48))
    s = draw(st.integers(1, max(1, m // 3)))
    B = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(dtypes))
    shared = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    shape = (m, N) if shared else (B, m, N)
    A = torch.randn(*shape, generator=g, dtype=torch.float64)
    if dtype.is_complex:
        A = torch.complex(A, torch.randn(*shape, generator=g, dtype=torch.float64))
    A = (A / A.norm(dim=-2, keepdim=True)).to(dtype)
    X = torch.zeros(B, N, dtype=torch.float64)
    for b in range(B):
        X[b, torch.randperm(N, generator=g)[:s]] = torch.randn(s, generator=g, dtype=torch.float64)
    X = X.to(dtype)
    Y = X @ A.mT if A.dim() == 2 else (A @ X.unsqueeze(-1)).squeeze(-1)
    return A, Y, s


def _solvers(s):
    return {
        "omp": lambda A, y: gb.omp(A, y, s),
        "iht": lambda A, y: gb.iht(A, y, s, step=0.5, n_iter=15),
        "niht": lambda A, y: gb.niht(A, y, s, n_iter=15),
        "htp": lambda A, y: gb.htp(A, y, s, n_iter=8),
        "cosamp": lambda A, y: gb.cosamp(A, y, s, n_iter=8),
        "subspace_pursuit": lambda A, y: gb.subspace_pursuit(A, y, s, n_iter=8),
        "soft_omp": lambda A, y: gb.soft_omp(A, y, s, tau=1e-2),
        "soft_iht": lambda A, y: gb.soft_iht(A, y, s, tau=1e-2, step=0.5, n_iter=15),
    }


@SETTINGS
@given(problems(), st.sampled_from(sorted(_solvers(1))))
def test_shape_dtype_and_finite(problem, name):
    A, Y, s = problem
    x = _solvers(s)[name](A, Y)
    assert x.shape == (Y.shape[0], A.shape[-1])
    assert x.dtype == A.dtype
    assert torch.isfinite(x).all()


@SETTINGS
@given(problems(dtypes=[torch.float64, torch.complex128]), st.sampled_from(sorted(_solvers(1))))
def test_batched_equals_per_problem(problem, name):
    A, Y, s = problem
    solve = _solvers(s)[name]
    x = solve(A, Y)
    for b in range(Y.shape[0]):
        Ab = A if A.dim() == 2 else A[b]
        xb = solve(Ab, Y[b:b + 1])
        torch.testing.assert_close(x[b:b + 1], xb, rtol=1e-8, atol=1e-10)


@SETTINGS
@given(problems(dtypes=[torch.float64, torch.complex128]))
def test_omp_residual_orthogonal_to_support(problem):
    A, Y, s = problem
    x = gb.omp(A, Y, s)
    r = Y - (x @ A.mT if A.dim() == 2 else (A @ x.unsqueeze(-1)).squeeze(-1))
    corr = (r @ A.conj()) if A.dim() == 2 else (A.mH @ r.unsqueeze(-1)).squeeze(-1)
    on_support = torch.where(x != 0, corr.abs(), torch.zeros_like(corr.abs()))
    assert float(on_support.max()) <= 1e-9 * max(1.0, float(Y.abs().max()))


@SETTINGS
@given(problems(dtypes=[torch.float64]))
def test_soft_equals_hard_as_tau_goes_to_zero(problem):
    A, Y, s = problem
    torch.testing.assert_close(gb.soft_omp(A, Y, s, tau=1e-12), gb.omp(A, Y, s), rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(gb.soft_iht(A, Y, s, tau=1e-12, step=0.5, n_iter=10),
                               gb.iht(A, Y, s, step=0.5, n_iter=10), rtol=1e-8, atol=1e-9)
