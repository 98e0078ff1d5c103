"""Bounds of reference 3.4 (Theorem 1: Soft-OMP vs OMP, Theorem 2: Soft-IHT vs IHT) hold.

Setup of reference 3.5: Gaussian 200 x 400 with unit-norm columns, s = 15, sigma = 1e-3, 12
instances (half with random positive weights), tau = 10^-8 .. 10^-1.5 in half decades, OMP
n = 1..15 and IHT n = 1..30 with step 0.6: 2,520 + 5,040 (problem, tau, iteration) checks per
version, bound >= measured - 1e-12 (round-off slack: the soft iterates differ from the hard ones
by ~1e-16 relative even where exp(-gap / tau) underflows).
"""

import pytest
import torch

from greedybench.functional.bounds import iht_bound, omp_bound, soft_error_bound

SLACK = 1e-12
TAUS = [10 ** (-8 + 0.5 * i) for i in range(14)]




@pytest.fixture(scope="module")
def setup35():
    g = torch.Generator().manual_seed(2025)
    B, m, N, s, sigma = 12, 200, 400, 15, 1e-3
    A = torch.randn(B, m, N, generator=g, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=1, keepdim=True)
    X = torch.zeros(B, N, dtype=torch.float64)
    for b in range(B):
        X[b, torch.randperm(N, generator=g)[:s]] = torch.randn(s, generator=g, dtype=torch.float64)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    y = (A @ X.unsqueeze(-1)).squeeze(-1) + sigma * torch.randn(B, m, generator=g, dtype=torch.float64) / m ** 0.5
    w = torch.ones(B, N, dtype=torch.float64)
    w[B // 2:] = 0.5 + torch.rand(B - B // 2, N, generator=g, dtype=torch.float64)
    return A, y, w, s


def _check(res, n_iter):
    assert res.bound.shape == res.measured.shape == (12, len(TAUS), n_iter)
    assert not bool(torch.isnan(res.bound).any())
    violations = int((res.measured > res.bound + SLACK).sum())
    finite = torch.isfinite(res.bound)
    return violations, int(finite.sum())


@pytest.mark.parametrize("refined", [True, False])
def test_omp_bound_holds(setup35, refined):
    A, y, w, _ = setup35
    res = omp_bound(A, y, 15, TAUS, weights=w, refined=refined)
    violations, finite = _check(res, 15)
    assert res.bound.numel() == 2520
    assert violations == 0
    assert finite > 1500                       # finite up to tau ~ min gap / log N
    assert bool(torch.isfinite(res.bound[:, 0]).all())      # tau = 1e-8: finite everywhere
    # above the round-off floor the tightness ratio bound / measured is >= 1
    ok = torch.isfinite(res.ratio) & (res.measured > 1e-10)
    assert bool(ok.any()) and float(res.ratio[ok].min()) >= 1.0


@pytest.mark.parametrize("refined", [True, False])
def test_iht_bound_holds(setup35, refined):
    A, y, w, s = setup35
    res = iht_bound(A, y, s, TAUS, step=0.6, n_iter=30, weights=w, refined=refined)
    violations, finite = _check(res, 30)
    assert res.bound.numel() == 5040
    assert violations == 0
    assert finite > 1500
    assert bool(torch.isfinite(res.bound[:, 0]).all())
    lam = res.lam[:, 1:]
    assert float(lam.max()) < 1.0 < float(res.L.min())      # restricted contraction, L >= 1


def test_refined_iht_bound_does_not_grow_geometrically(setup35):
    # m < N gives L > 1, so the simple chain grows like L^n; the refined one uses lambda_k < 1
    A, y, w, s = setup35
    r = iht_bound(A, y, s, TAUS[:4], step=0.6, n_iter=30, weights=w, refined=True).bound[..., -1]
    p = iht_bound(A, y, s, TAUS[:4], step=0.6, n_iter=30, weights=w, refined=False).bound[..., -1]
    both = torch.isfinite(r) & torch.isfinite(p) & (p > 0)
    assert bool(both.any()) and float((r[both] / p[both]).median()) < 1e-3


def test_scalar_tau_shapes_and_pipeline_entry(setup35):
    A, y, w, s = setup35
    A, y = A[:3], y[:3]
    o = omp_bound(A, y, 5, 1e-8)
    assert o.bound.shape == (3, 5) and o.delta.shape == (3, 5) and o.norm_A.shape == (3,)
    assert bool(torch.isfinite(o.bound).all()) and bool((o.measured <= o.bound + SLACK).all())
    i = iht_bound(A[0], y, s, 1e-8, step=0.6, n_iter=5)           # shared A
    assert i.bound.shape == (3, 5) and bool(torch.isfinite(i.bound).all())
    assert soft_error_bound("soft_omp", A, y, s=s, tau=1e-8).shape == (3,)
    assert soft_error_bound("soft_iht", A, y, s=s, tau=1e-8, n_iter=10).shape == (3,)
