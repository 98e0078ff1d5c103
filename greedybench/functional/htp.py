"""Hard Thresholding Pursuit, batched (Foucart 2011)."""

from __future__ import annotations

import torch

from .._validation import InvalidParameterError, check_bool, check_positive
from ._linalg import gradient_step, matvec_support, rmatvec
from ._scale import pow2_scale, unscale
from ._select import (Path, SupportLS, freeze, scatter_values, select, sq_norm_ratio, support_mask,
                      validate)

__all__ = ["htp"]


def htp(A, y, s, *, n_iter, step=1.0, weights=None, return_path=False):
    r"""Hard Thresholding Pursuit for a batch of problems.

    x^0 = 0 and, for n = 0 .. n_iter - 1,

        S = top-s of |w * (x^n + mu_n A^H (y - A x^n))|,    x^{n+1} = argmin_{supp z in S} ||y - A z||,

    with mu_n = step (fixed, Foucart's HTP) or, for ``step="normalized"`` (NHTP, the variant of
    Blanchard & Tanner's GAGA and CR-Sparse), the NIHT step mu_n = ||g_T||^2 / ||A_T g_T||^2,
    g = A^H (y - A x^n), T = supp(x^n) (at n = 0: the top-s of |w * A^H y|).

    A problem stops (keeps its iterate) as soon as its support does not change; the loop ends
    when every problem has stopped or after n_iter iterations. Each y is divided by a power of two
    near its largest entry and x multiplied back (exact), so the result is scale-equivariant.

    Parameters
    ----------
    A : Tensor (m, N) or (B, m, N)
        Sensing matrix, shared or one per problem; float32/float64, real or complex.
    y : Tensor (B, m)
        Measurements.
    s : int
        Sparsity, 1 <= s <= min(m, N).
    n_iter : int
        Maximum number of iterations, >= 1.
    step : float, 0-dim real Tensor or "normalized"
        Gradient step used only for the support selection: a fixed step > 0 (default 1.0) or
        "normalized" for the per-problem, per-iteration NIHT step (NHTP: no step to tune; the
        step changes the measured phase transition, so the two are separate variants).
    weights : None or Tensor (N,) or (B, N)
        Selection weights (statistic |w * u|; weight 0 forbids an index).
    return_path : bool
        If True return all iterates, shape (B, n_iter + 1, N), iterate 0 = 0 (stopped problems
        repeat their final iterate).

    Returns
    -------
    x : Tensor (B, N), or the path (B, n_iter + 1, N).

    Notes
    -----
    Cost per iteration: one A^H r GEMM (2 m N B flops for a shared A), a top-k, a batched s x s
    Cholesky least squares (s x s blocks gathered from A^H A, formed once, or 2 m s^2 B flops from
    gathered columns; see ``_select.SupportLS``) and the residual from s columns (2 m s B). One
    host read per iteration (any problem still active?).

    References
    ----------
    S. Foucart, "Hard thresholding pursuit: an algorithm for compressive sensing",
    SIAM J. Numer. Anal. 49(6), 2011.
    """
    A, y, s, n_iter, w = validate("htp", A, y, s, n_iter, weights)
    if not (isinstance(step, str) and step == "normalized"):
        if isinstance(step, str):
            raise InvalidParameterError(f'htp: step must be a positive number or "normalized"; got {step!r}.')
        step = check_positive("step", step, caller="htp")
    return_path = check_bool("return_path", return_path, caller="htp")
    c = pow2_scale(y)
    return unscale(_htp(A, y / c.to(y.dtype), s, step, n_iter, w, return_path), c)


def _htp(A, y, s, step, n_iter, w, return_path):
    """HTP kernel; trusts its input."""
    B, N = y.shape[0], A.shape[-1]
    ls = SupportLS(A, y, s)
    A_conj = A.conj().resolve_conj() if (A.dim() == 2 and A.is_complex()) else None
    x = y.new_zeros(B, N)
    r = y
    supp = torch.zeros(B, N, dtype=torch.bool, device=y.device)
    active = torch.ones(B, dtype=torch.bool, device=y.device)
    path = Path(x, n_iter, return_path)
    normalized = isinstance(step, str)
    A_t = A.mT.contiguous() if (normalized and A.dim() == 2 and A.device.type == "cpu") else None
    idx = valid = None
    for _ in range(n_iter):
        if normalized:
            g = rmatvec(A, r)
            if idx is None:
                idx, valid = select(g, s, w)
            g_T = g.gather(1, idx)
            if valid is not None:
                g_T = g_T * valid
            mu = sq_norm_ratio(g_T, matvec_support(A, idx, g_T, A_t=A_t)).unsqueeze(-1)
            idx, valid = select(x + mu.to(g.dtype) * g, s, w)
        else:
            idx, valid = select(gradient_step(A, x, r, step, A_conj), s, w)
        new_supp = support_mask(idx, N, valid)
        z = ls.solve(idx, valid)
        active = active & (new_supp != supp).any(-1)
        x = freeze(active, scatter_values(z, idx, N, valid), x)
        r = freeze(active, ls.residual(idx, z), r)
        supp = new_supp
        path.record(x)
        if not bool(active.any()):
            break
    return path.finish(x)
