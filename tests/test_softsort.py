"""SoftSort top-k rows (greedybench.softsort) and the fused soft top-k mask used by Soft-IHT."""

import math

import pytest
import torch

import greedybench as gb
from greedybench.functional.softsort import _soft_topk_mask

TAUS = [1e-12, 1e-8, 1e-3, 0.1, 1.0, 1e3]




def _naive(v, tau, k):
    """All N rows of the SoftSort matrix from the definition, then the first k."""
    vs = torch.sort(v, dim=-1, descending=True).values
    logits = -(vs.unsqueeze(-1) - v.unsqueeze(-2)).abs() / tau
    return torch.softmax(logits, dim=-1)[:, :k]


def _scores(B=4, N=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, N, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("tau", TAUS)
def test_first_row_is_softmax(tau):
    v = _scores()
    P = gb.softsort(v, tau, 1)
    assert P.shape == (4, 1, 50)
    torch.testing.assert_close(P[:, 0], torch.softmax(v / tau, dim=-1), rtol=1e-12, atol=1e-14)
    # and row 1 of a k-row call is the same row
    torch.testing.assert_close(gb.softsort(v, tau, 5)[:, 0], P[:, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("k", [2, 7, 50])
def test_rows_match_definition_and_are_stochastic(tau, k):
    v = _scores()
    P = gb.softsort(v, tau, k)
    assert P.shape == (4, k, 50)
    assert bool((P >= 0).all()) and bool(torch.isfinite(P).all())
    torch.testing.assert_close(P.sum(-1), torch.ones(4, k, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(P, _naive(v, tau, k), rtol=1e-10, atol=1e-14)


def test_tiny_tau_gives_exact_permutation_rows():
    v = _scores()
    P = gb.softsort(v, 1e-10, 6)
    order = torch.argsort(v, dim=-1, descending=True)[:, :6]
    expected = torch.zeros_like(P).scatter_(-1, order.unsqueeze(-1), 1.0)
    assert torch.equal(P, expected)


def test_ties_get_equal_mass():
    v = torch.tensor([[0.5, 0.9, 0.5, 0.1]], dtype=torch.float64)
    P = gb.softsort(v, 1e-9, 3)
    torch.testing.assert_close(P[0, 1, [0, 2]], torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_stable_for_extreme_inputs():
    v = torch.tensor([[1e6, -1e6, 0.0, 3.0, 3.0 + 1e-9]], dtype=torch.float64)
    for tau in (1e-12, 1e-6, 1.0, 1e3):
        P = gb.softsort(v, tau, 5)
        assert bool(torch.isfinite(P).all())
        torch.testing.assert_close(P.sum(-1), torch.ones(1, 5, dtype=torch.float64))
    v32 = _scores().float()
    assert bool(torch.isfinite(gb.softsort(v32, 1e-12, 3)).all())


def test_k1_memory_large_N():
    # B = 64, N = 2^16: only (B, 1, N) is formed (an N x N matrix would need 2 TB)
    v = torch.rand(64, 2**16, dtype=torch.float32)
    P = gb.softsort(v, 1e-3, 1)
    assert P.shape == (64, 1, 2**16)
    torch.testing.assert_close(P.sum(-1), torch.ones(64, 1))


def test_gradients_wrt_scores_and_tau():
    v = _scores(B=2, N=8).requires_grad_(True)
    tau = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, t: gb.softsort(v, t, 3), (v, tau))
    out = (gb.softsort(v, tau, 3) * torch.arange(8.0, dtype=torch.float64)).sum()
    gv, gt = torch.autograd.grad(out, (v, tau))
    assert bool(torch.isfinite(gv).all()) and gv.abs().sum() > 0 and gt.abs() > 0


@pytest.mark.parametrize("tau", [1e-10, 1e-3, 0.3, 1e3])
@pytest.mark.parametrize("k", [1, 4, 15])
def test_fused_mask_equals_column_sums(tau, k):
    v = _scores(B=5, N=40, seed=1)
    v[0, :3] = v[0, 5]                                  # ties across the top-k boundary
    q = _soft_topk_mask(v, tau, k)
    torch.testing.assert_close(q, _naive(v, tau, k).sum(-2), rtol=1e-10, atol=1e-13)


def test_fused_mask_gradient_matches_definition():
    v = _scores(B=2, N=9, seed=2).requires_grad_(True)
    w = torch.randn(2, 9, dtype=torch.float64)
    g1, = torch.autograd.grad((_soft_topk_mask(v, 0.1, 3) * w).sum(), v)
    g2, = torch.autograd.grad((_naive(v, 0.1, 3).sum(-2) * w).sum(), v)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("bad, exc", [
    (dict(v=torch.rand(5)), gb.GreedybenchError),
    (dict(v=torch.rand(2, 5, dtype=torch.complex64)), gb.GreedybenchError),
    (dict(v=torch.tensor([[1.0, math.nan]])), gb.NonFiniteError),
    (dict(k=0), gb.InvalidParameterError),
    (dict(k=6), gb.InvalidParameterError),
    (dict(tau=0.0), gb.InvalidParameterError),
    (dict(tau=-1.0), gb.InvalidParameterError),
    (dict(tau=math.inf), gb.InvalidParameterError),
    (dict(tau="a"), gb.InvalidParameterError),
])
def test_validation(bad, exc):
    args = dict(v=torch.rand(2, 5), tau=0.1, k=2)
    args.update(bad)
    with pytest.raises(exc):
        gb.softsort(args["v"], args["tau"], args["k"])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_unnormalised_softmax_into_strided_rows_is_the_softmax_times_its_sum(dtype):
    from greedybench.functional.softsort import _softmax_stable, _softmax_unnormalised_

    g = torch.Generator().manual_seed(3)
    v = torch.rand(7, 50, generator=g, dtype=torch.float64).to(dtype) * 2000   # logits up to 2000
    v[0] = 0.5                                                                   # a tied row
    rows = torch.full((7, 4, 50), float("nan"), dtype=dtype)
    x = v.clone()
    out = _softmax_unnormalised_(x, rows[:, 2, :])
    e = rows[:, 2, :]
    # x keeps the rows with exp(-cut) where they were cut (Soft-OMP's GEMM reads x)
    floor = x[e == 0]
    assert floor.numel() and torch.equal(floor, torch.full_like(floor, floor[0])) and 0 < floor[0] < 1e-30
    assert torch.equal(x[e != 0], e[e != 0])
    assert out.data_ptr() == e.data_ptr()
    assert torch.isnan(rows[:, 1]).all() and torch.isnan(rows[:, 3]).all()     # neighbours untouched
    assert (e.amax(-1) == 1).all() and (e >= 0).all()
    ref = _softmax_stable(v)
    rtol = 1e-13 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(e / e.sum(-1, keepdim=True), ref, rtol=rtol, atol=0)
    assert torch.equal(e == 0, ref == 0)                                         # the same exact zeros
    assert (e[1:] == 0).sum() > 0                                                # and some were cut


@pytest.mark.parametrize("N,k", [(400, 15), (50, 3), (64, 64), (1000, 1)])
def test_top_s_selector_is_a_top_k_set(N, k):
    """The soft kernels take their top-k index sets from the hard solvers' selector."""
    from greedybench.functional._select import top_s_warm

    g = torch.Generator().manual_seed(N + k)
    v = torch.rand(30, N, generator=g, dtype=torch.float64)
    v[:5, :] = v[:5, :1]                                                         # all tied rows
    idx = top_s_warm(v, k, None)
    got = v.gather(1, idx).sort(1).values
    ref = torch.topk(v, k).values.sort(1).values
    assert torch.equal(got, ref)
    assert bool((idx.sort(1).values.diff(dim=1) > 0).all())                     # distinct indices
    # warm start: unchanged scores reuse the previous set
    assert torch.equal(top_s_warm(v, k, idx), idx)
