"""Batched thresholding solvers: IHT, NIHT, HTP, CoSaMP, Subspace Pursuit (and their shared pieces).

Small problems only (the test machine is shared): the whole file runs in a few seconds.
"""

import functools

import numpy as np
import pytest
import torch

import greedybench as gb
from greedybench import DTypeError, InvalidParameterError, NonFiniteError, ShapeError
from greedybench.functional import _linalg, _select

SOLVERS = {
    "iht": lambda A, y, s, **kw: gb.iht(A, y, s, step=kw.pop("step", 0.65), n_iter=kw.pop("n_iter", 200), **kw),
    "niht": lambda A, y, s, **kw: gb.niht(A, y, s, n_iter=kw.pop("n_iter", 60), **kw),
    "htp": lambda A, y, s, **kw: gb.htp(A, y, s, n_iter=kw.pop("n_iter", 30), **kw),
    "cosamp": lambda A, y, s, **kw: gb.cosamp(A, y, s, n_iter=kw.pop("n_iter", 30), **kw),
    "subspace_pursuit": lambda A, y, s, **kw: gb.subspace_pursuit(A, y, s, n_iter=kw.pop("n_iter", 30), **kw),
}
NAMES = list(SOLVERS)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # small problems: threading only adds contention on a shared machine
    yield
    torch.set_num_threads(n)


def gaussian(B=6, m=128, N=256, s=8, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=torch.float64)
    A = A / A.norm(dim=0, keepdim=True)
    idx = torch.rand(B, N, generator=g).argsort(dim=1)[:, :s]
    X = torch.zeros(B, N, dtype=torch.float64).scatter(1, idx, torch.randn(B, s, generator=g, dtype=torch.float64))
    Y = X @ A.T
    return A.to(dtype), X.to(dtype), Y.to(dtype)


def partial_dft(B=4, m=64, N=128, s=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(N, generator=g)[:m].to(torch.float64)
    j = torch.arange(N, dtype=torch.float64)
    A = torch.exp(-2j * torch.pi * rows[:, None] * j[None, :] / N) / m ** 0.5
    idx = torch.rand(B, N, generator=g).argsort(dim=1)[:, :s]
    vals = torch.complex(torch.randn(B, s, generator=g, dtype=torch.float64),
                         torch.randn(B, s, generator=g, dtype=torch.float64))
    X = torch.zeros(B, N, dtype=torch.complex128).scatter(1, idx, vals)
    return A.to(torch.complex128), X, X @ A.T


@pytest.fixture(params=[False, True], ids=["columns", "gram"])
def ls_path(request, monkeypatch):
    """Run a test with SupportLS forced onto the gathered-columns or the Gram path."""
    monkeypatch.setitem(_select.SupportLS.__init__.__kwdefaults__, "use_gram", request.param)
    return request.param


def rel_err(x, X):
    return ((x - X).abs().norm(dim=1) / X.abs().norm(dim=1)).max().item()


# ---------------------------------------------------------------- plain numpy references

def _top(stat, s):
    return np.sort(np.argsort(-stat, kind="stable")[:s])


def _ls(A, y, S):
    z = np.zeros(A.shape[1], dtype=A.dtype)
    if len(S):
        z[S] = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
    return z


def per_problem(ref):
    """A reference written for one y (m,) applied to each row of Y (B, m): returns (B, N)."""

    @functools.wraps(ref)
    def batched(A, Y, *args, **kwargs):
        return np.array([ref(A, y, *args, **kwargs) for y in Y])

    return batched


@per_problem
def iht_ref(A, y, s, step, n_iter, w=None):
    w = np.ones(A.shape[1]) if w is None else np.abs(w)
    x = np.zeros(A.shape[1], dtype=A.dtype)
    for _ in range(n_iter):
        u = x + step * A.conj().T @ (y - A @ x)
        S = _top(np.abs(w * u), s)
        S = S[w[S] != 0]
        x = np.zeros_like(u)
        x[S] = u[S]
    return x


@per_problem
def niht_ref(A, y, s, n_iter, c=0.01, kappa=2.0, max_backtrack=10):
    x = np.zeros(A.shape[1], dtype=A.dtype)
    S = _top(np.abs(A.conj().T @ y), s)
    for _ in range(n_iter):
        g = A.conj().T @ (y - A @ x)
        gS = np.zeros_like(g)
        gS[S] = g[S]
        mu = np.linalg.norm(gS) ** 2 / np.linalg.norm(A @ gS) ** 2
        for k in range(max_backtrack + 1):
            u = x + mu * g
            S_new = _top(np.abs(u), s)
            x_new = np.zeros_like(u)
            x_new[S_new] = u[S_new]
            d = x_new - x
            omega = (1 - c) * np.linalg.norm(d) ** 2 / np.linalg.norm(A @ d) ** 2
            if np.array_equal(S_new, S) or mu <= omega or k == max_backtrack:
                break
            mu = mu / (kappa * (1 - c))
        x, S = x_new, S_new
    return x


@per_problem
def htp_ref(A, y, s, n_iter, step=1.0):
    x = np.zeros(A.shape[1], dtype=A.dtype)
    S_old = None
    for _ in range(n_iter):
        S = _top(np.abs(x + step * A.conj().T @ (y - A @ x)), s)
        if S_old is not None and np.array_equal(S, S_old):
            break
        x, S_old = _ls(A, y, S), S
    return x


@per_problem
def cosamp_ref(A, y, s, n_iter):
    x = np.zeros(A.shape[1], dtype=A.dtype)
    S_old = np.array([], dtype=int)
    for _ in range(n_iter):
        g = A.conj().T @ (y - A @ x)
        T = np.union1d(_top(np.abs(g), 2 * s), S_old)
        z = _ls(A, y, T)
        S = _top(np.abs(z), s)
        x = np.zeros_like(z)
        x[S] = z[S]
        if np.array_equal(S, S_old) or np.linalg.norm(y - A @ x) <= 1e-12 * np.linalg.norm(y):
            break
        S_old = S
    return x


@per_problem
def sp_ref(A, y, s, n_iter):
    x = np.zeros(A.shape[1], dtype=A.dtype)
    S = np.array([], dtype=int)
    rn = np.linalg.norm(y)
    for _ in range(n_iter):
        g = A.conj().T @ (y - A @ x)
        T = np.union1d(_top(np.abs(g), s), S)
        z = _ls(A, y, T)
        S_new = _top(np.abs(z), s)
        x_new = _ls(A, y, S_new)
        rn_new = np.linalg.norm(y - A @ x_new)
        if not rn_new < rn:
            break
        x, S, rn = x_new, S_new, rn_new
    return x


# ---------------------------------------------------------------- recovery

@pytest.mark.parametrize("name", NAMES)
def test_docstring_fragments_are_filled(name):
    doc = getattr(gb, name).__doc__
    assert "%(" not in doc
    for section in ("Parameters\n", "Returns\n", "weights : ", "return_path : bool", "n_iter : int"):
        assert section in doc, section
    assert doc.count("A : Tensor (m, N) or (B, m, N)") == 1


@pytest.mark.parametrize("name", NAMES)
def test_recovers_easy_gaussian(name):
    A, X, Y = gaussian()
    x = SOLVERS[name](A, Y, 8)
    assert x.shape == X.shape and x.dtype == X.dtype
    assert rel_err(x, X) < 1e-6


@pytest.mark.parametrize("name", ["niht", "htp", "cosamp", "subspace_pursuit"])
def test_recovers_complex_partial_dft(name, ls_path):
    A, X, Y = partial_dft()
    x = SOLVERS[name](A, Y, 4)
    assert x.dtype == torch.complex128
    assert rel_err(x, X) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_float32(name):
    A, X, Y = gaussian(dtype=torch.float32)
    x = SOLVERS[name](A, Y, 8)
    assert x.dtype == torch.float32
    assert rel_err(x.double(), X.double()) < 1e-4


# ---------------------------------------------------------------- agreement with numpy

def test_iht_matches_numpy_reference():
    A, X, Y = gaussian(B=4)
    W = np.random.default_rng(0).uniform(0.5, 1.5, 256)
    for w in (None, W):
        x = gb.iht(A, Y, 8, step=0.6, n_iter=40, weights=None if w is None else torch.tensor(w))
        ref = iht_ref(A.numpy(), Y.numpy(), 8, 0.6, 40, w)
        np.testing.assert_allclose(x.numpy(), ref, rtol=0, atol=1e-10)


def test_iht_matches_numpy_reference_complex():
    A, X, Y = partial_dft()
    x = gb.iht(A, Y, 4, step=0.5, n_iter=30)
    np.testing.assert_allclose(x.numpy(), iht_ref(A.numpy(), Y.numpy(), 4, 0.5, 30), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_iter", [1, 40])
def test_niht_matches_numpy_reference(n_iter):
    A, X, Y = gaussian(B=4, m=64, s=10)  # hard: the support changes and backtracking happens
    x = gb.niht(A, Y, 10, n_iter=n_iter)
    np.testing.assert_allclose(x.numpy(), niht_ref(A.numpy(), Y.numpy(), 10, n_iter), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_iter", [1, 2, 30])
def test_htp_matches_numpy_reference(n_iter, ls_path):
    A, X, Y = gaussian(B=4, m=64, s=10)  # hard enough that the support changes for a while
    x = gb.htp(A, Y, 10, n_iter=n_iter)
    np.testing.assert_allclose(x.numpy(), htp_ref(A.numpy(), Y.numpy(), 10, n_iter), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_iter", [1, 3, 30])
def test_cosamp_matches_numpy_reference(n_iter, ls_path):
    A, X, Y = gaussian(B=4, m=64, s=10)
    x = gb.cosamp(A, Y, 10, n_iter=n_iter)
    np.testing.assert_allclose(x.numpy(), cosamp_ref(A.numpy(), Y.numpy(), 10, n_iter), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_iter", [1, 30])
def test_subspace_pursuit_matches_numpy_reference(n_iter, ls_path):
    A, X, Y = gaussian(B=4, m=64, s=10)
    x = gb.subspace_pursuit(A, Y, 10, n_iter=n_iter)
    np.testing.assert_allclose(x.numpy(), sp_ref(A.numpy(), Y.numpy(), 10, n_iter), rtol=0, atol=1e-10)


def test_cosamp_noisy_matches_reference(ls_path):
    A, X, Y = gaussian(B=4, m=64, s=6)
    Y = Y + 0.05 * torch.randn(Y.shape, generator=torch.Generator().manual_seed(3), dtype=Y.dtype)
    x = gb.cosamp(A, Y, 6, n_iter=15)
    np.testing.assert_allclose(x.numpy(), cosamp_ref(A.numpy(), Y.numpy(), 6, 15), rtol=0, atol=1e-10)


# ---------------------------------------------------------------- batching conventions

@pytest.mark.parametrize("name", NAMES)
def test_per_problem_A_equals_shared(name):
    A, X, Y = gaussian(B=3, m=64, s=6)
    x_shared = SOLVERS[name](A, Y, 6, n_iter=20)
    x_batch = SOLVERS[name](A.expand(3, -1, -1).clone(), Y, 6, n_iter=20)
    torch.testing.assert_close(x_batch, x_shared, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_return_path(name):
    A, X, Y = gaussian(B=3)
    path = SOLVERS[name](A, Y, 8, n_iter=7, return_path=True)
    assert path.shape == (3, 8, 256)
    assert (path[:, 0] == 0).all()
    torch.testing.assert_close(path[:, -1], SOLVERS[name](A, Y, 8, n_iter=7), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_zero_measurements_give_zero(name):
    A, X, Y = gaussian(B=2)
    x = SOLVERS[name](A, torch.zeros_like(Y), 8, n_iter=5)
    assert torch.isfinite(x).all() and (x == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_zero_weight_forbids_index(name):
    A, X, Y = gaussian(B=3)
    w = torch.ones(256, dtype=torch.float64)
    banned = X[0].nonzero().squeeze(1)[:3]
    w[banned] = 0
    x = SOLVERS[name](A, Y, 8, weights=w)
    assert (x[:, banned] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_oracle_weights_help(name):
    A, X, Y = gaussian(B=4, m=48, N=256, s=16, seed=5)  # too hard without side information
    plain = SOLVERS[name](A, Y, 16)
    T = (X != 0) | (torch.rand(X.shape, generator=torch.Generator().manual_seed(1)) < 0.05)
    slow = {"n_iter": 600} if name in ("iht", "niht") else {}  # gradient methods on a 48 x ~28 set
    oracle = SOLVERS[name](A, Y, 16, weights=T.double(), **slow)
    assert rel_err(oracle, X) < 1e-6
    assert rel_err(plain, X) > 1e-2


def test_weights_shared_equal_per_problem():
    A, X, Y = gaussian(B=3)
    w = torch.rand(256, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.5
    for name in NAMES:
        torch.testing.assert_close(SOLVERS[name](A, Y, 8, n_iter=10, weights=w),
                                   SOLVERS[name](A, Y, 8, n_iter=10, weights=w.expand(3, -1)),
                                   rtol=0, atol=1e-12)


def test_iht_step_tensor_is_differentiable():
    A, X, Y = gaussian(B=2)
    step = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x = gb.iht(A, Y, 8, step=step, n_iter=10)
    torch.testing.assert_close(x.detach(), gb.iht(A, Y, 8, step=0.7, n_iter=10), rtol=0, atol=1e-12)
    ((x - X) ** 2).sum().backward()
    assert step.grad is not None and torch.isfinite(step.grad)


def test_cosamp_caps_merged_set_at_m():
    A, X, Y = gaussian(B=2, m=20, N=64, s=8)  # 3s = 24 > m = 20
    x = gb.cosamp(A, Y, 8, n_iter=10)
    assert torch.isfinite(x).all() and ((x != 0).sum(1) <= 8).all()


# ---------------------------------------------------------------- input validation

def test_bad_inputs_raise():
    A, X, Y = gaussian(B=2)
    for name in NAMES:
        f = SOLVERS[name]
        with pytest.raises(InvalidParameterError, match=f"^{name}: s must be"):
            f(A, Y, 0)
        with pytest.raises(InvalidParameterError, match=r"s must be .*min\(m, N\)"):
            f(A, Y, 129)
        with pytest.raises(InvalidParameterError, match="n_iter must be"):
            f(A, Y, 8, n_iter=0)
        with pytest.raises(ShapeError, match="weights must be"):
            f(A, Y, 8, weights=torch.ones(255))
        with pytest.raises(ShapeError, match="y must be"):
            f(A, Y[:, :100], 8)
        with pytest.raises(ShapeError, match="A must be"):
            f(A.expand(3, -1, -1), Y, 8)
        with pytest.raises(NonFiniteError, match="y contains non-finite"):
            f(A, torch.where(Y == Y[0, 0], torch.nan, Y), 8)
        with pytest.raises(DTypeError):
            f(A, Y.float(), 8)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidParameterError, match="step must be"):
            gb.iht(A, Y, 8, step=bad, n_iter=5)
        with pytest.raises(InvalidParameterError, match="step must be"):
            gb.htp(A, Y, 8, step=bad, n_iter=5)
    with pytest.raises(InvalidParameterError, match="iht: step"):
        gb.iht(A, Y, 8, step=torch.tensor(-1.0), n_iter=5)


# ---------------------------------------------------------------- shared pieces

@pytest.mark.parametrize("B,N,s", [(50, 512, 32), (40, 400, 15), (30, 100, 50), (20, 256, 1)])
def test_top_s_is_exact(B, N, s):
    g = torch.Generator().manual_seed(N)
    stat = torch.rand(B, N, generator=g)
    stat[0, :] = 0.5  # all tied: any s indices are correct
    stat[1, ::3] = 1.0  # many tied maxima
    ref = torch.topk(stat, s).values.sort(1).values
    idx = _select.top_s(stat, s)
    assert (idx.sort(1).values.diff(dim=1) > 0).all()  # distinct
    torch.testing.assert_close(stat.gather(1, idx).sort(1).values, ref, rtol=0, atol=0)
    # warm start: a partly stale previous set gives the same values
    prev = torch.topk(stat + 0.1 * torch.rand(B, N, generator=g), s).indices
    prev[::2] = torch.topk(stat[::2], s).indices  # half the rows still exact: partial re-selection
    warm = _select.top_s_warm(stat, s, prev)
    torch.testing.assert_close(stat.gather(1, warm).sort(1).values, ref, rtol=0, atol=0)
    assert _select.top_s_warm(stat[2:], s, idx[2:]).equal(idx[2:])


@pytest.mark.parametrize("N", [1, 7, 8, 9, 400, 2040, 2041, 5000])
@pytest.mark.parametrize("workspace", [False, True])
def test_count_ge_is_the_exact_count(N, workspace):
    """The warm start's count packs 8 compare bytes per int64 add: exact at every width,
    including the padding of N % 8 != 0, the widest packed rows (2040) and the plain fallback."""
    g = torch.Generator().manual_seed(N)
    ws = _select.Workspace() if workspace else None
    for dtype in (torch.float32, torch.float64):
        stat = torch.rand(13, N, generator=g).to(dtype)
        stat[:, : N // 3] = 0.5                                  # a tied block
        t = torch.rand(13, 1, generator=g).to(dtype)
        t[0], t[1], t[2] = 0.5, -1.0, 2.0                        # ties counted; all; none
        for _ in range(2):                                       # a reused (dirty) buffer
            assert torch.equal(_select.count_ge(stat, t, ws), (stat >= t).sum(1))


def test_lstsq_valid_mask_and_sync_free():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(5, 30, 6, generator=g, dtype=torch.float64)
    y = torch.randn(5, 30, generator=g, dtype=torch.float64)
    valid = torch.ones(5, 6, dtype=torch.bool)
    valid[:, 4:] = False
    valid[0] = False
    z = _linalg.lstsq(M, y, valid)
    assert (z[~valid] == 0).all()
    ref = torch.linalg.lstsq(M[1:, :, :4], y[1:, :, None]).solution.squeeze(-1)
    torch.testing.assert_close(z[1:, :4], ref)
    torch.testing.assert_close(_linalg.lstsq(M, y, valid, sync_free=True), z, rtol=0, atol=0)
    # duplicated columns: exact minimum-norm fallback, and a close ridge fallback without host reads
    Md = torch.cat([M[:, :, :3], M[:, :, :1]], dim=2)
    zd = _linalg.lstsq(Md, y)
    torch.testing.assert_close(zd[:, 0], zd[:, 3])
    torch.testing.assert_close(Md @ zd.unsqueeze(-1), Md @ _linalg.lstsq(Md, y, sync_free=True).unsqueeze(-1),
                               rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- CUDA

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    A, X, Y = gaussian(B=4)
    x_cpu = SOLVERS[name](A, Y, 8, n_iter=20)
    x_gpu = SOLVERS[name](A.cuda(), Y.cuda(), 8, n_iter=20)
    assert x_gpu.device.type == "cuda"
    torch.testing.assert_close(x_gpu.cpu(), x_cpu, rtol=0, atol=1e-8)
    Ac, Xc, Yc = partial_dft()
    if name != "iht":
        assert rel_err(SOLVERS[name](Ac.cuda(), Yc.cuda(), 4).cpu(), Xc) < 1e-6


def test_residual_paths_agree():
    A, X, Y = gaussian(B=5, m=32, N=64, s=4)
    idx = (X != 0).to(torch.int8).topk(4).indices
    vals = X.gather(1, idx)
    ref = Y - X @ A.T
    for support in (None, (idx, vals)):
        torch.testing.assert_close(_linalg.residual(A, X, Y, support), ref)
        torch.testing.assert_close(_linalg.residual(A.expand(5, -1, -1), X, Y, support), ref)
    Ag = A.clone().requires_grad_()
    torch.testing.assert_close(_linalg.residual(Ag, None, Y, (idx, vals)).detach(), ref)  # dense path


def test_support_ls_gram_rank_deficient_falls_back():
    A, X, Y = gaussian(B=3, m=32, N=64, s=4)
    A = A.clone()
    A[:, 1] = A[:, 0]  # duplicated column inside the set
    idx = torch.tensor([[0, 1, 2, 3]] * 3)
    valid = torch.tensor([[True, True, True, False]] * 3)
    for use_gram in (False, True):
        z = _select.SupportLS(A, Y, 4, use_gram=use_gram).solve(idx, valid)
        assert torch.isfinite(z).all() and (z[:, 3] == 0).all()
        torch.testing.assert_close(z[:, 0], z[:, 1])  # minimum-norm: the copies share the weight
