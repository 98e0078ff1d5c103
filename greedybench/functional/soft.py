"""Soft (differentiable) greedy solvers: Soft-OMP, Soft-IHT, Soft-HTP, Soft-CoSaMP (reference 3).

Each replaces the hard argmax / top-s selection of its greedy algorithm by SoftSort rows at
temperature ``tau`` (``functional/softsort.py``) and equals the hard algorithm as tau -> 0
(exactly, once the rows underflow to one-hot).

Layout of the private kernels. ``_omp_kernel`` and ``_iht_kernel`` work on problems of shape
``(B, T, .)``: B problems, each replicated T times (e.g. for a grid of T temperatures, with tau of
shape (B or 1, T, 1)); A is ``(m, N)`` (shared) or ``(B, m, N)`` and every product is one
``matmul`` (one GEMM for a shared A, one batched GEMM with T rows per problem otherwise). The
same kernels run the hard algorithms (``hard=True``), which ``bounds.py`` uses for its
diagnostics. The public functions use T = 1. Soft-HTP and Soft-CoSaMP use the ``(B, .)`` helpers of
``_linalg``.
"""

from __future__ import annotations

import torch

from .._validation import ShapeError, check_int, check_positive, check_problem, real_dtype
from ._linalg import matvec, rmatvec
from . import _workspace
from ._select import Workspace, top_s_warm
from .softsort import (
    _soft_topk_mask,
    _soft_topk_mask_,
    _softmax_unnormalised_,
    _softmax_top1,
    _softsort_rows,
)

# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _mv(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """A x for X (B, T, N) -> (B, T, m); one (batched) GEMM, A (m, N) or (B, m, N)."""
    return X @ A.mT


def _rmv(A: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """A^H r for R (B, T, m) -> (B, T, N)."""
    return R @ A.conj()


def _stat(c: torch.Tensor, w) -> torch.Tensor:
    """Selection statistic |w * c| (reference 1: weights multiply the statistic)."""
    v = c.abs()
    return v if w is None else v * w.abs()


def _as_scalar(value, name: str, caller: str, dtype, device):
    """Validated positive scalar: a Python float, or a 0-dim tensor (kept for autograd)."""
    value = check_positive(name, value, caller=caller)
    if isinstance(value, torch.Tensor):
        return value.reshape(()).to(dtype=dtype, device=device)
    return float(value)


def _gradient_step(A, x, y, step):
    """u = x + step * A^H (y - A x) for (B, N) vectors (IHT/HTP's first half-step)."""
    return x + step * rmatvec(A, y - matvec(A, x))


def _ls_on_rows(A: torch.Tensor, rows: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x = rows^T z with z = argmin ||A rows^T z - y|| (minimum norm if rank deficient).

    rows (B, k, N) real (soft or one-hot selection rows), y (B, m) -> x (B, N). Duplicated or
    nearly parallel rows make A rows^T (nearly) rank deficient; the truncated solve then gives
    the minimum-norm solution, whose x is the least-squares fit on the union of the atoms.
    """
    R = rows.to(A.dtype)
    Bt = R @ A.mT                                                   # (B, k, m) = (A rows^T)^T
    z = _lstsq_trunc(Bt.mT, y)                                      # (B, k)
    return (z.unsqueeze(-2) @ R).squeeze(-2)


def _lstsq_trunc(M: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Truncated-SVD least squares z = M^+ y, M (B, m, k), y (B, m) -> (B, k).

    Soft selection rows overlap (Soft-CoSaMP stacks the previous soft top-s rows under the new
    soft top-2s rows, and an index present in both gives two rows that differ by ~exp(-gap/tau)),
    so A rows^T is often nearly singular: condition numbers up to 1e16 were seen at tau = 1e-2.
    The normal equations (``_linalg.lstsq``) square that, and even an exact QR solve then fits the
    noise with huge cancelling coefficients. Singular values below sqrt(eps) * sigma_max are
    therefore treated as zero (minimum-norm solution of the truncated problem): as tau -> 0 the
    duplicated rows become exact and this is the least-squares fit on the union of the atoms,
    i.e. the hard algorithm. Differentiable (SVD-based pseudo-inverse).
    """
    rtol = torch.finfo(real_dtype(M.dtype)).eps ** 0.5
    return (torch.linalg.pinv(M, rtol=rtol) @ y.unsqueeze(-1)).squeeze(-1)


def _path_out(path, return_path):
    """Stack iterates x^0..x^n to (B, n+1, N), or return the last one."""
    return torch.stack(path, dim=1) if return_path else path[-1]


# --------------------------------------------------------------------------------------------
# Soft-OMP / OMP
# --------------------------------------------------------------------------------------------


class _Rows:
    """Vectors (..., W) appended one per iteration and read back stacked as (..., n, W).

    Without autograd recording this is a preallocated (n_max, ..., W) buffer written in place
    (``slot()`` is the next free block, contiguous, so a result can be written there directly with
    ``out=``) and read back as a (..., n, W) view; when a graph is recorded it is a list stacked on
    demand, since in-place writes into a buffer that earlier products saved would invalidate the
    graph.
    """

    def __init__(self, lead, width: int, dtype, device, n_max: int, inplace: bool, name: str):
        self.n = 0
        shape = (n_max,) + tuple(lead) + (width,)
        self.buf = _workspace.buffer(name, shape, dtype, device) if inplace else None
        self.items = []

    def slot(self) -> torch.Tensor:
        return self.buf[self.n]

    def append(self, row: torch.Tensor) -> None:
        if self.buf is not None:
            slot = self.slot()
            if row.data_ptr() != slot.data_ptr():
                slot.copy_(row)
        else:
            self.items.append(row)
        self.n += 1

    def get(self) -> torch.Tensor:
        if self.buf is not None:
            return self.buf[: self.n].movedim(0, -2)
        return torch.stack(self.items, dim=-2)


def _check_per_iter(W, n_iter: int, N: int) -> None:
    """Per-iteration weights must be a (n_iter, N) tensor (internal contract, checked once)."""
    if not isinstance(W, torch.Tensor) or W.shape != (n_iter, N):
        got = tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__
        raise ShapeError(f"per-iteration weights must have shape (n_iter, N) = ({n_iter}, {N}); got {got}.",
                         expected=f"({n_iter}, {N})", got=got)


def _orthogonalise(Q: torch.Tensor, b: torch.Tensor, inplace: bool):
    """One classical Gram-Schmidt pass: h = Q^H b (..., n) and b1 = b - Q^T h (..., m) for an
    orthonormal basis Q (..., n, m) stored by rows.

    Two reads of Q, each a batched product over the flattened leading dimensions (the cost floor
    of this step: both are memory-bound). h is formed as the row b^T conj(Q)^T, which MKL's
    batched GEMM runs ~1.5x faster than the column conj(Q) b; outside autograd b1 overwrites b.
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


def _needs_graph(*ts) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in ts)


def _selection_scales(tau, W, hard: bool):
    """Split the statistic scaling |w| / tau into a column scaling of A^H (``pre``, shape (N,) or
    scalar: folded into the GEMM once per call) and a per-problem scaling (``post``, applied to
    |A^H r|): |r @ (A^H * pre)| * post = |w * A^H r| / tau (1 / tau omitted if ``hard``)."""
    pre = post = None
    if W is not None:
        if W.dim() == 1:
            pre = W.abs()
        else:
            post = W.abs()
    if not hard:
        if isinstance(tau, torch.Tensor) and tau.dim() > 0:          # a grid of temperatures
            post = 1.0 / tau if post is None else post / tau
        else:
            pre = 1.0 / tau if pre is None else pre / tau
    return pre, post


def _omp_kernel(A, Y, n_iter: int, tau, W, *, hard: bool = False, return_path: bool = False,
                record: bool = False, per_iter: bool = False) -> dict:
    """(Soft-)OMP on problems Y (B, T, m); see reference 3.1.

    ``W``: None, weights (N,) or (B, 1, N) used by every iteration, or with ``per_iter`` one
    weight vector per iteration, (n_iter, N) (OMP-Net with untied layers): iteration n then folds
    |W[n]| / tau into its own copy of A^H (an O(m N) product, against the O(B m N) GEMM).

    Per iteration: c = A^H r (GEMM 1, with |w| / tau folded into A^H when shared);
    p = softmax(|w c| / tau) (or the one-hot argmax if ``hard``); b = A p (GEMM 2). The new
    column b of B~ = A P^T is orthogonalised against the previous ones by classical Gram-Schmidt
    (two passes over the (B, T, n, m) basis), which updates the factors B~ = Q R and the residual
    r = y - Q Q^H y = y - A x without forming x. A column whose orthogonal part is below
    ``tol * ||b||`` with tol = sqrt(eps) (soft atoms nearly parallel, very large tau) is treated as
    dependent (truncated update: no new basis vector, R_nn = 1, z_n = 0, so everything stays
    finite and the loss of orthogonality of the single Gram-Schmidt pass stays below
    eps / tol); those problems get the minimum-norm least squares (pseudo-inverse with the same
    cut-off) at the end. x = P^T z is formed once (or once for the whole path).

    Outside autograd the rows are not normalised: row n is e_n = s_n p_n with s_n its sum
    (``_softmax_unnormalised_``, one pass fewer than a softmax). Nothing downstream needs s_n:
    b_n, h_n and R_nn all scale by s_n, so q_n, r and d = Q^H y are unchanged, R becomes R S and
    z becomes S^-1 z, and x = (S P)^T S^-1 z = P^T z. The loop allocates no (B, T, N) or
    (B, T, m) temporaries: rows, basis, statistic and new column live in buffers kept between
    calls (CPU tensors are not cached by PyTorch's allocator, so fresh pages would be faulted in
    every iteration).

    Returns a dict with ``x`` (B, T, N), or the path (B, T, n+1, N) with iterate 0 = 0, and with
    ``record`` the statistics ``v`` = |w * A^H r^(n-1)| (B, T, n, N) (hard mode: unscaled).
    """
    dtype = A.dtype
    m, N = A.shape[-2], A.shape[-1]
    rdt = real_dtype(dtype)
    dev = A.device
    lead = Y.shape[:-1]                                              # (B, T)
    tol = torch.finfo(rdt).eps ** 0.5
    inplace = not _needs_graph(A, Y, tau, W)
    if per_iter:
        _check_per_iter(W, n_iter, N)
    else:
        pre, post = _selection_scales(tau, W, hard)
        As = A.conj() if pre is None else A.conj() * pre             # (m, N) or (B, m, N)
    Qs = _Rows(lead, m, dtype, dev, n_iter, inplace, "omp_basis")     # orthonormal basis q_n
    # row n is computed in place in block n of a (n, B, T, N) buffer (GEMM 1 writes the statistic
    # there, the exponentials overwrite it; contiguous blocks: each iteration writes cold memory,
    # ~10% faster than strided rows), and P is read back as the (B, T, n, N) view at the end
    if inplace:
        Pbuf = _workspace.buffer("omp_rows", (n_iter,) + lead + (N,), rdt, dev)
        col = _workspace.buffer("omp_col", lead + (m,), dtype, dev)
        r = _workspace.buffer("omp_res", lead + (m,), dtype, dev).copy_(Y)  # updated in place below
    else:
        r = Y
    rows, rcols, ds, deps, stats = [], [], [], [], []
    for n in range(n_iter):
        if per_iter:
            pre, post = _selection_scales(tau, W[n], hard)
            As = A.conj() * pre
        if inplace:
            v = Pbuf[n]
            c = torch.matmul(r, As, out=v) if not dtype.is_complex else r @ As
            torch.abs(c, out=v)
            if post is not None:
                v.mul_(post)
        else:
            v = (r @ As).abs()                                       # (B, T, N)
            if post is not None:
                v = v * post
        if record:
            stats.append(v.clone())
        if hard:
            j = v.argmax(-1, keepdim=True)
            p = (v.zero_() if inplace else torch.zeros_like(v)).scatter_(-1, j, 1.0)
        else:                                                        # logits already / tau
            p = _softmax_unnormalised_(v, v) if inplace else _softmax_top1(v, None)
        if inplace and not dtype.is_complex:
            b = torch.matmul(p, A.mT, out=col)                       # (B, T, m)
        else:
            b = _mv(A, p.to(dtype))
            if inplace:
                b = col.copy_(b)
        if n:
            h, b1 = _orthogonalise(Qs.get(), b, inplace)
        else:
            b1 = b
        rho = torch.linalg.vector_norm(b1, dim=-1, keepdim=True)    # (B, T, 1)
        # ||b||^2 = ||h||^2 + rho^2 (Pythagoras; exact enough for a test at sqrt(eps), and no pass
        # over b, which the in-place b1 has overwritten)
        rho2 = rho.square()
        nb2 = rho2 + torch.linalg.vector_norm(h, dim=-1, keepdim=True).square() if n else rho2
        dep = rho2 <= (tol * tol) * nb2
        diag = torch.where(dep, 1.0, rho)
        scale = torch.where(dep, 0.0, 1.0 / diag).to(dtype)
        # d = q^H r (MGS-style) and r -= q d, read from b1 (contiguous, just written) rather than
        # from the basis slot q is stored in
        d = (b1.conj().unsqueeze(-2) @ r.unsqueeze(-1)).squeeze(-1) * scale    # (B, T, 1)
        q = torch.mul(b1, scale, out=Qs.slot()) if inplace else b1 * scale
        r = r.addcmul_(b1, d * scale, value=-1) if inplace else torch.addcmul(r, q, d, value=-1)
        diag = diag.to(dtype)
        rcols.append(torch.cat([h, diag], dim=-1) if n else diag)
        Qs.append(q)
        if not inplace:
            rows.append(p)
        ds.append(d.squeeze(-1))
        deps.append(dep.squeeze(-1))
    Rmat = torch.stack([torch.nn.functional.pad(c, (0, n_iter - c.shape[-1])) for c in rcols],
                       dim=-1)                                       # (B, T, n, n), upper
    d = torch.stack(ds, dim=-1)                                      # (B, T, n)
    P = Pbuf.movedim(0, -2) if inplace else torch.stack(rows, dim=-2)  # (B, T, n, N), real
    if return_path:
        # z^(n) = R[:n,:n]^{-1} d[:n] for every n at once: Rinv is upper triangular, so the
        # leading block of the inverse is the inverse of the leading block.
        eye = torch.eye(n_iter, dtype=dtype, device=dev).expand_as(Rmat)
        Rinv = torch.linalg.solve_triangular(Rmat, eye, upper=True)
        Zc = torch.cumsum(Rinv * d.unsqueeze(-2), dim=-1)           # Zc[k, n-1] = z^(n)_k
        X = _times_real(Zc.mT, P)                                     # (B, T, n, N)
    else:
        z = torch.linalg.solve_triangular(Rmat, d.unsqueeze(-1), upper=True).squeeze(-1)
        X = _times_real(z.unsqueeze(-2), P).squeeze(-2)              # (B, T, N)
    dep_any = torch.stack(deps, dim=-1).any(-1)                      # (B, T)
    if bool(dep_any.any()):
        X = _min_norm_fix(A, Y, P, X, dep_any, return_path, tol)
    if return_path:
        X = torch.cat([torch.zeros_like(X[..., :1, :]), X], dim=-2)
    out = {"x": X}
    if record:
        out["v"] = torch.stack(stats, dim=-2)
    return out


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

    P (B, T, n, N) are the soft rows (normalised here: the in-place path keeps them unnormalised,
    and the minimum-norm z depends on the scale of the columns), A (m, N) or (B, m, N); the
    columns A P^T are recomputed for the bad problems only. SVD pseudo-inverse (differentiable)
    with singular values below ``rtol * sigma_max`` treated as zero.
    """
    Pb = P[bad]                                                      # (K, n, N), real
    Pb = (Pb / Pb.sum(-1, keepdim=True)).to(A.dtype)
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


# --------------------------------------------------------------------------------------------
# Soft-IHT / IHT
# --------------------------------------------------------------------------------------------


def _iht_kernel(A, Y, s: int, tau, step, n_iter: int, W, *, hard: bool = False,
                return_path: bool = False, record: bool = False, per_iter: bool = False) -> dict:
    """(Soft-)IHT on problems Y (B, T, m); see reference 3.2.

    u = x + step A^H (y - A x) (two GEMMs); q = column sums of the top-s SoftSort rows of |w u|
    (``_soft_topk_mask``: O(s^2 + N) per problem, no (s, N) rows) or the hard 0/1 top-s mask;
    x = q * u. ``W`` as in ``_omp_kernel`` (with ``per_iter``, (n_iter, N): W[n] selects in
    iteration n). Returns ``x`` (B, T, N) or the path (B, T, n+1, N); with ``record`` also ``u``
    (B, T, n, N), the iterates u^0..u^{n-1}.
    """
    if per_iter:
        _check_per_iter(W, n_iter, A.shape[-1])

    def selection_scale(n):                                          # |w| (/ tau if soft)
        w = W[n] if per_iter else W
        if hard:
            return None if w is None else w.abs()
        return 1.0 / tau if w is None else w.abs() / tau

    if not _needs_graph(A, Y, tau, step, W):
        return _iht_inplace(A, Y, s, step, n_iter, selection_scale, per_iter, hard, return_path, record)
    post = None if per_iter else selection_scale(0)
    x = torch.zeros(Y.shape[:-1] + (A.shape[-1],), dtype=A.dtype, device=A.device)
    path, us = [x], []
    prev = None
    for n in range(n_iter):
        g = _rmv(A, Y - _mv(A, x)) if n else _rmv(A, Y)
        u = torch.add(x, g, alpha=step) if isinstance(step, float) else x + step * g
        if per_iter:
            post = selection_scale(n)
        v = u.abs() if post is None else u.abs() * post
        # the hard solvers' top-s selector (indices only: no gradient flows through them)
        prev = top_s_warm(v.detach().reshape(-1, v.shape[-1]), s, prev)
        idx = prev.view(v.shape[:-1] + (s,))
        q = torch.zeros_like(v).scatter_(-1, idx, 1.0) if hard else _soft_topk_mask(v, None, s, idx)
        x = q * u
        path.append(x)
        if record:
            us.append(u)
    out = {"x": torch.stack(path, dim=-2) if return_path else x}
    if record:
        out["u"] = torch.stack(us, dim=-2)
    return out


def _gemm_acc(C, X, M, alpha: float, out=None):
    """C + alpha X @ M in one BLAS call (beta = 1 accumulation, no separate add pass); ``out`` may
    be C itself (in-place accumulation).

    X (B, T, K), C (B, T, L); M (K, L) shared (one addmm on the B T rows) or (B, K, L) (baddbmm)."""
    if M.dim() == 2:
        L = M.shape[-1]
        C2, X2 = C.reshape(-1, L), X.reshape(-1, X.shape[-1])
        if out is C:
            return C2.addmm_(X2, M, alpha=alpha).view(C.shape)
        o = None if out is None else out.view(-1, L)
        return torch.addmm(C2, X2, M, alpha=alpha, out=o).view(C.shape)
    if out is C:
        return C.baddbmm_(X, M, alpha=alpha)
    return torch.baddbmm(C, X, M, alpha=alpha, out=out)


def _iht_inplace(A, Y, s, step, n_iter, selection_scale, per_iter, hard, return_path, record):
    """(Soft-)IHT outside autograd, in two preallocated (B, T, N) buffers (x, which holds u in the
    middle of an iteration, and the real statistic / mask v) and one (B, T, m) residual.

    Per iteration: r = y - A x and u = x + step A^H r as two accumulating GEMMs (the second in
    place on x); v = |w u| / tau; the top-s indices by the CPU two-stage selection, reused where
    the top-s set did not change (``_select.top_s_warm``, the selection of ``greedybench.iht``);
    the soft mask in place (``_soft_topk_mask_``) or the hard 0/1 mask; x = q * u in place. Same
    arithmetic as the graph path up to the summation order inside the BLAS calls; the soft and the
    hard mode share every operation but the mask, so a soft mask that has become exactly 0/1
    (tiny tau) gives the hard iterates bit for bit (what the bound study measures against).
    """
    lead, N = Y.shape[:-1], A.shape[-1]
    Ac = A.conj().resolve_conj() if A.is_complex() else A                  # A^H r = r @ conj(A)
    step = float(step)                                                     # no graph: a plain number
    x = torch.zeros(lead + (N,), dtype=A.dtype, device=A.device)
    v = torch.empty(lead + (N,), dtype=real_dtype(A.dtype), device=A.device)
    r = torch.empty(lead + (A.shape[-2],), dtype=A.dtype, device=A.device)
    v2 = v.view(-1, N)
    ws = Workspace()

    def scale_of(n):                   # no graph: a scalar 1 / tau as a plain number (foldable)
        sc = selection_scale(n)
        return float(sc) if isinstance(sc, torch.Tensor) and sc.dim() == 0 else sc

    post = None if per_iter else scale_of(0)
    path, idx, us = [x.clone()] if return_path else None, None, []
    for n in range(n_iter):
        u = _gemm_acc(x, _gemm_acc(Y, x, A.mT, -1.0, out=r) if n else Y, Ac, step, out=x)
        if record:
            us.append(u.clone())
        torch.abs(u, out=v)
        if per_iter:
            post = scale_of(n)
        # a plain 1 / tau (no weights) is applied inside the mask's first pass, not in a pass of
        # its own: the top-s set does not depend on it
        folded = isinstance(post, float)
        if post is not None and not folded:
            v.mul_(post)
        idx = top_s_warm(v2, s, idx, ws)
        if hard:
            v2.zero_().scatter_(-1, idx, 1.0)
        else:
            _soft_topk_mask_(v2, s, idx, ws, scale=post if folded else None)
        x = u.mul_(v)
        if return_path:
            path.append(x.clone())
    out = {"x": torch.stack(path, dim=-2) if return_path else x}
    if record:
        out["u"] = torch.stack(us, dim=-2)
    return out


# --------------------------------------------------------------------------------------------
# Soft-HTP and Soft-CoSaMP (B, .) kernels
# --------------------------------------------------------------------------------------------


def _soft_htp(A, y, s, tau, n_iter, step, w, return_path):
    """Soft-HTP: u = x + step A^H(y - A x); Q = top-s SoftSort rows of |w u|; x = Q^T lstsq(A Q^T, y)."""
    x = y.new_zeros(y.shape[0], A.shape[-1])
    path = [x]
    for _ in range(n_iter):
        u = _gradient_step(A, x, y, step)
        Q = _softsort_rows(_stat(u, w), tau, s)                      # (B, s, N)
        x = _ls_on_rows(A, Q, y)
        path.append(x)
    return _path_out(path, return_path)


def _soft_cosamp(A, y, s, tau, n_iter, w, return_path):
    """Soft-CoSaMP (reference 3.3, s2 = 2 s): soft top-2s rows of |w A^H r| stacked with the
    previous soft top-s rows, least squares u = rows^T lstsq(A rows^T, y), then x = q * u with q
    the column sums of the soft top-s rows of |w u| (kept for the next iteration)."""
    x = y.new_zeros(y.shape[0], A.shape[-1])
    path, Qprev = [x], None
    for _ in range(n_iter):
        c = rmatvec(A, y - matvec(A, x))
        rows = _softsort_rows(_stat(c, w), tau, 2 * s)               # (B, 2s, N)
        if Qprev is not None:
            rows = torch.cat([rows, Qprev], dim=-2)                  # (B, 3s, N)
        u = _ls_on_rows(A, rows, y)
        Qprev = _softsort_rows(_stat(u, w), tau, s)
        x = Qprev.sum(-2) * u
        path.append(x)
    return _path_out(path, return_path)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _setup(A, y, weights, caller, tau, step=None):
    prob = check_problem(A, y, caller=caller, weights=weights)
    rdt, dev = real_dtype(prob.A.dtype), prob.A.device
    tau = _as_scalar(tau, "tau", caller, rdt, dev)
    if step is not None:
        step = _as_scalar(step, "step", caller, rdt, dev)
    return prob, tau, step


def _w3(w):
    """weights (N,) or (B, N) -> broadcastable to (B, T, N)."""
    return w if w is None or w.dim() == 1 else w.unsqueeze(1)


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
        Temperature > 0 (differentiable if a tensor). tau -> 0 gives OMP.
    weights : None or Tensor of shape (N,) or (B, N)
        Multiply the selection statistic (differentiable).
    return_path : bool
        If True return all iterates (B, n_iter + 1, N), iterate 0 being 0.

    Returns
    -------
    Tensor of shape (B, N) (or the path), A's dtype.

    Notes
    -----
    Per iteration: two (B x m)(m x N)-sized products (A^H r, A p), O(B N) for the softmax and an
    O(B m n) Gram-Schmidt update of the QR factors of A P^T; x = P^T z is formed once.
    """
    caller = "soft_omp"
    prob, tau, _ = _setup(A, y, weights, caller, tau)
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1, high=prob.N, high_name="N")
    out = _omp_kernel(prob.A, prob.y.unsqueeze(1), n_iter, tau, _w3(prob.weights),
                      return_path=bool(return_path))
    return out["x"].squeeze(1)


def soft_iht(A, y, s, *, tau, step, n_iter, weights=None, return_path=False):
    """Soft-IHT: x <- q * u with u = x + step A^H (y - A x) and q = softsort(|w u|, tau, s)^T 1_s.

    Parameters
    ----------
    A, y, weights : as in ``soft_omp``.
    s : int
        Sparsity (number of soft rows), 1 <= s <= N.
    tau, step : float or 0-dim Tensor
        Temperature and step size, both > 0 and differentiable if tensors.
    n_iter : int
        Number of iterations (>= 1).
    return_path : bool
        If True return (B, n_iter + 1, N), iterate 0 being 0.

    Notes
    -----
    The mask q (entries in [0, s], not [0, 1]) is computed in O(s^2 + N) per problem by an exact
    factorisation of the SoftSort kernel (``softsort._soft_topk_mask``); tau -> 0 gives IHT.
    """
    caller = "soft_iht"
    prob, tau, step = _setup(A, y, weights, caller, tau, step)
    s = check_int("s", s, caller=caller, low=1, high=prob.N, high_name="N")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    out = _iht_kernel(prob.A, prob.y.unsqueeze(1), s, tau, step, n_iter, _w3(prob.weights),
                      return_path=bool(return_path))
    return out["x"].squeeze(1)


def soft_htp(A, y, s, *, tau, n_iter, step=1.0, weights=None, return_path=False):
    """Soft Hard Thresholding Pursuit (beyond the paper, reference 3.3).

    u = x + step A^H (y - A x); Q = softsort(|w u|, tau, s) (B, s, N); x = Q^T z with
    z = argmin ||A Q^T z - y||. Equals HTP as tau -> 0. Arguments as in ``soft_iht``.
    """
    caller = "soft_htp"
    prob, tau, step = _setup(A, y, weights, caller, tau, step)
    s = check_int("s", s, caller=caller, low=1, high=prob.N, high_name="N")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    return _soft_htp(prob.A, prob.y, s, tau, n_iter, step, prob.weights, bool(return_path))


def soft_cosamp(A, y, s, *, tau, n_iter, weights=None, return_path=False):
    """Soft CoSaMP (beyond the paper, reference 3.3, with s2 = 2 s and one tau).

    Each iteration: the soft top-2s rows of |w A^H r| stacked with the previous iteration's soft
    top-s rows Q; u = rows^T z with z = argmin ||A rows^T z - y|| (minimum norm); Q = softsort(|w u|,
    tau, s); x = (Q^T 1_s) * u. Equals CoSaMP (merge 2s atoms with the current support, least
    squares, prune to the s largest |w u|) as tau -> 0. Requires 1 <= s and 2 s <= N.
    """
    caller = "soft_cosamp"
    prob, tau, _ = _setup(A, y, weights, caller, tau)
    s = check_int("s", s, caller=caller, low=1, high=prob.N // 2, high_name="N // 2")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    return _soft_cosamp(prob.A, prob.y, s, tau, n_iter, prob.weights, bool(return_path))
