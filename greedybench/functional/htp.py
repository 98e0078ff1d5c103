"""Hard Thresholding Pursuit, batched (Foucart 2011)."""

from __future__ import annotations

import torch

from .._validation import check_positive
from ._linalg import gradient_step
from ._select import Path, SupportLS, freeze, scatter_values, select, support_mask, validate

__all__ = ["htp"]


def htp(A, y, s, *, n_iter, step=1.0, weights=None, return_path=False):
    r"""Hard Thresholding Pursuit for a batch of problems.

    x^0 = 0 and, for n = 0 .. n_iter - 1,

        S = top-s of |w * (x^n + step A^H (y - A x^n))|,    x^{n+1} = argmin_{supp z in S} ||y - A z||.

    A problem stops (keeps its iterate) as soon as its support does not change; the loop ends
    when every problem has stopped or after n_iter iterations.

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
    step : float or 0-dim real Tensor
        Gradient step used only for the support selection, > 0 (default 1.0).
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
    step = check_positive("step", step, caller="htp")
    return _htp(A, y, s, step, n_iter, w, bool(return_path))


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
    for _ in range(n_iter):
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
