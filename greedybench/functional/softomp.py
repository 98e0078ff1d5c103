"""Soft-OMP (reference 3.1): OMP whose argmax is relaxed to the first SoftSort row.

``_omp_kernel`` works on problems of shape ``(B, T, .)``: B problems, each replicated T times
(e.g. for a grid of T temperatures, with tau of shape (B or 1, T, 1)); A is ``(m, N)`` (shared)
or ``(B, m, N)`` and every product is one ``matmul``. The same kernel runs OMP itself
(``hard=True``), which ``bounds.py`` uses for its diagnostics, and it is OMP-Net's forward pass.
It has two loops with the same arithmetic: ``_omp_graph`` (autograd: fresh tensors, lists
stacked at the end) and ``_omp_inplace`` (no graph: buffers kept between calls, products written
in place); both return the QR factors that ``_omp_solve`` turns into x.
"""

from __future__ import annotations

from typing import List, NamedTuple

import torch

from .._validation import check_int, real_dtype
from . import _workspace
from ._soft_common import (check_per_iter, ldexp, mv, needs_graph, normalise, scaled_tau, setup,
                           w3)
from .softsort import _softmax_top1, _softmax_unnormalised_

__all__ = ["soft_omp"]


def soft_omp(A, y, n_iter, *, tau, weights=None, return_path=False):
    """Soft-OMP: OMP whose atom selection is the first SoftSort row, softmax(|w * A^H r| / tau).

    For n = 1..n_iter: p_n = softmax(|w * A^H r| / tau); P = [p_1; ...; p_n];
    z = argmin ||A P^T z - y|| (minimum-norm if rank deficient); x = P^T z; r = y - A x.

    Parameters
    ----------
    A : Tensor of shape (m, N) or (B, m, N)
    y : Tensor of shape (B, m)
    n_iter : int
        Number of iterations (soft atoms), 1 <= n_iter <= N.
    tau : float or 0-dim Tensor
        Temperature > 0 (differentiable if a tensor), at least the smallest normal number of the
        dtype (1.2e-38 in float32). tau -> 0 gives OMP.
    weights : None or Tensor of shape (N,) or (B, N)
        Multiply the selection statistic (differentiable).
    return_path : bool
        If True return only the path: all iterates (B, n_iter + 1, N), iterate 0 being 0.

    Returns
    -------
    Tensor of shape (B, N) (or the path), A's dtype.

    Notes
    -----
    Per iteration: two (B x m)(m x N)-sized products (A^H r, A p), O(B N) for the softmax and an
    O(B m n) Gram-Schmidt update of the QR factors of A P^T; x = P^T z is formed once. Data
    whose magnitude lies outside [2^-255, 2^255] (float64; [2^-31, 2^31] in float32), subnormal
    data included, is solved exactly rescaled by powers of two (tau with it), so the result is
    finite wherever x is.
    """
    caller = "soft_omp"
    prob, tau, _, return_path = setup(A, y, weights, return_path, caller, tau)
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1, high=prob.N, high_name="N")
    A, y, eA, eY = normalise(prob)
    tau = scaled_tau(tau, eA + eY, real_dtype(A.dtype))      # |A^H r| scales by 2^(eA + eY)
    out = _omp_kernel(A, y.unsqueeze(1), n_iter, tau, w3(prob.weights), return_path=return_path)
    return ldexp(out["x"].squeeze(1), eA - eY)


def _omp_kernel(A, Y, n_iter: int, tau, W, *, hard: bool = False, return_path: bool = False,
                record: bool = False, per_iter: bool = False) -> dict:
    """(Soft-)OMP on problems Y (B, T, m); see reference 3.1.

    ``W``: None, weights (N,) or (B, 1, N) used by every iteration, or with ``per_iter`` one
    weight vector per iteration, (n_iter, N) (OMP-Net with untied layers): iteration n then folds
    |W[n]| into its own copy of A^H (an O(m N) product, against the O(B m N) GEMM).

    Per iteration: v = |w * A^H r| (GEMM 1, |w| folded into A^H when shared);
    p = softmax((v - max v) / tau) (or the one-hot argmax if ``hard``); b = A p (GEMM 2). The
    new column b of B~ = A P^T is orthogonalised against the previous ones by classical
    Gram-Schmidt (two passes over the (B, T, n, m) basis), which updates the factors B~ = Q R and
    the residual r = y - Q Q^H y = y - A x without forming x. A column whose orthogonal part is
    below ``tol * ||b||`` with tol = sqrt(eps) (soft atoms nearly parallel, very large tau) is
    treated as dependent (truncated update: no new basis vector, R_nn = 1, z_n = 0, so everything
    stays finite and the loss of orthogonality of the single Gram-Schmidt pass stays below
    eps / tol); those problems get the minimum-norm least squares (pseudo-inverse with the same
    cut-off) at the end. x = P^T z is formed once (or once for the whole path).

    Returns a dict with ``x`` (B, T, N), or the path (B, T, n+1, N) with iterate 0 = 0, and with
    ``record`` the statistics ``v`` = |w * A^H r^(n-1)| (B, T, n, N).
    """
    if per_iter:
        check_per_iter(W, n_iter, A.shape[-1])
    loop = _omp_graph if needs_graph(A, Y, tau, W) else _omp_inplace
    f = loop(A, Y, n_iter, None if hard else tau, _adjoints(A, W, per_iter), record)
    out = {"x": _omp_solve(A, Y, f, return_path)}
    if record:
        out["v"] = torch.stack(f.stats, dim=-2)
    return out


class _Factors(NamedTuple):
    """What a loop leaves for ``_omp_solve``: B~ = A P^T = Q R and d = Q^H y, per iteration."""

    rcols: List[torch.Tensor]    # column n of R: (B, T, n + 1)
    d: List[torch.Tensor]        # d_n = q_n^H y (B, T)
    P: torch.Tensor              # selection rows (B, T, n, N), real
    dep: List[torch.Tensor]      # column n dependent (B, T) bool
    stats: List[torch.Tensor]    # with ``record``: v per iteration (B, T, N)


def _adjoints(A, W, per_iter: bool):
    """n -> (As, post): |r @ As| * post = |w * A^H r|. A shared weight vector is folded into
    A^H once (As = conj(A) * |w|, no per-iteration pass); per-problem weights (B, 1, N) are
    applied to the statistic (``post``); per-iteration weights fold W[n] in iteration n."""
    if per_iter:
        return lambda n: (A.conj() * W[n].abs(), None)
    if W is None:
        As, post = A.conj().resolve_conj(), None                     # materialised once
    elif W.dim() == 1:
        As, post = A.conj() * W.abs(), None
    else:
        As, post = A.conj().resolve_conj(), W.abs()
    return lambda n: (As, post)


def _gs_tol(A) -> float:
    return torch.finfo(real_dtype(A.dtype)).eps ** 0.5


def _new_diagonal(b1, h, tol: float):
    """R_nn and 1 / R_nn for the orthogonal part b1 (B, T, m) of a new column with Gram-Schmidt
    coefficients h (B, T, n) (None for the first column); a dependent column (||b1|| <=
    tol ||b||) gets R_nn = 1 and scale 0. Returns (diag (B, T, 1) real, scale in b1's dtype,
    dep (B, T, 1) bool)."""
    rho = torch.linalg.vector_norm(b1, dim=-1, keepdim=True)        # (B, T, 1)
    # ||b||^2 = ||h||^2 + rho^2 (Pythagoras; exact enough for a test at sqrt(eps), and no pass
    # over b, which the in-place b1 has overwritten)
    rho2 = rho.square()
    nb2 = rho2 if h is None else rho2 + torch.linalg.vector_norm(h, dim=-1, keepdim=True).square()
    dep = rho2 <= (tol * tol) * nb2
    diag = torch.where(dep, 1.0, rho)
    return diag, torch.where(dep, 0.0, 1.0 / diag).to(b1.dtype), dep


def _r_column(h, diag, dtype):
    diag = diag.to(dtype)
    return diag if h is None else torch.cat([h, diag], dim=-1)


def _dot(b1, r):
    """b1^H r per problem: (B, T, m) x (B, T, m) -> (B, T, 1)."""
    return (b1.conj().unsqueeze(-2) @ r.unsqueeze(-1)).squeeze(-1)


def _orthogonalise(Q: torch.Tensor, b: torch.Tensor, inplace: bool):
    """One classical Gram-Schmidt pass: h = Q^H b (..., n) and b1 = b - Q^T h (..., m) for an
    orthonormal basis Q (..., n, m) stored by rows.

    Two reads of Q, each a batched product over the flattened leading dimensions (the cost floor
    of this step: both are memory-bound). h is formed as the row b^T conj(Q)^T, which MKL's
    batched GEMM runs ~1.5x faster than the column conj(Q) b; with ``inplace`` b1 overwrites b.
    A single basis vector uses elementwise ops instead (a batched product with inner dimension 1
    is several times slower).
    """
    if Q.shape[-2] == 1:
        q = Q[..., 0, :]
        h = (q.conj().unsqueeze(-2) @ b.unsqueeze(-1)).squeeze(-1)  # (..., 1)
        return h, (b.addcmul_(q, h, value=-1) if inplace else torch.addcmul(b, q, h, value=-1))
    lead, (n, m) = b.shape[:-1], Q.shape[-2:]
    Q3, b3 = Q.reshape(-1, n, m), b.reshape(-1, 1, m)
    hT = torch.bmm(b3, Q3.conj().mT)                                 # (R, 1, n) = (Q^H b)^T
    b1 = b3.baddbmm_(hT, Q3, alpha=-1) if inplace else torch.baddbmm(b3, hT, Q3, alpha=-1)
    return hT.view(lead + (n,)), b1.view(b.shape)


def _omp_graph(A, Y, n_iter: int, tau, adjoint, record: bool) -> _Factors:
    """The loop under autograd: every intermediate is a fresh tensor, rows are normalised
    softmax rows (``tau=None``: one-hot argmax rows, the hard algorithm)."""
    tol = _gs_tol(A)
    r, Q, rows, rcols, ds, deps, stats = Y, [], [], [], [], [], []
    for n in range(n_iter):
        As, post = adjoint(n)
        v = (r @ As).abs()                                           # (B, T, N)
        if post is not None:
            v = v * post
        if record:
            stats.append(v)
        if tau is None:
            p = torch.zeros_like(v).scatter_(-1, v.argmax(-1, keepdim=True), 1.0)
        else:
            p = _softmax_top1(v, tau)
        b = mv(A, p.to(A.dtype))                                     # (B, T, m)
        h, b1 = _orthogonalise(torch.stack(Q, dim=-2), b, inplace=False) if n else (None, b)
        diag, scale, dep = _new_diagonal(b1, h, tol)
        d = _dot(b1, r) * scale                                      # (B, T, 1)
        q = b1 * scale
        r = torch.addcmul(r, q, d, value=-1)
        Q.append(q)
        rows.append(p)
        rcols.append(_r_column(h, diag, A.dtype))
        ds.append(d.squeeze(-1))
        deps.append(dep.squeeze(-1))
    return _Factors(rcols, ds, torch.stack(rows, dim=-2), deps, stats)


def _omp_inplace(A, Y, n_iter: int, tau, adjoint, record: bool) -> _Factors:
    """The loop outside autograd, allocating no (B, T, N) or (B, T, m) temporaries.

    Rows, basis, residual and new column live in buffers kept between calls (``_workspace``: CPU
    tensors are not cached by PyTorch's allocator, so fresh pages would be faulted in every
    iteration; measured 12% of the run at B = 1000, m = 200, N = 400). Row n is block n of a
    (n, B, T, N) buffer: GEMM 1 writes the statistic there (``out=``), the softmax overwrites it in
    place, and P is read back as a (B, T, n, N) view at the end.
    """
    dtype, dev = A.dtype, A.device
    lead, m, N = Y.shape[:-1], A.shape[-2], A.shape[-1]
    tol = _gs_tol(A)
    P = _workspace.buffer("omp_rows", (n_iter,) + lead + (N,), real_dtype(dtype), dev)
    Q = _workspace.buffer("omp_basis", (n_iter,) + lead + (m,), dtype, dev)
    col = _workspace.buffer("omp_col", lead + (m,), dtype, dev)
    r = _workspace.buffer("omp_res", lead + (m,), dtype, dev).copy_(Y)
    rcols, ds, deps, stats = [], [], [], []
    for n in range(n_iter):
        As, post = adjoint(n)
        v = P[n]
        if dtype.is_complex:
            torch.abs(r @ As, out=v)
        else:
            torch.matmul(r, As, out=v).abs_()
        if post is not None:
            v.mul_(post)
        if record:
            stats.append(v.clone())
        if tau is None:
            j = v.argmax(-1, keepdim=True)
            v.zero_().scatter_(-1, j, 1.0)
        else:
            _softmax_unnormalised_(v, v, tau)
            v.div_(v.sum(-1, keepdim=True))                          # the softmax row
        if dtype.is_complex:
            b = col.copy_(mv(A, v.to(dtype)))
        else:
            b = torch.matmul(v, A.mT, out=col)                       # (B, T, m)
        h, b1 = _orthogonalise(Q[:n].movedim(0, -2), b, inplace=True) if n else (None, b)
        diag, scale, dep = _new_diagonal(b1, h, tol)
        # d = q^H r (MGS-style) and r -= q d, read from b1 (contiguous, just written) rather than
        # from the basis slot q is stored in
        d = _dot(b1, r) * scale                                      # (B, T, 1)
        torch.mul(b1, scale, out=Q[n])
        r.addcmul_(b1, d * scale, value=-1)
        rcols.append(_r_column(h, diag, dtype))
        ds.append(d.squeeze(-1))
        deps.append(dep.squeeze(-1))
    return _Factors(rcols, ds, P.movedim(0, -2), deps, stats)


def _omp_solve(A, Y, f: _Factors, return_path: bool) -> torch.Tensor:
    """x = P^T z with R z = d (or the path of every x^(n), iterate 0 = 0), and the
    minimum-norm fallback for the problems with a dependent column."""
    n_iter = len(f.d)
    Rmat = torch.stack([torch.nn.functional.pad(c, (0, n_iter - c.shape[-1])) for c in f.rcols],
                       dim=-1)                                       # (B, T, n, n), upper
    d = torch.stack(f.d, dim=-1)                                     # (B, T, n)
    if return_path:
        # z^(n) = R[:n,:n]^{-1} d[:n] for every n at once: Rinv is upper triangular, so the
        # leading block of the inverse is the inverse of the leading block.
        eye = torch.eye(n_iter, dtype=A.dtype, device=A.device).expand_as(Rmat)
        Rinv = torch.linalg.solve_triangular(Rmat, eye, upper=True)
        Zc = torch.cumsum(Rinv * d.unsqueeze(-2), dim=-1)           # Zc[k, n-1] = z^(n)_k
        X = _times_real(Zc.mT, f.P)                                  # (B, T, n, N)
    else:
        z = torch.linalg.solve_triangular(Rmat, d.unsqueeze(-1), upper=True).squeeze(-1)
        X = _times_real(z.unsqueeze(-2), f.P).squeeze(-2)           # (B, T, N)
    dep_any = torch.stack(f.dep, dim=-1).any(-1)                     # (B, T)
    if bool(dep_any.any()):
        X = _min_norm_fix(A, Y, f.P, X, dep_any, return_path, _gs_tol(A))
    if return_path:
        X = torch.cat([torch.zeros_like(X[..., :1, :]), X], dim=-2)
    return X


def _times_real(L: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """L @ P for a real P (..., n, N) and L (..., a, n) real or complex, reading P once.

    A complex L is multiplied as [Re L; Im L] (one batched product of twice the rows) instead of
    converting P (B n N entries) to complex first."""
    if not L.is_complex():
        return L @ P
    a = L.shape[-2]
    out = torch.cat([L.real, L.imag], dim=-2) @ P
    return torch.complex(out[..., :a, :], out[..., a:, :])


def _min_norm_fix(A, Y, P, X, bad, return_path, rtol):
    """Replace x = P^T z by the minimum-norm least-squares solution on problems ``bad`` (B, T).

    P (B, T, n, N) are the soft rows, A (m, N) or (B, m, N); the columns A P^T are recomputed for
    the bad problems only. SVD pseudo-inverse (differentiable) with singular values below
    ``rtol * sigma_max`` treated as zero.
    """
    Pb = P[bad].to(A.dtype)                                          # (K, n, N)
    Ab = A if A.dim() == 2 else A.unsqueeze(1).expand(bad.shape + A.shape[-2:])[bad]
    Bb, Yb = Ab @ Pb.mT, Y[bad]                                      # (K, m, n), (K, m)
    n_tot = Bb.shape[-1]
    ns = range(1, n_tot + 1) if return_path else [n_tot]
    xs = []
    # the SVD runs in double precision: in single precision it can fail to converge on the
    # collapsed soft columns this fallback exists for (singular values down to 1e-99)
    wide = torch.complex128 if Bb.is_complex() else torch.float64
    for n in ns:
        z = torch.linalg.pinv(Bb[..., :n].to(wide), rtol=rtol) @ Yb.unsqueeze(-1).to(wide)  # (K, n, 1)
        xs.append((z.to(Bb.dtype).mT @ Pb[:, :n]).squeeze(-2))
    X = X.clone()
    X[bad] = torch.stack(xs, dim=-2) if return_path else xs[0]
    return X
