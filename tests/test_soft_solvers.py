"""Soft-OMP, Soft-IHT, Soft-HTP and Soft-CoSaMP: tau -> 0 limits, batching, gradients, numerics.

The hard references below are small per-problem loops written for these tests (weighted, float64,
no early stopping); the real batched hard solvers are compared too.
"""

import pytest
import torch

import greedybench as gb

F64 = torch.float64


def make_problems(B=6, m=40, N=80, s=5, sigma=1e-3, seed=0, per_problem=False, weights=False,
                  dtype=F64):
    g = torch.Generator().manual_seed(seed)
    shape = (B, m, N) if per_problem else (m, N)
    A = torch.randn(shape, generator=g, dtype=F64)
    A = A / torch.linalg.vector_norm(A, dim=-2, keepdim=True)
    X = torch.zeros(B, N, dtype=F64)
    for b in range(B):
        X[b, torch.randperm(N, generator=g)[:s]] = torch.randn(s, generator=g, dtype=F64)
    Ab = A if per_problem else A.expand(B, m, N)
    y = (Ab @ X.unsqueeze(-1)).squeeze(-1) + sigma * torch.randn(B, m, generator=g, dtype=F64) / m ** 0.5
    w = 0.5 + torch.rand(B, N, generator=g, dtype=F64) if weights else None
    if dtype.is_complex:
        A = A.to(dtype) * torch.exp(1j * torch.rand(shape, generator=g, dtype=F64))
        y = y.to(dtype)
    return A, y, w


# ---------------------------------------------------------------------------------------------
# hard references (one problem at a time); each also returns the smallest selection gap it saw
# ---------------------------------------------------------------------------------------------


def _stat(c, w):
    return c.abs() * (1.0 if w is None else w.abs())


def _ls(A, y, S):
    return torch.linalg.lstsq(A[:, S], y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)


def _gap(v, k):
    """Smallest consecutive gap among the k + 1 largest entries of v."""
    t = torch.topk(v, k + 1).values
    return float((t[:-1] - t[1:]).min())


def omp_ref(A, y, n, w=None):
    x = torch.zeros(A.shape[1], dtype=A.dtype)
    r, S, gap = y, [], float("inf")
    for _ in range(n):
        v = _stat(A.mH @ r, w)
        gap = min(gap, _gap(v, 1))
        S.append(int(v.argmax()))
        z = _ls(A, y, S)
        x = torch.zeros_like(x)
        x[S] = z
        r = y - A @ x
    return x, gap


def _threshold_ref(A, y, s, step, n, w, refit):
    """n gradient steps, each kept on the top-s of |w * u|: with u's values (IHT) or, ``refit``,
    the least squares on those s columns (HTP)."""
    x, gap = torch.zeros(A.shape[1], dtype=A.dtype), float("inf")
    for _ in range(n):
        u = x + step * (A.mH @ (y - A @ x))
        v = _stat(u, w)
        gap = min(gap, _gap(v, s))
        S = torch.topk(v, s).indices
        x = torch.zeros_like(u)
        x[S] = _ls(A, y, S) if refit else u[S]
    return x, gap


def iht_ref(A, y, s, step, n, w=None):
    return _threshold_ref(A, y, s, step, n, w, refit=False)


def htp_ref(A, y, s, step, n, w=None):
    return _threshold_ref(A, y, s, step, n, w, refit=True)


def cosamp_ref(A, y, s, n, w=None):
    x, gap = torch.zeros(A.shape[1], dtype=A.dtype), float("inf")
    supp = torch.zeros(0, dtype=torch.long)
    for _ in range(n):
        v = _stat(A.mH @ (y - A @ x), w)
        gap = min(gap, _gap(v, 2 * s))
        T = torch.unique(torch.cat([torch.topk(v, 2 * s).indices, supp]))
        u = torch.zeros_like(x)
        u[T] = _ls(A, y, T)
        vu = _stat(u, w)
        gap = min(gap, _gap(vu, s))
        supp = torch.topk(vu, s).indices
        x = torch.zeros_like(u)
        x[supp] = u[supp]
    return x, gap


def _per_problem(ref, A, y, w, *args):
    xs, gaps = [], []
    for b in range(y.shape[0]):
        Ab = A if A.dim() == 2 else A[b]
        wb = None if w is None else w[b]
        x, g = ref(Ab, y[b], *args, wb)
        xs.append(x)
        gaps.append(g)
    return torch.stack(xs), torch.tensor(gaps)


SOFT = {
    "omp": (lambda A, y, tau, w: gb.soft_omp(A, y, 8, tau=tau, weights=w), omp_ref, (8,)),
    "iht": (lambda A, y, tau, w: gb.soft_iht(A, y, 5, tau=tau, step=0.6, n_iter=12, weights=w),
            iht_ref, (5, 0.6, 12)),
    "htp": (lambda A, y, tau, w: gb.soft_htp(A, y, 5, tau=tau, n_iter=6, step=0.8, weights=w),
            htp_ref, (5, 0.8, 6)),
    "cosamp": (lambda A, y, tau, w: gb.soft_cosamp(A, y, 5, tau=tau, n_iter=5, weights=w),
               cosamp_ref, (5, 5)),
}


@pytest.mark.parametrize("per_problem", [False, True])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("name", list(SOFT))
def test_soft_equals_hard_for_tiny_tau(name, weights, per_problem):
    soft, ref, args = SOFT[name]
    # CoSaMP's merged set holds noise-level atoms once the support is found: their gaps scale
    # with the noise, so that case uses sigma = 0.05 to keep the gaps >> tau
    sigma = 0.05 if name == "cosamp" else 1e-3
    A, y, w = make_problems(per_problem=per_problem, weights=weights, seed=3, sigma=sigma)
    x_ref, gaps = _per_problem(ref, A, y, w, *args)
    for tau in (1e-8, 1e-10):
        ok = gaps > 40 * tau                            # distinct gaps: exp(-gap / tau) < 1e-17
        assert int(ok.sum()) >= 4
        x = soft(A, y, tau, w)
        torch.testing.assert_close(x[ok], x_ref[ok], rtol=0, atol=1e-10)


def test_soft_equals_hard_complex():
    A, y, _ = make_problems(dtype=torch.complex128, seed=4)
    x_ref, gaps = _per_problem(omp_ref, A, y, None, 6)
    x = gb.soft_omp(A, y, 6, tau=1e-9)
    assert x.dtype == torch.complex128
    ok = gaps > 1e-6
    torch.testing.assert_close(x[ok], x_ref[ok], rtol=0, atol=1e-10)
    x_ref, gaps = _per_problem(iht_ref, A, y, None, 4, 0.5, 8)
    ok = gaps > 1e-6
    torch.testing.assert_close(gb.soft_iht(A, y, 4, tau=1e-9, step=0.5, n_iter=8)[ok], x_ref[ok],
                               rtol=0, atol=1e-10)


def _hard_or_skip(fn):
    try:
        return fn()
    except NotImplementedError:
        pytest.skip("hard solver not implemented yet")


@pytest.mark.parametrize("weights", [False, True])
def test_soft_equals_library_hard_solvers(weights):
    A, y, w = make_problems(weights=weights, seed=5)
    kw = dict(weights=w)
    _, g_omp = _per_problem(omp_ref, A, y, w, 8)
    _, g_iht = _per_problem(iht_ref, A, y, w, 5, 0.6, 12)
    _, g_htp = _per_problem(htp_ref, A, y, w, 5, 0.8, 6)
    _, g_cos = _per_problem(cosamp_ref, A, y, w, 5, 5)
    pairs = [
        (g_omp, lambda: gb.omp(A, y, 8, **kw), gb.soft_omp(A, y, 8, tau=1e-10, **kw)),
        (g_iht, lambda: gb.iht(A, y, 5, step=0.6, n_iter=12, **kw),
         gb.soft_iht(A, y, 5, tau=1e-10, step=0.6, n_iter=12, **kw)),
        (g_htp, lambda: gb.htp(A, y, 5, n_iter=6, step=0.8, **kw),
         gb.soft_htp(A, y, 5, tau=1e-10, n_iter=6, step=0.8, **kw)),
    ]
    for gaps, hard, soft in pairs:
        ok = gaps > 4e-9
        torch.testing.assert_close(soft[ok], _hard_or_skip(hard)[ok], rtol=0, atol=1e-10)
    # cosamp stops a problem whose support repeats; compare the iterates before it stops
    hard_path = _hard_or_skip(lambda: gb.cosamp(A, y, 5, n_iter=5, return_path=True, **kw))
    soft_path = gb.soft_cosamp(A, y, 5, tau=1e-10, n_iter=5, return_path=True, **kw)
    for b in range(y.shape[0]):
        if g_cos[b] <= 4e-9:
            continue
        for n in range(1, 6):
            torch.testing.assert_close(soft_path[b, n], hard_path[b, n], rtol=0, atol=1e-10)
            if n < 5 and torch.equal(hard_path[b, n + 1], hard_path[b, n]):
                break


ALL = {
    "omp": lambda A, y, tau, w=None, **k: gb.soft_omp(A, y, 6, tau=tau, weights=w, **k),
    "iht": lambda A, y, tau, w=None, **k: gb.soft_iht(A, y, 5, tau=tau, step=0.6, n_iter=6, weights=w, **k),
    "htp": lambda A, y, tau, w=None, **k: gb.soft_htp(A, y, 5, tau=tau, n_iter=4, weights=w, **k),
    "cosamp": lambda A, y, tau, w=None, **k: gb.soft_cosamp(A, y, 5, tau=tau, n_iter=4, weights=w, **k),
}


@pytest.mark.parametrize("name", list(ALL))
def test_batched_equals_per_problem_and_shared_equals_per_problem_A(name):
    f = ALL[name]
    A, y, w = make_problems(B=5, weights=True, seed=6)
    # Soft-CoSaMP's merged soft set is nearly singular by construction (overlapping soft rows,
    # truncated at sqrt(eps)): x is determined to ~1e-8 there, so batched/unbatched GEMM rounding
    # shows at that level
    tol = dict(rtol=1e-6, atol=1e-8) if name == "cosamp" else dict(rtol=1e-9, atol=1e-11)
    x = f(A, y, 1e-2, w)
    x1 = torch.cat([f(A, y[b:b + 1], 1e-2, w[b:b + 1]) for b in range(5)])
    torch.testing.assert_close(x, x1, **tol)
    xA = f(A.expand(5, *A.shape).clone(), y, 1e-2, w)
    torch.testing.assert_close(x, xA, **tol)


@pytest.mark.parametrize("name", list(ALL))
def test_path(name):
    A, y, _ = make_problems(B=3, seed=7)
    path = ALL[name](A, y, 1e-2, return_path=True)
    assert path.shape[0] == 3 and path.shape[2] == A.shape[1]
    assert torch.equal(path[:, 0], torch.zeros_like(path[:, 0]))
    torch.testing.assert_close(path[:, -1], ALL[name](A, y, 1e-2), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("tau", [1e3, 1e8])
def test_large_tau_is_finite(name, tau):
    A, y, w = make_problems(B=3, weights=True, seed=8)
    x = ALL[name](A, y, tau, w)
    assert bool(torch.isfinite(x).all())


def test_soft_omp_large_tau_tends_to_minimum_norm_limit():
    # tau -> inf: every soft row is the uniform 1/N vector, B~ = [b ... b] with b = A 1 / N, and
    # the minimum-norm least squares gives x = (1/N) 1 * (b^T y / ||b||^2)
    A, y, _ = make_problems(B=3, seed=9)
    N = A.shape[1]
    x = gb.soft_omp(A, y, 5, tau=1e15)
    b = A.sum(-1) / N
    limit = ((y @ b) / (b @ b)).unsqueeze(-1) * torch.full((N,), 1.0 / N, dtype=F64)
    torch.testing.assert_close(x, limit, rtol=1e-6, atol=1e-12)
    assert bool(torch.isfinite(gb.soft_omp(A, y, 5, tau=1e3, return_path=True)).all())


def test_zero_measurements_give_zero():
    A, y, _ = make_problems(B=2, seed=10)
    y = torch.zeros_like(y)
    for f in ALL.values():
        assert torch.equal(f(A, y, 1e-3), torch.zeros(2, A.shape[1], dtype=F64))


def test_float32_runs():
    A, y, _ = make_problems(B=3, seed=11)
    for f in ALL.values():
        x = f(A.float(), y.float(), 1e-3)
        assert x.dtype == torch.float32 and bool(torch.isfinite(x).all())


def test_gradcheck_soft_omp_weights():
    A, y, _ = make_problems(B=2, m=12, N=20, s=3, seed=12)
    w = (0.5 + torch.rand(2, 20, generator=torch.Generator().manual_seed(0), dtype=F64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: gb.soft_omp(A, y, 3, tau=0.1, weights=w), (w,))


def test_gradcheck_soft_iht_weights():
    A, y, _ = make_problems(B=2, m=12, N=20, s=3, seed=13)
    w = (0.5 + torch.rand(20, generator=torch.Generator().manual_seed(1), dtype=F64)).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda w: gb.soft_iht(A, y, 3, tau=0.2, step=0.5, n_iter=4, weights=w), (w,))


@pytest.mark.parametrize("name", ["omp", "iht", "htp", "cosamp"])
def test_gradients_flow_to_tau_step_y_and_A(name):
    A, y, w = make_problems(B=3, m=20, N=40, s=3, seed=14, weights=True)
    A = A.clone().requires_grad_(True)
    y = y.clone().requires_grad_(True)
    w = w.requires_grad_(True)
    tau = torch.tensor(0.05, dtype=F64, requires_grad=True)
    step = torch.tensor(0.6, dtype=F64, requires_grad=True)
    if name == "omp":
        x = gb.soft_omp(A, y, 4, tau=tau, weights=w)
    elif name == "iht":
        x = gb.soft_iht(A, y, 3, tau=tau, step=step, n_iter=5, weights=w)
    elif name == "htp":
        x = gb.soft_htp(A, y, 3, tau=tau, step=step, n_iter=3, weights=w)
    else:
        x = gb.soft_cosamp(A, y, 3, tau=tau, n_iter=3, weights=w)
    loss = (x - 0.1).square().sum()
    wrt = [tau, y, A, w] + ([step] if name in ("iht", "htp") else [])
    grads = torch.autograd.grad(loss, wrt)
    for g in grads:
        assert bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0


def test_tensor_tau_matches_float_tau():
    A, y, _ = make_problems(B=2, seed=15)
    for f in ALL.values():
        torch.testing.assert_close(f(A, y, torch.tensor(3e-3, dtype=F64)), f(A, y, 3e-3))


@pytest.mark.parametrize("call", [
    lambda A, y: gb.soft_omp(A, y, 3, tau=0.0),
    lambda A, y: gb.soft_omp(A, y, 0, tau=1e-3),
    lambda A, y: gb.soft_iht(A, y, 3, tau=1e-3, step=-1.0, n_iter=3),
    lambda A, y: gb.soft_iht(A, y, 0, tau=1e-3, step=0.5, n_iter=3),
    lambda A, y: gb.soft_htp(A, y, 500, tau=1e-3, n_iter=3),
    lambda A, y: gb.soft_cosamp(A, y, 41, tau=1e-3, n_iter=3),
    lambda A, y: gb.soft_omp(A, y[0], 3, tau=1e-3),
    lambda A, y: gb.soft_iht(A, y, 3, tau=float("nan"), step=0.5, n_iter=3),
])
def test_validation(call):
    A, y, _ = make_problems(B=2, seed=16)
    with pytest.raises(gb.GreedybenchError):
        call(A, y)


def test_solver_entries():
    from greedybench.solvers import soft_iht, soft_omp
    A, y, _ = make_problems(B=2, seed=17)

    class P:  # the fields of registry.ProblemBatch that the entries use
        pass
    p = P()
    p.A, p.y, p.s = A, y, 5
    for entry in (soft_omp, soft_iht):
        assert entry.parameters == {"tau": [1e-3]}
        assert entry.capabilities["differentiable"]
        x = entry.solve(p, tau=1e-3)
        assert x.shape == (2, A.shape[1]) and bool(torch.isfinite(x).all())


# ---------------------------------------------------------------------------------------------
# the in-place (no autograd) kernels against the autograd path of the same kernels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["omp", "iht"])
@pytest.mark.parametrize("dtype", [F64, torch.complex128])
@pytest.mark.parametrize("per_problem", [False, True])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("tau", [1e-3, 0.3, 1e15])
def test_inplace_path_equals_graph_path(name, dtype, per_problem, weights, tau):
    """Without a graph the kernels run in kept buffers with fused GEMMs and in-place passes
    (``softomp._omp_inplace``, ``softiht._iht_inplace``); with a graph (weights requiring grad)
    they take the plain autograd path (``_omp_graph``, ``_iht_graph``): same numbers. tau = 1e15 makes the soft columns parallel, so Soft-OMP goes
    through the minimum-norm fallback on both paths."""
    A, y, w = make_problems(B=7, seed=21, per_problem=per_problem, weights=True, dtype=dtype)
    w = w if weights else torch.ones_like(w)
    f = ALL[name]
    fast = f(A, y, tau, w)
    graph = f(A, y, tau, w.clone().requires_grad_(True)).detach()
    torch.testing.assert_close(fast, graph, rtol=1e-10, atol=1e-12)
    path_fast = f(A, y, tau, w, return_path=True)
    path_graph = f(A, y, tau, w.clone().requires_grad_(True), return_path=True).detach()
    torch.testing.assert_close(path_fast, path_graph, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["omp", "iht"])
def test_kept_buffers_carry_no_state_between_calls(name):
    """The per-thread buffers are reused by the next call: results must not depend on what ran
    before, including calls of other sizes and dtypes in between."""
    from greedybench.functional import _workspace

    f = ALL[name]
    A, y, _ = make_problems(B=6, seed=22)
    first = f(A, y, 1e-2)
    A2, y2, _ = make_problems(B=9, m=30, N=70, seed=23)
    f(A2, y2, 1e-2)
    f(A2.float(), y2.float(), 1e-2)
    assert torch.equal(f(A, y, 1e-2), first)
    _workspace.release()
    assert torch.equal(f(A, y, 1e-2), first)


def test_workspace_buffers():
    import threading

    from greedybench.functional import _workspace

    a = _workspace.buffer("t", (3, 4), F64, "cpu")
    b = _workspace.buffer("t", (2, 5), F64, "cpu")            # fits: same storage, new shape
    assert b.shape == (2, 5) and b.data_ptr() == a.data_ptr()
    c = _workspace.buffer("t", (3, 4), torch.float32, "cpu")   # other dtype: new storage
    assert c.dtype == torch.float32
    other = {}
    t = threading.Thread(target=lambda: other.setdefault("p", _workspace.buffer("t", (3, 4), torch.float32, "cpu").data_ptr()))
    t.start()
    t.join()
    assert other["p"] != c.data_ptr()                          # threads never share a buffer
    big = _workspace.buffer("t", (_workspace.MAX_BYTES // 8 + 1,), F64, "meta")
    assert big.device.type == "meta"                            # not CPU: never kept
    _workspace.release()
    assert "t" not in _workspace._local.pool


@pytest.mark.parametrize("kernel", ["omp", "iht"])
def test_tiny_tau_grid_is_the_hard_run_bit_for_bit(kernel):
    """The bound study measures ||x_soft - x_hard||; at a tau where every soft row is exactly
    one-hot the two runs share every operation, so the measured difference is exactly 0 (the
    1e-12 floor of Fig. 2), for a grid of temperatures run as one batch as well."""
    from greedybench.functional.soft import _iht_kernel, _omp_kernel

    A, y, w = make_problems(B=5, weights=True, seed=24)
    taus = torch.tensor([1e-12, 1e-10], dtype=F64).reshape(1, -1, 1)
    Y = y.unsqueeze(1)
    W = w.unsqueeze(1)
    if kernel == "omp":
        run = lambda Yk, tau, hard: _omp_kernel(A, Yk, 6, tau, W, hard=hard, return_path=True)["x"]  # noqa: E731
    else:
        run = lambda Yk, tau, hard: _iht_kernel(A, Yk, 5, tau, 0.6, 8, W, hard=hard, return_path=True)["x"]  # noqa: E731
    hard = run(Y, None, True)
    soft = run(Y.expand(-1, 2, -1), taus, False)
    assert torch.equal(soft, hard.expand_as(soft))
