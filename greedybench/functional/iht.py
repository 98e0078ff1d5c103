"""Iterative Hard Thresholding (fixed step) and normalised IHT, batched.

Both solve y = A x with x s-sparse by projected gradient steps on ||y - A x||^2 / 2, the
projection being H_s (keep the top-s of the weighted statistic |w * u|, with the *unweighted*
values of u). Shared pieces live in ``_linalg`` (fused residual / gradient GEMMs) and
``_select`` (thresholding, iterate path).
"""

from __future__ import annotations

import torch

from .._validation import check_bool, check_positive
from ._docs import shared_doc
from ._linalg import (check_converged, matvec_support, residual, rmatvec, rmatvec_out,
                      scatter_support)
from ._select import (Path, Workspace, freeze, hard_threshold, select, sq_norm_ratio,
                      support_mask, threshold_sparse, validate)

__all__ = ["iht", "niht"]

_N_ITER_DOC = """\
n_iter : int
    Number of iterations (no stopping rule), >= 1."""


@shared_doc(n_iter=_N_ITER_DOC)
def iht(A, y, s, *, step, n_iter, weights=None, return_path=False):
    r"""Iterative Hard Thresholding with a fixed step, for a batch of problems.

    x^0 = 0 and, for n = 0 .. n_iter - 1,

        u = x^n + step * A^H (y - A x^n),    x^{n+1} = H_s(u),

    where H_s keeps the values of u (unweighted) on the s largest entries of |w * u| and zeroes
    the rest. An index with weight 0 is never kept.

    Parameters
    ----------
    %(problem)s
    step : float or 0-dim real Tensor
        Fixed step size > 0 (a tensor stays in the autograd graph). Convergence is guaranteed
        for step < 1 / ||A||_2^2 (Blumensath & Davies 2009); with unit-norm columns larger steps
        (e.g. 0.65, Maleki & Donoho 2010) usually work and converge much faster, but can diverge
        when s / m is large.
    %(n_iter)s
    %(weights)s
    %(path_returns)s

    Raises
    ------
    NonFiniteError
        If the iterates diverge to Inf/NaN (a step too large for A; the message gives the
        bound 1 / ||A||_2^2). A diverging run that is still finite after n_iter iterations
        returns its last iterate.

    Notes
    -----
    The selection is piecewise constant in the weights: no gradient flows to them (weights that
    require grad are accepted, as by every hard solver). Cost per iteration, shared A: one GEMM
    A^H r (2 m N B real flops), the residual from the s nonzeros (2 m s B; dense GEMM on GPU),
    one top-s over (B, N), a gather and a scatter-add; the benchmark convention counts 4 m N B.
    On CPU the top-s is a two-stage exact selection and is skipped for rows whose support
    provably did not change (one count read back per iteration, free on CPU); on other devices
    plain ``torch.topk`` and no host synchronisation.

    References
    ----------
    T. Blumensath and M. E. Davies, "Iterative hard thresholding for compressed sensing",
    Appl. Comput. Harmon. Anal. 27(3), 2009.
    S. Mohammad-Taheri, M. J. Colbrook, S. Brugiapaglia, "Deep greedy unfolding", arXiv:2505.15661
    (weighted selection statistic).
    """
    A, y, s, n_iter, w = validate("iht", A, y, s, n_iter, weights)
    step = check_positive("step", step, caller="iht")
    return_path = check_bool("return_path", return_path, caller="iht")
    return check_converged(_iht(A, y, s, step, n_iter, w, return_path), "iht", A, step)


def _iht(A, y, s, step, n_iter, w, return_path):
    """IHT kernel; trusts its input (w = |weights| or None).

    The iterate is carried in sparse form (idx, vals); with r' = step (y - A x) the update is
    u = A^H r' + x: one GEMM into u, then a scatter-add of the s values of x. The residual
    uses the sparse form (``_linalg.residual``); x is densified only for the path and the output.
    Without autograd the two (B, N) temporaries reuse preallocated buffers.
    """
    B, N = y.shape[0], A.shape[-1]
    A_conj = A.conj().resolve_conj() if (A.dim() == 2 and A.is_complex()) else None
    step_t = isinstance(step, torch.Tensor)
    needs_grad = torch.is_grad_enabled() and (
        A.requires_grad or y.requires_grad or (step_t and step.requires_grad))
    sy = y * step
    ws = Workspace()
    u_buf = A_t = None
    if not needs_grad and A.dim() == 2:
        u_buf = ws.get("u", (B, N), y.dtype, y.device)
        if A.device.type == "cpu":  # rows of A^T for the sparse residual
            A_t = A.mT.contiguous()
    path = Path(y.new_zeros(B, N), n_iter, return_path)
    idx = vals = None
    # CPU warm start (see _select.top_s_warm): skip the reuse check for one iteration after one
    # that reused < 5 % of the rows (early iterations, where nearly every support changes)
    adaptive = y.device.type == "cpu"
    try_reuse = True
    for it in range(n_iter):
        if it == 0:
            u = rmatvec_out(A, sy, u_buf, A_conj)
        else:
            # r' = step y - A (step x) = step (y - A x): scaling the s values, not the m residuals
            r = residual(A, None, sy, (idx, vals * step), A_t=A_t)
            u = rmatvec_out(A, r, u_buf, A_conj)
            u = u.scatter_add_(1, idx, vals) if not needs_grad else u.scatter_add(1, idx, vals)
        prev = idx if try_reuse else None
        idx, _, vals = threshold_sparse(u, s, w, ws, prev=prev)
        if adaptive:
            try_reuse = prev is None or 20 * int((idx == prev).all(1).sum()) >= B
        if return_path:
            path.record(scatter_support(vals, idx, N))
    return path.finish(scatter_support(vals, idx, N))


@shared_doc(n_iter=_N_ITER_DOC)
def niht(A, y, s, *, n_iter, weights=None, return_path=False):
    r"""Normalised Iterative Hard Thresholding (Blumensath & Davies 2010), batched.

    With g = A^H (y - A x^n) and S the current support (first iteration: the top-s of |w * g|),
    the step is mu = ||g_S||^2 / ||A_S g_S||^2 and x^{n+1} = H_s(x^n + mu g). If the support
    changes and mu > omega = (1 - c) ||x^{n+1} - x^n||^2 / ||A (x^{n+1} - x^n)||^2, mu is shrunk
    to mu / (kappa (1 - c)) and the step redone, at most 10 times (c = 0.01, kappa = 2); each
    problem backtracks independently (masks).

    Parameters
    ----------
    %(problem)s
    %(n_iter)s
    %(weights)s
    %(path_returns)s

    Notes
    -----
    Cost per iteration: one dense GEMM A^H r (2 m N B flops for a shared A) and two products
    with s-sparse vectors (A g_S and A x^{n+1}: 2 m s B each on CPU, dense GEMMs on GPU), plus
    one sparse product per backtracking step. One host read per iteration (is any problem
    backtracking?) plus one per backtracking step taken.

    References
    ----------
    T. Blumensath and M. E. Davies, "Normalized iterative hard thresholding: guaranteed
    stability and performance", IEEE J. Sel. Topics Signal Process. 4(2), 2010.
    """
    A, y, s, n_iter, w = validate("niht", A, y, s, n_iter, weights)
    return _niht(A, y, s, n_iter, w, check_bool("return_path", return_path, caller="niht"))


def _niht(A, y, s, n_iter, w, return_path, c=0.01, kappa=2.0, max_backtrack=10):
    """NIHT kernel; trusts its input.

    Carries x both dense and as (idx, vals) with A x: A g_S and A x_new are products with
    s-sparse vectors (``_linalg.matvec_support``: 2 m s B flops on CPU), so one dense GEMM
    (A^H r) per iteration remains, and r = y - A x is recomputed exactly (no drift).
    """
    B, N = y.shape[0], A.shape[-1]
    A_t = A.mT.contiguous() if (A.dim() == 2 and A.device.type == "cpu") else None
    x = y.new_zeros(B, N)
    Ax = torch.zeros_like(y)
    r = y
    g = rmatvec(A, r)
    idx, valid = select(g, s, w)
    supp = support_mask(idx, N, valid)
    path = Path(x, n_iter, return_path)
    for it in range(n_iter):
        if it:
            g = rmatvec(A, r)
        g_S = g.gather(1, idx)
        if valid is not None:
            g_S = g_S * valid
        mu = sq_norm_ratio(g_S, matvec_support(A, idx, g_S, A_t=A_t))

        def trial(mu):
            x_new, idx_new, valid_new, vals_new = hard_threshold(x + mu.unsqueeze(-1) * g, s, w)
            Ax_new = matvec_support(A, idx_new, vals_new, A_t=A_t)
            supp_new = support_mask(idx_new, N, valid_new)
            # nonzeros of d = x_new - x: on the new support, and the old entries that left it
            d = torch.cat([vals_new - x.gather(1, idx_new),
                           x.gather(1, idx) * ~supp_new.gather(1, idx)], dim=1)
            omega = (1 - c) * sq_norm_ratio(d, Ax_new - Ax)
            need = (supp_new != supp).any(-1) & (mu > omega)
            return (x_new, idx_new, valid_new, Ax_new, supp_new), need

        new, need = trial(mu)
        for _ in range(max_backtrack):
            if not bool(need.any()):
                break
            mu = torch.where(need, mu / (kappa * (1 - c)), mu)
            new_t, need_t = trial(mu)
            new = tuple(None if a is None else freeze(need, a, b) for a, b in zip(new_t, new))
            need = need & need_t
        x, idx, valid, Ax, supp = new
        r = y - Ax
        path.record(x)
    return path.finish(x)
