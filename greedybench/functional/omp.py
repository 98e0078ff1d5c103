"""Orthogonal Matching Pursuit, batched, with exact least squares by inverse-Cholesky updates.

Two interchangeable engines compute the same iterates (same supports, same least-squares values up
to rounding):

- ``"gram"`` (Batch-OMP, Rubinstein, Zibulevsky & Elad 2008): for a shared A, G = A^H A once and
  alpha0 = A^H y for the whole batch as one GEMM; each iteration recomputes the correlations
  ``c = alpha0 - G[:, S] x_S`` with a fused gathered row-combination from the cached G.
- ``"residual"``: for a per-problem A (B, m, N), or a shared A where the cost model prefers it
  (small batch, large N, n_iter comparable to m, GPUs), the correlations are ``A^H r`` (one GEMM
  for a shared A) with the residual ``r = y - A_S x_S`` kept explicitly.

Both keep the inverse Cholesky factor of ``A_S^H A_S`` (``_cholesky.inverse_cholesky_row``).
For a shared real A on CPU (no path asked for) a compiled per-signal Batch-OMP computes the same
iterates when numba is installed and the solve is large enough (``_fast_kernel``, the one place that
decides; ``_omp_compiled``, ``_omp_numba``).
"""

from __future__ import annotations

from typing import Optional

import torch

from .._validation import check_bool, check_int, check_positive, check_problem, real_dtype
from ._cholesky import inverse_cholesky_row
from . import _omp_compiled as compiled
from . import _omp_parallel as par
from ._linalg import combine_rows, rmatvec

# A chosen atom whose new squared Cholesky diagonal is <= _DEP_FACTOR * (k + 1) * eps * ||a_j||^2
# is taken as numerically dependent on the k atoms already chosen (the rounding error of
# ||a_j||^2 - ||w||^2 for an exactly dependent atom grows about linearly in k).
_DEP_FACTOR = 16.0
# Largest N for which the Gram engine may build the N x N matrix G.
_GRAM_MAX_N = 8192
# Cost of one Gram-update multiply-add (a gathered, memory-bound row of G) in GEMM flops, by the
# size of G in bytes (CPU, measured with MKL, one core: float64 GEMM 92 GFLOP/s against gathered
# rows at 14, 7.2 and 6.2 GFLOP/s for G of 2, 8 and 32 MB; float32 within 20 % of the same
# ratios); accelerators: roofline estimate (limits.md 3.4).
_GATHER_COST_CPU = ((2.5 * 2**20, 7.0), (9 * 2**20, 12.0), (float("inf"), 15.0))
_GATHER_COST_ACCEL = 40.0
# Above this size of G (bytes, CPU) the Gram updates run on one worker (see _omp).
_GRAM_SHARED_BYTES = 16 * 2**20


def omp(A, y, n_iter, *, weights=None, tol=None, return_path=False):
    r"""Orthogonal Matching Pursuit for a batch of problems y_b = A_b x_b (+ e_b).

    Starting from x = 0 and r = y, each iteration selects

        j = argmax_j |w_j (A^H r)_j|

    (ties go to the first index, as ``torch.argmax``; atoms already chosen are excluded), appends j
    to the support S and sets x_S to the exact least-squares solution argmin ||A_S z - y||, using
    an incremental inverse-Cholesky factor of A_S^H A_S (never a fresh solve).

    Parameters
    ----------
    A : Tensor of shape (m, N) or (B, m, N)
        Sensing matrix, shared by the batch or one per problem. float32/float64, real or complex,
        any device. Columns need not be normalised (the statistic is the plain correlation, as in
        scikit-learn's ``orthogonal_mp``).
    y : Tensor of shape (B, m)
        Measurements (same precision as A; a real y with a complex A is promoted).
    n_iter : int
        Number of atoms to select, in [1, min(m, N)].
    weights : None or Tensor of shape (N,) or (B, N), optional
        Real selection weights multiplying the statistic: j = argmax |w_j c_j|. ``w_j = 0``
        forbids index j; the 0/1 indicator of a set gives oracle-restricted OMP.
    tol : float >= 0, optional
        Per-problem stopping: a problem stops (its x no longer changes) as soon as
        ||r|| <= tol * ||y||. None (default) runs n_iter atoms.
    return_path : bool, default False
        Return every iterate instead of the last one (as every solver of the suite does).

    Returns
    -------
    x : Tensor of shape (B, N)
        The last iterate, in A's dtype (``return_path=False``).
    path : Tensor of shape (B, n_iter + 1, N)
        Instead of x when ``return_path``: iterates 0 (the zero vector) to n_iter; a problem that
        stopped early repeats its last iterate. ``path[:, -1]`` is x.

    Raises
    ------
    ShapeError, DTypeError, NonFiniteError, DeviceError, InvalidParameterError
        On inconsistent shapes, unsupported dtypes, NaN/Inf in A, y or weights, mixed devices,
        n_iter outside [1, min(m, N)] or a negative tol.

    Notes
    -----
    Degenerate cases (each problem independently, the batch continues):

    - y = 0 (more generally: every admissible correlation is exactly 0): no atom is selected and
      x = 0. A zero column has zero correlation and is never selected.
    - A selected atom numerically dependent on the chosen ones (new squared Cholesky diagonal
      ``<= 16 (k + 1) eps ||a_j||^2``, e.g. the copy of a chosen column, or an atom of zero
      correlation picked once the support spans y) stops that problem, which keeps its current
      solution (scikit-learn's "premature" stop). No NaN is produced for finite input.
    - Problems that stop (tol or degeneracy) stay in the batch with frozen values; the loop exits
      early once no problem is active.

    Engines and cost (B problems, k = atoms chosen so far, n = n_iter; flops count a multiply-add
    as 2):

    - Shared A, ``"gram"`` engine (Batch-OMP): G = A^H A once (2 m N^2) and alpha0 = A^H y for the
      batch in one GEMM (2 B m N). Iteration k costs 2 B N k flops for ``c = alpha0 - G[:, S] x_S``,
      one fused row-combination from the shared, cached G (``_linalg.combine_rows``: a CSR
      (B x N, k entries per row) times dense G ``addmm`` on CPU, ``embedding_bag`` on GPU): about
      8 B N k bytes of G-row reads that hit cache (G is 2 MiB at N = 512) plus 16 B N bytes of
      alpha0/c traffic, no (B, k, N) tensor is formed. Add 2 B k^2 (x2) for the inverse-Cholesky
      row and O(B N) passes for |w c|, the mask of chosen atoms and the argmax.
      Total 2 m N^2 + 2 B m N + B N n^2 + O(B N n) flops, independent of m per iteration;
      for B=2000, m=256, N=512, n=32: 0.13 (G) + 0.52 (alpha0) + 1.0 (loop) GFLOP, against
      16.8 GFLOP for the residual engine; the loop moves ~40 MB of (B, N) arrays per iteration
      (~1.3 GB in all, in cache-sized blocks) besides the G-row reads. It is memory-bound (< 1 flop/byte): the rate is
      set by each core's cache bandwidth (blocks on several cores add up).
    - ``"residual"`` engine (per-problem A, or a shared A with large N or a small batch): iteration
      k costs 2 B m N flops for ``A^H r`` (one GEMM when A is shared, compute-bound; a batched
      GEMV streaming 8 B m N bytes in float64 when A is per problem, memory-bound), 4 B m k for
      the inner products with the chosen columns and the residual, 2 B k^2 (x2) for the factor.
    - Shared A: the correlations of a support of size t come from G while that is cheaper,
      ``c_g 2 N t < c_g 2 m t + 2 m N``, and from ``A^H r`` (one GEMM) for larger t; G itself
      (about 1.25 m N^2 flops: the upper triangle in column panels, mirrored) is built only when
      that total beats the residual engine throughout, and only for N <= 8192. c_g is the cost
      of one gathered multiply-add in GEMM flops: on CPU 7, 12 or 15 for G up to 2.5 MB, 9 MB or
      larger (measured with MKL, one core: float64 GEMM 92 GFLOP/s, gathered rows of G 14, 7.2,
      6.2 GFLOP/s; the rows stop fitting a core's cache), 40 on accelerators (roofline estimate).
      For (m, N, n) = (256, 512, 32) G serves every iteration; (256, 1024, 32) switches to A^H r
      from t = 29, (512, 2048, 64) from t = 46; (8064, 1207, 30) uses G throughout.

    - Compiled kernel (shared real float32/float64 A on CPU, no ``return_path``, numba installed:
      the ``fast`` extra): the Gram form per signal (``_omp_numba``). G and alpha0 as above (GEMMs);
      then for each signal the chosen rows of G are copied into a per-signal (n, N) buffer, so
      iteration k's ``c = alpha0 - G[:, S] x_S`` is 2 N k flops over contiguous rows held in the
      core's cache (eight rows per pass over c) instead of the batched form's gathers from G and
      ~40 passes over (block, N) arrays; the argmax, the Cholesky row and the stopping rules are
      the torch engines' (same supports; values equal to ~1e-15 in float64). Used when
      ``1.25 m N^2 + 8 B N n^2 / 2 < 2 B m N (n - 1)`` (G plus the updates at 8 GEMM-flops per
      multiply-add, measured, against the residual engine) and the residual engine's flops
      exceed 5e9 (the first use in a process imports numba, 1-2 s; the first use on a machine
      compiles, about 6 s per dtype, then cached). Complex dtypes, a per-problem A, accelerators,
      ``return_path`` and an explicit engine keep the torch engines.

    Execution on CPU: the batch is cut into contiguous blocks whose (block, N) arrays take about
    2 MB (at least 64 problems, at least one block per thread), so the O(B N) passes of an
    iteration (|c|, mask, argmax, update) stay in cache. With ``torch.get_num_threads() > 1``
    and more than ~2 ms of work, the blocks (and the column panels of G) run on a process-wide
    pool of that many worker threads, each single-threaded (``torch.set_num_threads(1)`` inside
    the worker), one block at a time, whichever worker is free: the workers never wait for each
    other, so a core taken by another process slows only the blocks that run on it instead of
    stalling every operation's join (the 6-13x collapse of intra-op threading on a shared
    2-core machine). With one thread the blocks run in the calling thread. When G exceeds 16 MB
    and Gram updates dominate, the blocks run on one worker: the rows of G then come from memory
    that all cores share, and a second worker was 1.04-1.25x slower (N = 2048, measured).

    The residual norm for ``tol`` is downdated, ||r_k||^2 = ||y||^2 - sum |z_i|^2 (z the
    coefficients in the orthonormalised basis), when tol^2 >= 1e4 eps; for smaller tol the Gram
    engine forms r explicitly (2 B m k extra flops per iteration) to avoid the cancellation.

    Memory: O(B N + B n^2) besides A (and G, N^2), plus B (n + 1) N for ``return_path``.

    The function is not differentiable (the selection is hard); it runs under ``torch.no_grad``.
    Use ``soft_omp`` for gradients.

    References
    ----------
    Y. C. Pati, R. Rezaiifar & P. S. Krishnaprasad, "Orthogonal matching pursuit: recursive
    function approximation with applications to wavelet decomposition", Asilomar 1993.
    R. Rubinstein, M. Zibulevsky & M. Elad, "Efficient implementation of the K-SVD algorithm using
    batch orthogonal matching pursuit", Technion CS-2008-08, 2008.
    H. Zhu, W. Chen, Y. Wu, Y. Cao & Y. Zhang, "Efficient implementations for orthogonal matching
    pursuit", Electronics 9(9):1507, 2020.
    S. Mohammad-Taheri, M. J. Colbrook & S. Brugiapaglia, "Deep greedy unfolding: sorting out
    argsorting in greedy sparse recovery algorithms", arXiv:2505.15661, 2025 (weighted OMP).

    Examples
    --------
    >>> import torch, greedybench as gb
    >>> A = torch.randn(64, 128, dtype=torch.float64); A = A / A.norm(dim=0)
    >>> x0 = torch.zeros(10, 128, dtype=torch.float64); x0[:, :4] = 1.0
    >>> x = gb.omp(A, x0 @ A.T, 4)
    >>> x.shape
    torch.Size([10, 128])
    """
    caller = "omp"
    p = check_problem(A, y, caller=caller, weights=weights)
    high = min(p.m, p.N)
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1, high=high,
                       high_name=f"min(m, N) with m = {p.m}, N = {p.N}")
    if tol is not None:
        tol = float(check_positive("tol", tol, caller=caller, allow_zero=True))
    return_path = check_bool("return_path", return_path, caller=caller)
    return _omp(p.A, p.y, n_iter, weights=p.weights, tol=tol, return_path=return_path)


def _plan(A: torch.Tensor, B: int, n_iter: int, engine: Optional[str]) -> int:
    """k_gram: supports of size t < k_gram get their correlations from G, larger ones from A^H r.

    0 means no G at all (the residual engine). The cost model is in ``omp``'s Notes."""
    if A.dim() == 3 or engine == "residual":
        return 0
    if engine == "gram":
        return n_iter
    m, N = A.shape
    if N > _GRAM_MAX_N:
        return 0
    if A.device.type == "cpu":
        gbytes = N * N * A.element_size()
        cg = next(c for limit, c in _GATHER_COST_CPU if gbytes <= limit)
    else:
        cg = _GATHER_COST_ACCEL
    # flops-equivalents of one correlation update with t atoms chosen, per problem
    def gram(t):
        return cg * 2 * N * t

    def resid(t):
        return cg * 2 * m * t + 2 * m * N

    k_gram = next((t for t in range(1, n_iter) if gram(t) >= resid(t)), n_iter)
    with_g = 1.25 * m * N * N + B * (sum(gram(t) for t in range(1, k_gram))
                                     + sum(resid(t) for t in range(k_gram, n_iter)))
    without = B * sum(resid(t) for t in range(1, n_iter))
    return k_gram if with_g < without else 0


@torch.no_grad()
def _omp(A: torch.Tensor, y: torch.Tensor, n_iter: int, *, weights: Optional[torch.Tensor] = None,
         tol: Optional[float] = None, return_path: bool = False, engine: Optional[str] = None):
    """Batched OMP kernel; trusts its input (see ``omp``); x (B, N), or the path (B, n + 1, N).

    engine: None (cost model), 'gram' (G for every update), 'residual' (never G). On CPU the batch
    is cut into contiguous blocks run by single-threaded workers (``_omp_parallel``)."""
    B, m = y.shape
    N = A.shape[-1]
    dev, dt = A.device, A.dtype
    if y.dtype != dt:
        y = y.to(dt)
    if engine == "gram" and A.dim() == 3:
        raise ValueError("_omp: the gram engine needs a shared A of shape (m, N).")
    n = n_iter
    eps = torch.finfo(real_dtype(dt)).eps
    use_exact_resid = tol is not None and (tol * tol < 1e4 * eps)
    fast = _fast_kernel(A, B, n, engine, return_path)
    if fast is not None:
        return compiled.solve(fast, A, y, n, weights, tol, eps, use_exact_resid, _DEP_FACTOR)
    k_gram = _plan(A, B, n, engine)

    # thread policy: GEMM-equivalent flops of the whole solve decide inline or pooled
    flops = 2.0 * B * m * N + B * (n - k_gram) * 2.0 * m * N + B * N * min(n, k_gram) ** 2 * 8
    workers = par.workers_for(flops + (2.0 * m * N * N if k_gram else 0.0), dev)
    ctx = _Shared(A=A, n=n, k_gram=k_gram, eps=eps, tol=tol, use_exact_resid=use_exact_resid,
                  return_path=return_path)
    if k_gram:
        ctx.Gt = par.gram_t(A, workers)                   # (N, N), Gt[i, j] = a_j^H a_i = G[j, i]
        ctx.colnorm2 = torch.diagonal(ctx.Gt).real.contiguous()
        if ctx.Gt.numel() * ctx.Gt.element_size() > _GRAM_SHARED_BYTES and k_gram * 2 > n:
            # mostly Gram updates whose rows of G come from memory shared by all cores: a second
            # worker adds no bandwidth (measured 1.08-1.25x slower at N = 2048, both dtypes)
            workers = 1
    if A.dim() == 2 and (k_gram < n or use_exact_resid):
        ctx.At = A.mT.contiguous()                        # (N, m) rows a_j^T

    out = torch.zeros((B, n + 1, N) if return_path else (B, N), dtype=dt, device=dev)
    if dev.type == "cpu":
        size = par.block_size(B, N, A.element_size())
        ranges = par.blocks(B, size, workers)
    else:
        ranges = [(0, B)]
    wrow = weights is not None and weights.dim() == 2
    wabs = weights.abs() if weights is not None else None   # only |w_j c_j| matters

    def task(i0, i1):
        def f():
            _omp_block(ctx, A[i0:i1] if A.dim() == 3 else A, y[i0:i1],
                       wabs[i0:i1] if wrow else wabs, out[i0:i1])
        return f

    par.run([task(i0, i1) for i0, i1 in ranges], workers)
    return out


def _fast_kernel(A: torch.Tensor, B: int, n: int, engine: Optional[str], return_path: bool):
    """The compiled per-signal kernel (``_omp_numba``) where it applies and pays, else None.

    The one place that decides: a shared, real, float32/float64 A on CPU, no ``return_path``, no
    engine forced, numba importable, and G worth building (``_omp_compiled.plan``). Per-problem A,
    complex dtypes, accelerators and the path keep the batched torch engines."""
    if (engine is not None or return_path or A.dim() != 2 or A.device.type != "cpu"
            or A.dtype not in (torch.float32, torch.float64)):
        return None
    kernel = compiled.kernel()
    if kernel is None or A.shape[1] > _GRAM_MAX_N or not compiled.plan(A.shape[0], A.shape[1], B, n):
        return None
    return kernel


class _Shared:
    """What every block of one call shares: A, G^T and A^T (when used), the plan, the options."""

    def __init__(self, **kw):
        self.Gt = self.colnorm2 = self.At = None
        self.__dict__.update(kw)


def _omp_block(ctx: _Shared, A: torch.Tensor, y: torch.Tensor, wabs: Optional[torch.Tensor],
               out: torch.Tensor) -> None:
    """OMP on one contiguous block of problems; writes x (B, N) or the path (B, n + 1, N) to out."""
    B, m = y.shape
    N = A.shape[-1]
    dev, dt = A.device, A.dtype
    n, k_gram, eps, tol = ctx.n, ctx.k_gram, ctx.eps, ctx.tol
    shared = A.dim() == 2
    Gt, At = ctx.Gt, ctx.At

    sel = torch.zeros(B, n, dtype=torch.long, device=dev)   # chosen atoms in order
    coef = torch.zeros(B, n, dtype=dt, device=dev)           # -x_S (signs: one fused base + sum)
    Linv = torch.zeros(B, n, n, dtype=dt, device=dev)        # inverse Cholesky factor of A_S^H A_S
    a0S = torch.zeros(B, n, dtype=dt, device=dev)            # alpha0 on the support
    hist = torch.zeros(B, n + 1, n, dtype=dt, device=dev) if ctx.return_path else None
    AS = None if Gt is not None else torch.zeros(B, n, m, dtype=dt, device=dev)  # chosen columns

    alpha0 = rmatvec(A, y)                                   # (B, N) = A^H y, one GEMM when shared
    if tol is not None:
        ynorm2 = _abs2(y).sum(-1)                            # (B,)
        thr2 = (tol * tol) * ynorm2                          # stop when ||r||^2 <= thr2
        rnorm2 = ynorm2.clone()
        active = rnorm2 > thr2
    else:
        active = torch.ones(B, dtype=torch.bool, device=dev)
    # one host sync per iteration is free on CPU; on accelerators look every few iterations
    check_every = 1 if dev.type == "cpu" else 4

    c = alpha0.clone()
    k_done = 0
    for k in range(n):
        # ---- selection: j = argmax |w c| over the atoms not chosen yet (c is not needed after)
        stat = c.abs() if c.is_complex() else c.abs_()
        if wabs is not None:
            stat.mul_(wabs)
        if k:
            stat.scatter_(1, sel[:, :k], -1.0)
        val, j = stat.max(dim=1)

        # ---- inverse-Cholesky row of the new atom
        if Gt is not None:
            g = Gt.view(-1).take(j.unsqueeze(1) * N + sel[:, :k])   # (B, k): G[S, j] = a_S^H a_j
            nrm2 = ctx.colnorm2[j]
        else:
            aj = _column(A, j)                               # (B, m)
            AS[:, k] = aj
            g = torch.bmm(AS[:, :k].conj(), aj.unsqueeze(-1)).squeeze(-1)
            nrm2 = _abs2(aj).sum(-1)
        w_head, nu2 = inverse_cholesky_row(Linv, k, g, nrm2)
        ok = active & (val > 0) & (nu2 > (_DEP_FACTOR * (k + 1) * eps) * nrm2)
        active = ok
        inv_nu = torch.where(ok, nu2, 1.0).rsqrt_().mul_(ok).to(dt)   # 1/nu, or 0 if stopped
        sel[:, k] = j
        a0S[:, k] = alpha0.gather(1, j.unsqueeze(1)).squeeze(1)
        Linv[:, k, :k] = w_head * inv_nu.unsqueeze(1)
        Linv[:, k, k] = inv_nu
        row = Linv[:, k, :k + 1]                             # new row of L^{-1} (0 if stopped)
        z = (row * a0S[:, :k + 1]).sum(-1)                   # new coefficient q_k^H y
        coef[:, :k + 1] -= row.conj() * z.unsqueeze(1)       # x_S += z conj(row)
        k_done = k + 1
        if hist is not None:
            hist[:, k + 1] = coef

        # ---- correlations for the next selection (and the residual norm for tol)
        need_c = k + 1 < n
        e, cf = sel[:, :k + 1], coef[:, :k + 1]
        if k + 1 < k_gram:
            if need_c:
                c = combine_rows(Gt, e, cf, base=alpha0)     # alpha0 - G[:, S] x_S
            if tol is not None:
                if ctx.use_exact_resid:
                    rnorm2 = _abs2(combine_rows(At, e, cf, base=y)).sum(-1)
                else:
                    rnorm2 = (rnorm2 - _abs2(z)).clamp_min_(0)
        elif need_c or tol is not None:
            if shared:
                r = combine_rows(At, e, cf, base=y)          # y - A_S x_S
            elif AS is not None:
                r = torch.baddbmm(y.unsqueeze(-1), AS[:, :k + 1].mT, cf.unsqueeze(-1)).squeeze(-1)
            if need_c:
                c = rmatvec(A, r)
            if tol is not None:
                rnorm2 = _abs2(r).sum(-1)
        if tol is not None:
            active = active & (rnorm2 > thr2)
        if need_c and (k + 1) % check_every == 0 and not bool(active.any()):
            break

    if hist is None:
        out.scatter_add_(1, sel[:, :k_done], -coef[:, :k_done])
        return
    if k_done < n:
        hist[:, k_done + 1:] = coef.unsqueeze(1)
    out.scatter_add_(2, sel.unsqueeze(1).expand(B, n + 1, n), hist.neg_())


def _abs2(t: torch.Tensor) -> torch.Tensor:
    """|t|^2, real, without the square root (and without overflow for |t| < 1e154)."""
    if t.is_complex():
        return t.real.square() + t.imag.square()
    return t.square()


def _column(A: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Column j[b] of A (shared or per problem): (B, m)."""
    if A.dim() == 2:
        return A.mT[j]
    return torch.gather(A, 2, j.view(-1, 1, 1).expand(-1, A.shape[1], 1)).squeeze(-1)
