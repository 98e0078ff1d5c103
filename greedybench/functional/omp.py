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
"""

from __future__ import annotations

from typing import Optional

import torch

from .._validation import check_bool, check_int, check_positive, check_problem, real_dtype
from ._cholesky import inverse_cholesky_row
from ._linalg import combine_rows, rmatvec

# A chosen atom whose new squared Cholesky diagonal is <= _DEP_FACTOR * (k + 1) * eps * ||a_j||^2
# is taken as numerically dependent on the k atoms already chosen (the rounding error of
# ||a_j||^2 - ||w||^2 for an exactly dependent atom grows about linearly in k).
_DEP_FACTOR = 16.0
# Largest N for which the Gram engine may build the N x N matrix G.
_GRAM_MAX_N = 8192
# Engine dispatch (see _choose_engine): relative cost of a Gram-engine multiply-add.
_GATHER_COST_CPU = 2.5
_GATHER_COST_ACCEL = 40.0


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
        Also return every iterate.

    Returns
    -------
    x : Tensor of shape (B, N)
        The last iterate, in A's dtype.
    path : Tensor of shape (B, n_iter + 1, N)
        Only when ``return_path``: iterates 0 (the zero vector) to n_iter; a problem that stopped
        early repeats its last iterate. ``path[:, -1]`` equals ``x``.

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
      (~1.3 GB in all) besides the cached G-row reads. It is memory-bound (< 1 flop/byte), so it
      scales little with threads.
    - ``"residual"`` engine (per-problem A, or a shared A with large N or a small batch): iteration
      k costs 2 B m N flops for ``A^H r`` (one GEMM when A is shared, compute-bound; a batched
      GEMV streaming 8 B m N bytes in float64 when A is per problem, memory-bound), 4 B m k for
      the inner products with the chosen columns and the residual, 2 B k^2 (x2) for the factor.
    - The shared-A dispatch takes the Gram engine when ``2 m N^2 + c B N n^2 < 2 B m N n`` and
      N <= 8192, else the residual engine with one GEMM ``R A^*`` per iteration. c is the cost
      of one cached gather-multiply-add relative to one GEMM flop: 2.5 on CPU (measured, float64,
      it gives the Gram engine for the issue's B=2000, m=256, N=512, s=32, where it is 3.3x
      faster than the residual engine), 40 on GPUs (roofline estimate: memory-bound gathers vs
      GEMM peak, so the GEMM engine is preferred unless m >~ 20 n).

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


def _choose_engine(A: torch.Tensor, B: int, n_iter: int) -> str:
    """'gram' or 'residual' by the cost model in ``omp``'s Notes."""
    if A.dim() == 3:
        return "residual"
    m, N = A.shape
    if N > _GRAM_MAX_N:
        return "residual"
    # cost of one Gram-engine multiply-add (cached sparse row-combination, memory-bound) in units
    # of one GEMM flop: measured ~2.5 on CPU (2 threads, float64); on GPUs the roofline (bandwidth
    # vs GEMM peak, limits.md 3.4) puts it at ~40, i.e. Gram pays off only for m >~ 20 n_iter
    gather_cost = _GATHER_COST_CPU if A.device.type == "cpu" else _GATHER_COST_ACCEL
    gram = 2 * m * N * N + gather_cost * B * N * n_iter * n_iter
    resid = 2 * B * m * N * n_iter
    return "gram" if gram < resid else "residual"


@torch.no_grad()
def _omp(A: torch.Tensor, y: torch.Tensor, n_iter: int, *, weights: Optional[torch.Tensor] = None,
         tol: Optional[float] = None, return_path: bool = False, engine: Optional[str] = None):
    """Batched OMP kernel; trusts its input (see ``omp``). engine: None (auto), 'gram', 'residual'."""
    B, m = y.shape
    N = A.shape[-1]
    dev, dt = A.device, A.dtype
    rdt = real_dtype(dt)
    eps = torch.finfo(rdt).eps
    if y.dtype != dt:
        y = y.to(dt)
    if engine is None:
        engine = _choose_engine(A, B, n_iter)
    gram = engine == "gram"
    shared = A.dim() == 2
    if gram and not shared:
        raise ValueError("_omp: the gram engine needs a shared A of shape (m, N).")
    n = n_iter
    wabs = weights.abs() if weights is not None else None    # only |w_j c_j| matters

    sel = torch.zeros(B, n, dtype=torch.long, device=dev)   # chosen atoms in order
    coef = torch.zeros(B, n, dtype=dt, device=dev)           # -x_S (signs: one fused base + sum)
    Linv = torch.zeros(B, n, n, dtype=dt, device=dev)        # inverse Cholesky factor of A_S^H A_S
    a0S = torch.zeros(B, n, dtype=dt, device=dev)            # alpha0 on the support
    hist = torch.zeros(B, n + 1, n, dtype=dt, device=dev) if return_path else None

    alpha0 = rmatvec(A, y)                                   # (B, N) = A^H y, one GEMM when shared
    use_exact_resid = tol is not None and (tol * tol < 1e4 * eps)
    if gram:
        Gt = A.mT @ A.conj()                                 # (N, N), Gt[i, j] = a_j^H a_i = G[j, i]
        colnorm2 = torch.diagonal(Gt).real.contiguous()      # (N,)
    if shared and (not gram or use_exact_resid):
        At = A.mT.contiguous()                               # (N, m) rows a_j^T
    if not gram:
        AS = torch.zeros(B, n, m, dtype=dt, device=dev)      # chosen columns, as rows

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
        if gram:
            g = Gt[j.unsqueeze(1), sel[:, :k]]               # (B, k): G[S, j] = a_S^H a_j
            nrm2 = colnorm2[j]
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
        if gram:
            if need_c:
                c = combine_rows(Gt, e, cf, base=alpha0)     # alpha0 - G[:, S] x_S
            if tol is not None:
                if use_exact_resid:
                    rnorm2 = _abs2(combine_rows(At, e, cf, base=y)).sum(-1)
                else:
                    rnorm2 = (rnorm2 - _abs2(z)).clamp_min_(0)
        elif need_c or tol is not None:
            if shared:
                r = combine_rows(At, e, cf, base=y)          # y - A_S x_S
            else:
                r = torch.baddbmm(y.unsqueeze(-1), AS[:, :k + 1].mT, cf.unsqueeze(-1)).squeeze(-1)
            if need_c:
                c = rmatvec(A, r)
            if tol is not None:
                rnorm2 = _abs2(r).sum(-1)
        if tol is not None:
            active = active & (rnorm2 > thr2)
        if need_c and (k + 1) % check_every == 0 and not bool(active.any()):
            break

    x = torch.zeros(B, N, dtype=dt, device=dev).scatter_add_(1, sel[:, :k_done], -coef[:, :k_done])
    if hist is None:
        return x
    if k_done < n:
        hist[:, k_done + 1:] = coef.unsqueeze(1)
    path = torch.zeros(B, n + 1, N, dtype=dt, device=dev)
    path.scatter_add_(2, sel.unsqueeze(1).expand(B, n + 1, n), hist.neg_())
    return x, path


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
