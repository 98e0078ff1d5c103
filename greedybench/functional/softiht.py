"""Soft-IHT (reference 3.2): IHT whose top-s mask is relaxed to the column sums of the top-s
SoftSort rows.

``_iht_kernel`` works on problems of shape ``(B, T, .)`` like ``softomp._omp_kernel`` (a grid of
T temperatures, tau (B or 1, T, 1)); with ``hard=True`` it runs IHT itself (``bounds.py``), and it
is IHT-Net's forward pass. Two loops with the same arithmetic: ``_iht_graph`` (autograd) and
``_iht_inplace`` (no graph: fused GEMMs and in-place passes in three buffers).
"""

from __future__ import annotations

import torch

from .._validation import check_int, real_dtype
from ._select import Workspace, top_s_warm
from ._linalg import check_converged
from ._soft_common import (check_per_iter, ldexp, mv, needs_graph, normalise, rmv, scaled_tau,
                           setup, w3)
from .softsort import _soft_topk_mask, _soft_topk_mask_

__all__ = ["soft_iht"]


def soft_iht(A, y, s, *, tau, step, n_iter, weights=None, return_path=False):
    """Soft-IHT: x <- q * u with u = x + step A^H (y - A x) and q = softsort(|w u|, tau, s)^T 1_s.

    Parameters
    ----------
    A, y, weights : as in ``soft_omp``.
    s : int
        Sparsity (number of soft rows), 1 <= s <= N.
    tau, step : float or 0-dim Tensor
        Temperature and step size, both > 0 and differentiable if tensors; tau at least the
        smallest normal number of the dtype (1.2e-38 in float32).
    n_iter : int
        Number of iterations (>= 1).
    return_path : bool
        If True return only the path: all iterates (B, n_iter + 1, N), iterate 0 being 0.

    Raises
    ------
    NonFiniteError
        If the iterates diverge to Inf/NaN (a step too large for A; the message gives the
        bound 1 / ||A||_2^2).

    Notes
    -----
    The mask q (entries in [0, s], not [0, 1]) is computed in O(s^2 + N) per problem by an exact
    factorisation of the SoftSort kernel (``softsort._soft_topk_mask``); tau -> 0 gives IHT.
    Out-of-range data (subnormal included) is solved exactly rescaled by powers of two, as in
    ``soft_omp``.
    """
    caller = "soft_iht"
    prob, tau, step, return_path = setup(A, y, weights, return_path, caller, tau, step)
    s = check_int("s", s, caller=caller, low=1, high=prob.N, high_name="N")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    A, y, eA, eY = normalise(prob)
    # u and x scale by 2^(eY - eA) when the step scales by 2^(-2 eA)
    out = _iht_kernel(A, y.unsqueeze(1), s, scaled_tau(tau, eY - eA, real_dtype(A.dtype)),
                      ldexp(step, -2 * eA), n_iter, w3(prob.weights), return_path=return_path)
    return check_converged(ldexp(out["x"].squeeze(1), eA - eY), caller, prob.A, step)


def _iht_kernel(A, Y, s: int, tau, step, n_iter: int, W, *, hard: bool = False,
                return_path: bool = False, record: bool = False, per_iter: bool = False) -> dict:
    """(Soft-)IHT on problems Y (B, T, m); see reference 3.2.

    u = x + step A^H (y - A x) (two GEMMs); v = |w u|; q = column sums of the top-s SoftSort
    rows of v at temperature tau (``softsort._soft_topk_mask``: O(s^2 + N) per problem, no (s, N)
    rows) or the hard 0/1 top-s mask; x = q * u. ``W`` as in ``softomp._omp_kernel`` (with
    ``per_iter``, (n_iter, N): W[n] selects in iteration n). Returns ``x`` (B, T, N) or the path
    (B, T, n+1, N); with ``record`` also ``u`` (B, T, n, N), the iterates u^0..u^{n-1}.
    """
    if per_iter:
        check_per_iter(W, n_iter, A.shape[-1])
    Wa = None if W is None else W.abs()                              # |w|, formed once
    weight = (lambda n: Wa[n]) if per_iter else (lambda n: Wa)
    loop = _iht_graph if needs_graph(A, Y, tau, step, W) else _iht_inplace
    x, us = loop(A, Y, s, None if hard else tau, step, n_iter, weight, return_path, record)
    out = {"x": x}
    if record:
        out["u"] = torch.stack(us, dim=-2)
    return out


def _iht_graph(A, Y, s, tau, step, n_iter, weight, return_path, record):
    """The loop under autograd (``tau=None``: the hard 0/1 mask; ``weight(n)``: |w| or None for
    iteration n). Returns (x or path, [u^n])."""
    x = torch.zeros(Y.shape[:-1] + (A.shape[-1],), dtype=A.dtype, device=A.device)
    path, us, idx = [x], [], None
    for n in range(n_iter):
        g = rmv(A, Y - mv(A, x)) if n else rmv(A, Y)
        u = torch.add(x, g, alpha=step) if isinstance(step, float) else x + step * g
        w = weight(n)
        v = u.abs() if w is None else u.abs() * w
        # the hard solvers' top-s selector (indices only: no gradient flows through them)
        idx = top_s_warm(v.detach().reshape(-1, v.shape[-1]), s, idx)
        top = idx.view(v.shape[:-1] + (s,))
        q = torch.zeros_like(v).scatter_(-1, top, 1.0) if tau is None else _soft_topk_mask(v, tau, s, top)
        x = q * u
        path.append(x)
        if record:
            us.append(u)
    return (torch.stack(path, dim=-2) if return_path else x), us


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


def _iht_inplace(A, Y, s, tau, step, n_iter, weight, return_path, record):
    """The loop outside autograd, in two preallocated (B, T, N) buffers (x, which holds u in the
    middle of an iteration, and the real statistic / mask v) and one (B, T, m) residual.

    Per iteration: r = y - A x and u = x + step A^H r as two accumulating GEMMs (the second in
    place on x); v = |w u|; the top-s indices by the CPU two-stage selection, reused where the
    top-s set did not change (``_select.top_s_warm``, the selection of ``greedybench.iht``); the
    soft mask in place (``_soft_topk_mask_``) or the hard 0/1 mask; x = q * u in place. Same
    arithmetic as the graph path up to the summation order inside the BLAS calls; the soft and the
    hard mode share every operation but the mask, so a soft mask that has become exactly 0/1
    (tiny tau) gives the hard iterates bit for bit (what the bound study measures against).
    """
    lead, N = Y.shape[:-1], A.shape[-1]
    Ac = A.conj().resolve_conj() if A.is_complex() else A                  # A^H r = r @ conj(A)
    step = float(step)                                                     # no graph: a plain number
    if isinstance(tau, torch.Tensor):                                      # one temperature per row
        tau = float(tau) if tau.dim() == 0 else tau.expand(lead + (1,)).reshape(-1, 1)
    x = torch.zeros(lead + (N,), dtype=A.dtype, device=A.device)
    v = torch.empty(lead + (N,), dtype=real_dtype(A.dtype), device=A.device)
    r = torch.empty(lead + (A.shape[-2],), dtype=A.dtype, device=A.device)
    v2 = v.view(-1, N)
    ws = Workspace()
    path, idx, us = [x.clone()] if return_path else None, None, []
    for n in range(n_iter):
        u = _gemm_acc(x, _gemm_acc(Y, x, A.mT, -1.0, out=r) if n else Y, Ac, step, out=x)
        if record:
            us.append(u.clone())
        torch.abs(u, out=v)
        w = weight(n)
        if w is not None:
            v.mul_(w)
        idx = top_s_warm(v2, s, idx, ws)
        if tau is None:
            v2.zero_().scatter_(-1, idx, 1.0)
        else:
            _soft_topk_mask_(v2, s, idx, ws, tau)
        x = u.mul_(v)
        if return_path:
            path.append(x.clone())
    return (torch.stack(path, dim=-2) if return_path else x), us
