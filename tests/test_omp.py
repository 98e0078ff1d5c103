"""greedybench.omp: agreement with scikit-learn and with a plain numpy OMP, recovery, weights,
stopping, degenerate input, errors. Small sizes: the whole file runs in a few seconds on 2 cores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import greedybench as gb
from greedybench._validation import DTypeError, InvalidParameterError, NonFiniteError, ShapeError
from greedybench.functional.omp import _omp

sklearn_omp = pytest.importorskip("sklearn.linear_model").orthogonal_mp


# ---- helpers -------------------------------------------------------------------------------------

def gaussian(m, N, *, B=None, seed=0, dtype=torch.float64):
    """Gaussian A with unit-norm columns: (m, N), or (B, m, N) when B is given."""
    g = torch.Generator().manual_seed(seed)
    shape = (m, N) if B is None else (B, m, N)
    A = torch.randn(*shape, generator=g, dtype=torch.float64)
    return (A / A.norm(dim=-2, keepdim=True)).to(dtype)


def sparse_signals(B, N, s, *, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed + 1)
    X = torch.zeros(B, N, dtype=torch.float64)
    supp = torch.rand(B, N, generator=g).argsort(dim=1)[:, :s]
    vals = torch.randn(B, s, generator=g, dtype=torch.float64)
    vals = vals + torch.sign(vals)  # |x_j| >= 1: an easy, well-separated amplitude
    X.scatter_(1, supp, vals)
    return X.to(dtype), supp


def measure(A, X):
    return X @ A.mT if A.dim() == 2 else torch.einsum("bmn,bn->bm", A, X)


def supports_in_order(path):
    """(B, n) index chosen at each step, from a path (B, n + 1, N); -1 where nothing was added."""
    nz = path != 0
    new = nz[:, 1:] & ~nz[:, :-1]
    has = new.any(-1)
    return torch.where(has, new.float().argmax(-1), torch.full_like(has, -1, dtype=torch.long))


def numpy_omp(A, y, n_iter):
    """Textbook OMP for one problem: argmax |A^H r|, then a fresh lstsq on the chosen columns."""
    S, x = [], np.zeros(A.shape[1], dtype=np.result_type(A, y))
    r = y.copy()
    for _ in range(n_iter):
        c = np.abs(A.conj().T @ r)
        c[S] = -1
        S.append(int(np.argmax(c)))
        z = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
        x = np.zeros_like(x)
        x[S] = z
        r = y - A[:, S] @ z
    return x, S


def partial_dft(m, N, seed=0):
    """m random rows of the N-point DFT, exp(-2 pi i k j / N) / sqrt(m)."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(N, generator=g)[:m].sort().values.to(torch.float64)
    cols = torch.arange(N, dtype=torch.float64)
    return torch.exp(-2j * math.pi * rows[:, None] * cols[None, :] / N) / math.sqrt(m)


# ---- agreement with scikit-learn (>= 100 instances) ------------------------------------------------

CONFIGS = [  # (m, N, s, shared A, signal)
    (16, 32, 3, True, "sparse"), (16, 32, 6, False, "gauss"), (24, 64, 5, True, "gauss"),
    (32, 48, 8, False, "sparse"), (32, 128, 10, True, "noisy"), (40, 80, 12, False, "gauss"),
    (48, 96, 7, True, "sparse"), (64, 64, 16, True, "gauss"), (64, 200, 12, False, "noisy"),
    (20, 300, 5, True, "gauss"), (50, 60, 20, True, "noisy"), (30, 90, 9, False, "sparse"),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"m{c[0]}-N{c[1]}-s{c[2]}-{'shared' if c[3] else 'per'}-{c[4]}"
                                                for c in CONFIGS])
def test_matches_sklearn_supports_order_and_values(cfg):
    m, N, s, shared, signal = cfg
    B = 10
    seed = m * 1000 + N + s
    A = gaussian(m, N, B=None if shared else B, seed=seed)
    if signal == "gauss":
        Y = torch.randn(B, m, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)
    else:
        X, _ = sparse_signals(B, N, s, seed=seed)
        Y = measure(A, X)
        if signal == "noisy":
            Y = Y + 0.05 * torch.randn(B, m, generator=torch.Generator().manual_seed(seed + 3), dtype=torch.float64)
    path = gb.omp(A, Y, s, return_path=True)
    x = gb.omp(A, Y, s)
    ours = supports_in_order(path)
    for b in range(B):
        Ab = (A if shared else A[b]).numpy()
        ref = sklearn_omp(Ab, Y[b].numpy(), n_nonzero_coefs=s, return_path=True)   # (N, s)
        ref_path = np.concatenate([np.zeros((N, 1)), ref], axis=1).T                # (s + 1, N)
        ref_order = supports_in_order(torch.from_numpy(ref_path)[None])[0]
        assert torch.equal(ours[b], ref_order), f"problem {b}: support order {ours[b]} vs {ref_order}"
        np.testing.assert_allclose(path[b].numpy(), ref_path, atol=1e-10, rtol=0)
        np.testing.assert_allclose(x[b].numpy(), ref_path[-1], atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ["gram", "residual"])
def test_engines_agree_and_residual_is_orthogonal(engine):
    m, N, s, B = 40, 100, 15, 20
    A = gaussian(m, N, seed=3)
    Y = torch.randn(B, m, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = _omp(A, Y, s, engine=engine)
    torch.testing.assert_close(x, gb.omp(A, Y, s), rtol=0, atol=1e-12)
    r = Y - x @ A.T
    for b in range(B):
        S = torch.nonzero(x[b]).flatten()
        assert len(S) == s
        assert (A[:, S].T @ r[b]).abs().max() <= 1e-10 * Y[b].norm()


def test_batched_equals_numpy_reference_shared_and_per_problem():
    m, N, s, B = 24, 60, 8, 12
    A = gaussian(m, N, seed=11)
    Ab = gaussian(m, N, B=B, seed=12)
    Y = torch.randn(B, m, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    for AA in (A, Ab):
        x = gb.omp(AA, Y, s)
        for b in range(B):
            A_np = (AA if AA.dim() == 2 else AA[b]).numpy()
            ref, _ = numpy_omp(A_np, Y[b].numpy(), s)
            np.testing.assert_allclose(x[b].numpy(), ref, atol=1e-10, rtol=0)


# ---- recovery ------------------------------------------------------------------------------------

def test_easy_noiseless_recovery():
    m, N, s, B = 128, 256, 8, 64
    A = gaussian(m, N, seed=21)
    X, _ = sparse_signals(B, N, s, seed=21)
    x = gb.omp(A, measure(A, X), s)
    rel = (x - X).norm(dim=1) / X.norm(dim=1)
    assert rel.max() < 1e-6


def test_per_problem_A_recovery():
    m, N, s, B = 64, 128, 6, 16
    A = gaussian(m, N, B=B, seed=22)
    X, _ = sparse_signals(B, N, s, seed=22)
    x = gb.omp(A, measure(A, X), s)
    assert ((x - X).norm(dim=1) / X.norm(dim=1)).max() < 1e-6


@pytest.mark.parametrize("engine", ["gram", "residual", None])
def test_complex_partial_dft_recovers(engine):
    m, N, s, B = 48, 128, 5, 8
    A = partial_dft(m, N, seed=5)
    g = torch.Generator().manual_seed(6)
    X = torch.zeros(B, N, dtype=torch.complex128)
    supp = torch.rand(B, N, generator=g).argsort(1)[:, :s]
    phase = torch.exp(2j * math.pi * torch.rand(B, s, generator=g, dtype=torch.float64))
    X.scatter_(1, supp, (1 + torch.rand(B, s, generator=g, dtype=torch.float64)) * phase)
    Y = X @ A.T
    x = _omp(A, Y, s, engine=engine) if engine else gb.omp(A, Y, s)
    assert x.dtype == torch.complex128
    assert ((x - X).norm(dim=1) / X.norm(dim=1)).max() < 1e-8
    for b in range(2):  # complex agreement with the numpy reference too
        ref, _ = numpy_omp(A.numpy(), Y[b].numpy(), s)
        np.testing.assert_allclose(x[b].numpy(), ref, atol=1e-10)


def test_complex_per_problem_and_real_y_promoted():
    m, N, s, B = 32, 64, 4, 4
    A = partial_dft(m, N, seed=7).expand(B, m, N).contiguous()
    X = torch.zeros(B, N, dtype=torch.complex128)
    X[:, [3, 10, 40, 41]] = torch.tensor([1.0, -2.0, 1.5j, 1 - 1j], dtype=torch.complex128)
    x = gb.omp(A, torch.einsum("bmn,bn->bm", A, X), s)
    assert (x - X).abs().max() < 1e-10


def test_float32_works():
    m, N, s, B = 64, 128, 6, 32
    A = gaussian(m, N, seed=31, dtype=torch.float32)
    X, _ = sparse_signals(B, N, s, seed=31, dtype=torch.float32)
    Y = measure(A, X)
    for engine in ("gram", "residual"):
        x = _omp(A, Y, s, engine=engine)
        assert x.dtype == torch.float32
        assert ((x - X).norm(dim=1) / X.norm(dim=1)).max() < 1e-4
    xc = gb.omp(partial_dft(32, 64).to(torch.complex64), torch.randn(3, 32).to(torch.complex64), 5)
    assert xc.dtype == torch.complex64 and torch.isfinite(xc).all()


# ---- weights ---------------------------------------------------------------------------------------

def test_zero_weight_forbids_index_and_oracle_weights_recover():
    m, N, s, B = 32, 80, 6, 16
    A = gaussian(m, N, seed=41)
    X, supp = sparse_signals(B, N, s, seed=41)
    Y = measure(A, X)
    plain = gb.omp(A, Y, s)
    j = int(plain[0].abs().argmax())
    w = torch.ones(N)
    w[j] = 0
    assert (gb.omp(A, Y, s, weights=w)[:, j] == 0).all()
    # oracle weights: indicator of the true support (per problem), even at s close to m
    Xh, supph = sparse_signals(B, N, 14, seed=42)
    Yh = measure(A, Xh)
    oracle = torch.zeros(B, N, dtype=torch.float64).scatter_(1, supph, 1.0)
    x = gb.omp(A, Yh, 14, weights=oracle)
    assert ((x - Xh).norm(dim=1) / Xh.norm(dim=1)).max() < 1e-8
    assert (x[oracle == 0] == 0).all()
    # negative weights act as their absolute value; scalar scaling does not change the result
    torch.testing.assert_close(gb.omp(A, Y, s, weights=-3 * torch.ones(N)), plain, rtol=0, atol=1e-12)


def test_weights_matching_numpy_weighted_reference():
    m, N, s, B = 20, 50, 6, 6
    A = gaussian(m, N, seed=43)
    Y = torch.randn(B, m, generator=torch.Generator().manual_seed(44), dtype=torch.float64)
    W = torch.rand(B, N, generator=torch.Generator().manual_seed(45), dtype=torch.float64) + 0.1
    x = gb.omp(A, Y, s, weights=W)
    for b in range(B):
        An, yn, wn = A.numpy(), Y[b].numpy(), W[b].numpy()
        S, r = [], yn.copy()
        for _ in range(s):
            c = np.abs(wn * (An.T @ r))
            c[S] = -1
            S.append(int(np.argmax(c)))
            z = np.linalg.lstsq(An[:, S], yn, rcond=None)[0]
            r = yn - An[:, S] @ z
        ref = np.zeros(N)
        ref[S] = z
        np.testing.assert_allclose(x[b].numpy(), ref, atol=1e-10)


def test_fewer_admissible_atoms_than_n_iter_stops_cleanly():
    m, N, B = 20, 40, 5
    A = gaussian(m, N, seed=46)
    Y = torch.randn(B, m, generator=torch.Generator().manual_seed(47), dtype=torch.float64)
    w = torch.zeros(N)
    w[[2, 9, 30]] = 1
    path = gb.omp(A, Y, 8, weights=w, return_path=True)
    x = gb.omp(A, Y, 8, weights=w)
    assert torch.isfinite(x).all()
    assert ((x != 0).sum(1) <= 3).all() and (x[:, w == 0] == 0).all()
    assert torch.equal(path[:, 3], path[:, -1])


# ---- stopping, path, degenerate input --------------------------------------------------------------

@pytest.mark.parametrize("tol", [0.3, 1e-3, 1e-9])
@pytest.mark.parametrize("shared", [True, False])
def test_tol_stopping(tol, shared):
    m, N, s, B = 40, 100, 20, 24
    A = gaussian(m, N, B=None if shared else B, seed=51)
    X, _ = sparse_signals(B, N, 6, seed=51)
    Y = measure(A, X) + 1e-2 * torch.randn(B, m, generator=torch.Generator().manual_seed(52), dtype=torch.float64)
    Y[:4] = measure(A, X)[:4]   # some noiseless problems (residual reaches ~0 after 6 atoms)
    path = gb.omp(A, Y, s, tol=tol, return_path=True)
    x = gb.omp(A, Y, s, tol=tol)
    torch.testing.assert_close(path[:, -1], x, rtol=0, atol=0)
    n_used = (x != 0).sum(1)
    r = Y - measure(A, x)
    rel = r.norm(dim=1) / Y.norm(dim=1)
    assert (n_used <= s).all()
    stopped = n_used < s
    assert (rel[stopped] <= tol * (1 + 1e-9)).all()
    # the iterate before the last atom still had ||r|| > tol ||y||: it stopped at the first chance
    for b in range(B):
        k = int(n_used[b])
        if k > 0:
            rb = Y[b] - measure(A if shared else A[b:b + 1], path[b:b + 1, k - 1])[0]
            assert rb.norm() > tol * Y[b].norm()
    # and it is a prefix of the run without tol
    full = gb.omp(A, Y, s, return_path=True)
    for b in range(B):
        k = int(n_used[b])
        torch.testing.assert_close(x[b], full[b, k], rtol=0, atol=1e-10)


def test_tol_large_gives_zero_and_tol_validated():
    A = gaussian(16, 32, seed=53)
    Y = torch.randn(3, 16, dtype=torch.float64)
    assert (gb.omp(A, Y, 4, tol=1.0) == 0).all()
    with pytest.raises(InvalidParameterError, match="omp: tol must be"):
        gb.omp(A, Y, 4, tol=-0.1)
    with pytest.raises(InvalidParameterError, match="omp: tol must be"):
        gb.omp(A, Y, 4, tol=math.nan)


def test_return_path_shapes_and_last_iterate():
    m, N, s, B = 20, 50, 7, 5
    for A in (gaussian(m, N, seed=61), gaussian(m, N, B=B, seed=62)):
        Y = torch.randn(B, m, generator=torch.Generator().manual_seed(63), dtype=torch.float64)
        path = gb.omp(A, Y, s, return_path=True)
        x = gb.omp(A, Y, s)
        assert isinstance(path, torch.Tensor) and path.shape == (B, s + 1, N)
        assert (path[:, 0] == 0).all()
        torch.testing.assert_close(path[:, -1], x, rtol=0, atol=0)
        assert torch.equal((path != 0).sum(-1), torch.arange(s + 1).expand(B, -1))


def test_zero_measurements_give_zero_and_mixed_batch():
    A = gaussian(16, 32, seed=71)
    Y = torch.randn(4, 16, generator=torch.Generator().manual_seed(72), dtype=torch.float64)
    Y[1] = 0
    path = gb.omp(A, Y, 5, return_path=True)
    x = gb.omp(A, Y, 5)
    assert torch.isfinite(x).all() and (x[1] == 0).all() and (path[1] == 0).all()
    torch.testing.assert_close(x[[0, 2, 3]], gb.omp(A, Y[[0, 2, 3]], 5), rtol=0, atol=1e-12)
    assert (gb.omp(A.expand(4, -1, -1), torch.zeros(4, 16, dtype=torch.float64), 5) == 0).all()


@pytest.mark.parametrize("shared", [True, False])
def test_duplicated_column_never_both_selected(shared):
    m, N, s, B = 16, 32, 10, 30
    A = gaussian(m, N, seed=81)
    A[:, 7] = A[:, 6]
    A[:, 20] = 0
    X, _ = sparse_signals(B, N, 3, seed=81)
    X[:, [7, 20]] = 0
    X[:10, 6] = 2.0
    Y = X @ A.T
    Y[10:20] = torch.randn(10, m, generator=torch.Generator().manual_seed(82), dtype=torch.float64)
    AA = A if shared else A.expand(B, m, N).contiguous()
    path = gb.omp(AA, Y, s, return_path=True)
    x = gb.omp(AA, Y, s)
    assert torch.isfinite(path).all()
    assert not ((x[:, 6] != 0) & (x[:, 7] != 0)).any()
    assert (x[:, 20] == 0).all()
    # noiseless problems whose support was found: the extra atoms picked once the support spans y
    # are harmless (no blow-up, residual stays ~0)
    found = ((X[:10] != 0) <= (x[:10] != 0)).all(1)
    assert found.sum() >= 5
    res = (Y[:10] - x[:10] @ A.T).norm(dim=1) / Y[:10].norm(dim=1)
    assert (res[found] < 1e-10).all()
    assert x.abs().max() < 1e3 * X.abs().max()


def test_duplicate_in_weighted_run_stops_problem():
    """Only two admissible atoms, copies of each other: one is chosen, the copy stops the problem."""
    A = gaussian(12, 20, seed=83)
    A[:, 5] = A[:, 3]
    Y = torch.randn(2, 12, generator=torch.Generator().manual_seed(84), dtype=torch.float64)
    w = torch.zeros(20)
    w[[3, 5]] = 1
    x = gb.omp(A, Y, 4, weights=w)
    assert torch.isfinite(x).all()
    assert ((x != 0).sum(1) == 1).all() and (x[:, 5] == 0).all()


def test_empty_batch_and_extreme_scale():
    A = gaussian(16, 32, seed=91)
    assert gb.omp(A, torch.zeros(0, 16, dtype=torch.float64), 3).shape == (0, 32)
    X, _ = sparse_signals(4, 32, 3, seed=91)
    Y = X @ A.T
    for scale in (1e-150, 1e150):
        torch.testing.assert_close(gb.omp(A, Y * scale, 3) / scale, gb.omp(A, Y, 3), rtol=1e-9, atol=1e-12)


def test_deterministic_and_input_unchanged():
    A = gaussian(20, 40, seed=92)
    Y = torch.randn(6, 20, generator=torch.Generator().manual_seed(93), dtype=torch.float64)
    A0, Y0 = A.clone(), Y.clone()
    assert torch.equal(gb.omp(A, Y, 6), gb.omp(A, Y, 6))
    assert torch.equal(A, A0) and torch.equal(Y, Y0)


# ---- bad input -----------------------------------------------------------------------------------

A_ = gaussian(16, 32, seed=101)
Y_ = torch.randn(4, 16, generator=torch.Generator().manual_seed(102), dtype=torch.float64)
BAD = [
    ("y-wrong-m", lambda: gb.omp(A_, Y_[:, :-1], 3), ShapeError, r"omp: y must be of shape \(B, m\) with m = A.shape\[-2\] = 16"),
    ("y-1d", lambda: gb.omp(A_, Y_[0], 3), ShapeError, r"y\[None\]"),
    ("A-batch", lambda: gb.omp(A_.expand(3, -1, -1), Y_, 3), ShapeError, "B = y.shape"),
    ("A-1d", lambda: gb.omp(A_[0], Y_, 3), ShapeError, "omp: A must be of shape"),
    ("nan-A", lambda: gb.omp(A_.clone().fill_(math.nan), Y_, 3), NonFiniteError, "omp: A contains non-finite"),
    ("nan-y", lambda: gb.omp(A_, Y_.clone().fill_(math.nan), 3), NonFiniteError, "omp: y contains non-finite"),
    ("inf-y", lambda: gb.omp(A_, Y_.clone().fill_(math.inf), 3), NonFiniteError, "omp: y contains non-finite"),
    ("n_iter-0", lambda: gb.omp(A_, Y_, 0), InvalidParameterError, r"omp: n_iter must be an integer in \[1, 16\]"),
    ("n_iter-gt-m", lambda: gb.omp(A_, Y_, 17), InvalidParameterError, r"min\(m, N\) with m = 16, N = 32"),
    ("n_iter-gt-N", lambda: gb.omp(A_[:, :8], Y_, 9), InvalidParameterError, r"m = 16, N = 8"),
    ("n_iter-float", lambda: gb.omp(A_, Y_, 3.0), InvalidParameterError, "n_iter must be an integer"),
    ("n_iter-bool", lambda: gb.omp(A_, Y_, True), InvalidParameterError, "n_iter must be an integer"),
    ("weights-len", lambda: gb.omp(A_, Y_, 3, weights=torch.ones(5)), ShapeError, r"omp: weights must be of shape \(N,\) = \(32,\)"),
    ("weights-B", lambda: gb.omp(A_, Y_, 3, weights=torch.ones(3, 32)), ShapeError, "weights"),
    ("weights-nan", lambda: gb.omp(A_, Y_, 3, weights=torch.full((32,), math.nan)), NonFiniteError, "weights contains"),
    ("weights-complex", lambda: gb.omp(A_, Y_, 3, weights=torch.ones(32, dtype=torch.complex64)), DTypeError, "weights.dtype"),
    ("int-A", lambda: gb.omp(A_.long(), Y_, 3), DTypeError, "omp: A.dtype must be"),
    ("int-y", lambda: gb.omp(A_, Y_.long(), 3), DTypeError, "omp: y.dtype must be"),
    ("precision", lambda: gb.omp(A_, Y_.float(), 3), DTypeError, "same precision"),
    ("complex-y", lambda: gb.omp(A_, Y_.to(torch.complex128), 3), DTypeError, "y is complex"),
    ("list-y", lambda: gb.omp(A_, Y_.tolist(), 3), InvalidParameterError, "omp: y must be a torch.Tensor"),
    ("return_path", lambda: gb.omp(A_, Y_, 3, return_path="yes"), InvalidParameterError, "return_path must be a bool"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_raises(case):
    _, call, exc, match = case
    with pytest.raises(exc, match=match):
        call()


# ---- shared helper -------------------------------------------------------------------------------

@pytest.mark.parametrize("mkl", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.complex128])
def test_combine_rows_both_paths(dtype, mkl, monkeypatch):
    """CSR addmm (CPU with MKL) and embedding_bag (elsewhere) paths give base + sum coef * rows."""
    from greedybench.functional._linalg import combine_rows
    if not mkl:
        monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: False)
    g = torch.Generator().manual_seed(0)
    T = torch.randn(40, 9, generator=g, dtype=dtype)
    idx = torch.rand(5, 40, generator=g).argsort(1)[:, :4]
    coef = torch.randn(5, 4, generator=g, dtype=dtype)
    base = torch.randn(5, 9, generator=g, dtype=dtype)
    ref = (coef[:, :, None] * T[idx]).sum(1)
    tol = 1e-5 if dtype in (torch.float32, torch.complex64) else 1e-12
    torch.testing.assert_close(combine_rows(T, idx, coef), ref, rtol=0, atol=tol)
    torch.testing.assert_close(combine_rows(T, idx, coef, base=base), ref + base, rtol=0, atol=tol)
    torch.testing.assert_close(combine_rows(T, idx[:, :0], coef[:, :0], base=base), base)
    if dtype == torch.float64:  # the whole OMP on the fallback path
        A = gaussian(20, 50, seed=5)
        Y = torch.randn(4, 20, generator=g, dtype=dtype)
        x = _omp(A, Y, 6, engine="gram")
        for b in range(4):
            np.testing.assert_allclose(x[b].numpy(), numpy_omp(A.numpy(), Y[b].numpy(), 6)[0], atol=1e-10)


# ---- execution plan: blocks, worker threads, Gram-to-residual switch --------------------------------

def test_blocks_on_worker_threads_equal_one_block(monkeypatch):
    """Many blocks on the thread pool (forced) give the result of one block in the calling thread,
    with per-problem weights, tol and the path."""
    from greedybench.functional import _omp_parallel as par
    m, N, s, B = 40, 120, 10, 300
    A = gaussian(m, N, seed=121)
    X, _ = sparse_signals(B, N, s, seed=121)
    Y = measure(A, X) + 1e-3 * torch.randn(B, m, generator=torch.Generator().manual_seed(122), dtype=torch.float64)
    W = torch.rand(B, N, generator=torch.Generator().manual_seed(123), dtype=torch.float64) + 0.5
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = [_omp(A, Y, s, weights=W), _omp(A, Y, s, tol=0.05, return_path=True)]
        torch.set_num_threads(2)
        monkeypatch.setattr(par, "_BLOCK_BYTES", 8 * N * 8)          # -> blocks of _MIN_BLOCK = 64
        monkeypatch.setattr(par, "_MIN_PARALLEL_SECONDS", 0.0)      # always the pool
        assert len(par.blocks(B, par.block_size(B, N, 8), 2)) == 5
        got = [_omp(A, Y, s, weights=W), _omp(A, Y, s, tol=0.05, return_path=True)]
    finally:
        torch.set_num_threads(threads)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-12)
    assert torch.equal(got[0] != 0, ref[0] != 0)


def test_switch_from_gram_to_residual_mid_run(monkeypatch):
    """Correlations from G for the first supports and from A^H r afterwards: the same OMP."""
    import sys
    omp_mod = sys.modules[_omp.__module__]   # the module (its name is shadowed by the function)
    m, N, s, B = 30, 70, 9, 12
    A = gaussian(m, N, seed=131)
    Y = torch.randn(B, m, generator=torch.Generator().manual_seed(132), dtype=torch.float64)
    monkeypatch.setattr(omp_mod, "_plan", lambda A, B, n, engine: 4)
    x = gb.omp(A, Y, s)
    for b in range(B):
        np.testing.assert_allclose(x[b].numpy(), numpy_omp(A.numpy(), Y[b].numpy(), s)[0], atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gram_panels_hermitian_and_exact(dtype):
    from greedybench.functional._omp_parallel import gram_t
    A = torch.randn(50, 300, generator=torch.Generator().manual_seed(141), dtype=dtype)
    for workers in (1, 2):
        G = gram_t(A, workers)
        torch.testing.assert_close(G, A.mT @ A.conj(), rtol=0, atol=1e-12)
        assert torch.equal(G, G.mH)


def test_plan_follows_the_cost_model():
    """Gram updates while 2 N t c_g < 2 m t c_g + 2 m N; no G when the residual engine is cheaper."""
    from greedybench.functional.omp import _plan
    assert _plan(torch.zeros(256, 512, dtype=torch.float64), 2000, 32, None) == 32
    assert 1 < _plan(torch.zeros(256, 1024, dtype=torch.float64), 5000, 32, None) < 32
    assert _plan(torch.zeros(8064, 1207, dtype=torch.float64), 1200, 30, None) == 30
    assert _plan(torch.zeros(256, 4096, dtype=torch.float64), 10, 32, None) == 0      # small batch
    assert _plan(torch.zeros(3, 256, 512, dtype=torch.float64), 3, 32, None) == 0     # per-problem A
    assert _plan(torch.zeros(256, 512), 2000, 32, "residual") == 0
    assert _plan(torch.zeros(256, 512), 2000, 32, "gram") == 32


# ---- CUDA ------------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128, torch.float32])
@pytest.mark.parametrize("shared", [True, False])
def test_cuda_matches_cpu(dtype, shared):
    m, N, s, B = 64, 128, 8, 32
    if dtype.is_complex:
        A = partial_dft(m, N).to(dtype)
        A = A if shared else A.expand(B, m, N).contiguous()
        Y = measure(A, sparse_signals(B, N, s, seed=111)[0].to(dtype))
    else:
        A = gaussian(m, N, B=None if shared else B, seed=111, dtype=dtype)
        Y = measure(A, sparse_signals(B, N, s, seed=111, dtype=dtype)[0])
    w = torch.rand(N, generator=torch.Generator().manual_seed(112)).to(A.real.dtype) + 0.5
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    for kw in ({}, {"weights": w}, {"tol": tol}):
        p_cpu = gb.omp(A, Y, s, return_path=True, **kw)
        x_cpu = gb.omp(A, Y, s, **kw)
        kw_gpu = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
        p_gpu = gb.omp(A.cuda(), Y.cuda(), s, return_path=True, **kw_gpu)
        x_gpu = gb.omp(A.cuda(), Y.cuda(), s, **kw_gpu)
        assert x_gpu.device.type == "cuda"
        assert torch.equal(p_cpu != 0, p_gpu.cpu() != 0)
        atol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(x_gpu.cpu(), x_cpu, rtol=0, atol=atol)
