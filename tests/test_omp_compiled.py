"""The compiled OMP kernel (numba, optional): where ``omp`` uses it, that it computes the OMP of the
torch engines and of scikit-learn, and that without numba ``omp`` keeps the torch engines."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import greedybench as gb
from greedybench.functional import _omp_compiled as comp
from greedybench.functional import _omp_parallel as par

omp_mod = sys.modules["greedybench.functional.omp"]
sklearn_omp = pytest.importorskip("sklearn.linear_model").orthogonal_mp
numba = pytest.importorskip("numba")          # the `fast` extra; CI installs it


def problem(m, N, s, B, *, seed, dtype=torch.float64, noise=0.0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=torch.float64)
    A = A / A.norm(dim=0)
    X = torch.zeros(B, N, dtype=torch.float64)
    supp = torch.rand(B, N, generator=g).argsort(dim=1)[:, :s]
    vals = torch.randn(B, s, generator=g, dtype=torch.float64)
    X.scatter_(1, supp, vals + torch.sign(vals))
    Y = X @ A.T + noise * torch.randn(B, m, generator=g, dtype=torch.float64)
    return A.to(dtype), Y.to(dtype)


class Spy:
    """Wraps the compiled kernel and counts the signals it solved."""

    def __init__(self, kernel):
        self.kernel, self.signals = kernel, 0

    def __call__(self, *args):
        self.signals += args[1].shape[0]
        return self.kernel(*args)


@pytest.fixture
def spy(monkeypatch):
    kernel = comp.kernel()
    assert kernel is not None, "numba is installed but greedybench's compiled OMP kernel did not import"
    s = Spy(kernel)
    monkeypatch.setattr(comp, "_KERNEL", s)
    return s


def torch_engines(monkeypatch, f):
    """f() with the compiled kernel unavailable (as without numba)."""
    with monkeypatch.context() as mp:
        mp.setattr(comp, "_KERNEL", None)
        return f()


@pytest.mark.parametrize("case", ["plain", "weights_shared", "weights_rows", "tol", "tol_exact"])
def test_compiled_equals_torch_engines_and_sklearn(case, spy, monkeypatch):
    m, N, s, B = 48, 160, 12, 40
    A, Y = problem(m, N, 8, B, seed=7, noise=1e-2)                 # 8-sparse, 12 atoms asked
    g = torch.Generator().manual_seed(8)
    kw = {}
    if case == "weights_shared":
        kw["weights"] = torch.rand(N, generator=g, dtype=torch.float64) + 0.5
    elif case == "weights_rows":
        kw["weights"] = torch.rand(B, N, generator=g, dtype=torch.float64) + 0.5
        kw["weights"][:, :5] = 0.0                                  # forbidden atoms
    elif case == "tol":
        kw["tol"] = 0.05
    elif case == "tol_exact":
        kw["tol"] = 1e-9                                            # r formed explicitly
    monkeypatch.setattr(comp, "plan", lambda m, N, B, n: True)
    x = gb.omp(A, Y, s, **kw)
    assert spy.signals == B
    ref = torch_engines(monkeypatch, lambda: gb.omp(A, Y, s, **kw))
    assert spy.signals == B                                         # the fallback did not call it
    assert torch.equal(x != 0, ref != 0)
    torch.testing.assert_close(x, ref, rtol=0, atol=1e-12)
    if case in ("plain", "tol"):
        used = (x != 0).sum(1)
        if case == "tol":
            assert (used < s).sum() >= B // 2                        # most stopped early
        for b in range(B):
            # the tol run is the prefix of the plain run that it kept
            want = sklearn_omp(A.numpy(), Y[b].numpy(), n_nonzero_coefs=int(used[b]))
            assert np.array_equal(x[b].numpy() != 0, want != 0), f"problem {b}: supports differ"
            np.testing.assert_allclose(x[b].numpy(), want, atol=1e-10, rtol=0)


def test_compiled_float32_and_degenerate_signals(spy, monkeypatch):
    """float32 agrees with the torch engines at float32 accuracy; y = 0 gives 0; a duplicated
    column is never chosen twice (the dependency stop), as in the torch engines."""
    m, N, s, B = 32, 96, 8, 30
    A, Y = problem(m, N, s, B, seed=11)
    A[:, 1] = A[:, 0]
    Y[0] = 0.0
    Y[1] = 3.0 * A[:, 0]
    monkeypatch.setattr(comp, "plan", lambda m, N, B, n: True)
    for dt, atol in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        x = gb.omp(A.to(dt), Y.to(dt), s)
        ref = torch_engines(monkeypatch, lambda: gb.omp(A.to(dt), Y.to(dt), s))
        assert x.dtype == dt
        torch.testing.assert_close(x, ref, rtol=0, atol=atol)
        assert (x[0] == 0).all()
        assert (x[:, :2] != 0).sum(1).max() <= 1
    assert spy.signals == 2 * B


def test_compiled_on_worker_threads_equals_one_thread(spy, monkeypatch):
    m, N, s, B = 40, 120, 10, 300
    A, Y = problem(m, N, s, B, seed=21, noise=1e-3)
    W = torch.rand(B, N, generator=torch.Generator().manual_seed(22), dtype=torch.float64) + 0.5
    monkeypatch.setattr(comp, "plan", lambda m, N, B, n: True)
    threads = torch.get_num_threads()
    try:
        ref = [gb.omp(A, Y, s, weights=W), gb.omp(A, Y, s, tol=0.05)]
        torch.set_num_threads(2)
        monkeypatch.setattr(par, "_BLOCK_BYTES", 8 * N * 8)          # blocks of 64 problems
        monkeypatch.setattr(par, "_MIN_PARALLEL_SECONDS", 0.0)      # always the pool
        got = [gb.omp(A, Y, s, weights=W), gb.omp(A, Y, s, tol=0.05)]
    finally:
        torch.set_num_threads(threads)
    assert spy.signals == 4 * B
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_dispatch_keeps_torch_engines_where_the_kernel_does_not_apply(spy, monkeypatch):
    m, N, s, B = 24, 64, 5, 6
    A, Y = problem(m, N, s, B, seed=31)
    monkeypatch.setattr(comp, "plan", lambda m, N, B, n: True)
    gb.omp(A, Y, s, return_path=True)                               # the path
    gb.omp(A.to(torch.complex128), Y, s)                            # complex
    gb.omp(A.expand(B, m, N).contiguous(), Y, s)                    # per-problem A
    omp_mod._omp(A, Y, s, engine="gram")                            # an engine asked for
    A.requires_grad_(True)
    gb.omp(A, Y, s)                                                 # autograd input: compiled, detached
    assert spy.signals == B


def test_without_numba_omp_keeps_the_torch_engines(monkeypatch):
    """An ImportError of the kernel module (numba missing) leaves ``omp`` on the torch engines,
    still equal to scikit-learn."""
    monkeypatch.setattr(comp, "_KERNEL", False)
    monkeypatch.setitem(sys.modules, "greedybench.functional._omp_numba", None)   # import fails
    assert comp.kernel() is None
    assert omp_mod._fast_kernel(torch.zeros(256, 512), 2000, 32, None, False) is None


def test_no_compiled_kernel_above_the_gram_size_limit(spy):
    assert omp_mod._fast_kernel(torch.zeros(64, 9000), 10**6, 8, None, False) is None
    assert omp_mod._fast_kernel(torch.zeros(256, 512), 2000, 32, None, False) is spy
    A, Y = problem(64, 200, 10, 8, seed=41)
    x = gb.omp(A, Y, 10)
    for b in range(8):
        want = sklearn_omp(A.numpy(), Y[b].numpy(), n_nonzero_coefs=10)
        assert np.array_equal(x[b].numpy() != 0, want != 0)
        np.testing.assert_allclose(x[b].numpy(), want, atol=1e-10, rtol=0)


def test_plan_compiled_follows_its_cost_model():
    """G plus N n^2 / 2 compiled multiply-adds per signal against 2 m N (n - 1) per signal."""
    c = comp.LOOP_COST
    for m, N, B, n in [(256, 512, 2000, 32), (256, 1024, 5000, 32), (512, 2048, 5000, 64),
                       (8064, 1207, 1200, 30)]:
        assert comp.plan(m, N, B, n)               # the four benchmark settings
    assert not comp.plan(64, 4096, 4, 8)           # G would dominate
    assert not comp.plan(48, 160, 40, 12)          # too small to pay numba's import
    m, N, n = 100, 400, 20
    B = next(B for B in range(1, 10**6) if comp.plan(m, N, B, n))
    without = B * 2.0 * m * N * (n - 1)
    assert 1.25 * m * N * N + B * c * N * n * n / 2 < without
    assert without >= comp.MIN_FLOPS > without - 2.0 * m * N * (n - 1)
    m, N, n = 64, 8192, 2                                       # G binds before the minimum
    B = next(B for B in range(1, 10**6) if comp.plan(m, N, B, n))
    assert 1.25 * m * N * N + B * c * N * n * n / 2 < B * 2.0 * m * N * (n - 1)
    assert not 1.25 * m * N * N + (B - 1) * c * N * n * n / 2 < (B - 1) * 2.0 * m * N * (n - 1)


def test_kernel_that_cannot_compile_warns_and_falls_back(monkeypatch):
    """numba present but unable to set up the kernel (e.g. no writable cache): a RuntimeWarning
    naming the cause, and the torch engines."""
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("cannot cache function 'omp_gram_block': no locator available")

    monkeypatch.setattr(comp, "_KERNEL", False)
    monkeypatch.setitem(sys.modules, "greedybench.functional._omp_numba", Broken())
    with pytest.warns(RuntimeWarning, match="no locator available"):
        assert comp.kernel() is None
    assert comp.kernel() is None                                    # decided once
