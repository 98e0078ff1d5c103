"""Soft-HTP: Hard Thresholding Pursuit with the top-s selection relaxed to SoftSort rows
(beyond the paper, reference 3.3). One loop, autograd throughout (its least squares is an SVD).
"""

from __future__ import annotations

from .._validation import check_int, real_dtype
from ._linalg import check_converged
from ._soft_common import (gradient_step, ldexp, ls_on_rows, normalise, path_out, scaled_tau,
                           setup, stat)
from .softsort import _softsort_rows

__all__ = ["soft_htp"]


def soft_htp(A, y, s, *, tau, n_iter, step=1.0, weights=None, return_path=False):
    """Soft Hard Thresholding Pursuit (beyond the paper, reference 3.3).

    u = x + step A^H (y - A x); Q = softsort(|w u|, tau, s) (B, s, N); x = Q^T z with
    z = argmin ||A Q^T z - y||. Equals HTP as tau -> 0. Arguments as in ``soft_iht``
    (``return_path=True`` returns only the path (B, n_iter + 1, N)); out-of-range data is
    rescaled exactly as in ``soft_iht``, and a non-finite result raises ``NonFiniteError``.
    """
    caller = "soft_htp"
    prob, tau, step, return_path = setup(A, y, weights, return_path, caller, tau, step)
    s = check_int("s", s, caller=caller, low=1, high=prob.N, high_name="N")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    A, y, eA, eY = normalise(prob)
    x = _soft_htp(A, y, s, scaled_tau(tau, eY - eA, real_dtype(A.dtype)), n_iter,
                  ldexp(step, -2 * eA), prob.weights, return_path)
    return check_converged(ldexp(x, eA - eY), caller, prob.A, step)


def _soft_htp(A, y, s, tau, n_iter, step, w, return_path):
    """Soft-HTP: u = x + step A^H(y - A x); Q = top-s SoftSort rows of |w u|; x = Q^T lstsq(A Q^T, y)."""
    x = y.new_zeros(y.shape[0], A.shape[-1])
    path = [x]
    for _ in range(n_iter):
        u = gradient_step(A, x, y, step)
        Q = _softsort_rows(stat(u, w), tau, s)                       # (B, s, N)
        x = ls_on_rows(A, Q, y)
        path.append(x)
    return path_out(path, return_path)
