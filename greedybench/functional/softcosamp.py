"""Soft-CoSaMP: CoSaMP with both of its selections relaxed to SoftSort rows (beyond the paper,
reference 3.3, with s2 = 2 s and one tau). One loop, autograd throughout (its least squares is
an SVD).
"""

from __future__ import annotations

import torch

from .._validation import check_int
from ._linalg import matvec, rmatvec
from ._soft_common import ls_on_rows, path_out, setup, stat
from .softsort import _softsort_rows

__all__ = ["soft_cosamp"]


def soft_cosamp(A, y, s, *, tau, n_iter, weights=None, return_path=False):
    """Soft CoSaMP (beyond the paper, reference 3.3, with s2 = 2 s and one tau).

    Each iteration: the soft top-2s rows of |w A^H r| stacked with the previous iteration's soft
    top-s rows Q; u = rows^T z with z = argmin ||A rows^T z - y|| (minimum norm); Q = softsort(|w u|,
    tau, s); x = (Q^T 1_s) * u. Equals CoSaMP (merge 2s atoms with the current support, least
    squares, prune to the s largest |w u|) as tau -> 0. Requires 1 <= s and 2 s <= N.
    ``return_path=True`` returns only the path (B, n_iter + 1, N), iterate 0 being 0.
    """
    caller = "soft_cosamp"
    prob, tau, _, return_path = setup(A, y, weights, return_path, caller, tau)
    s = check_int("s", s, caller=caller, low=1, high=prob.N // 2, high_name="N // 2")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    return _soft_cosamp(prob.A, prob.y, s, tau, n_iter, prob.weights, return_path)


def _soft_cosamp(A, y, s, tau, n_iter, w, return_path):
    """Soft-CoSaMP (reference 3.3, s2 = 2 s): soft top-2s rows of |w A^H r| stacked with the
    previous soft top-s rows, least squares u = rows^T lstsq(A rows^T, y), then x = q * u with q
    the column sums of the soft top-s rows of |w u| (kept for the next iteration)."""
    x = y.new_zeros(y.shape[0], A.shape[-1])
    path, Qprev = [x], None
    for _ in range(n_iter):
        c = rmatvec(A, y - matvec(A, x))
        rows = _softsort_rows(stat(c, w), tau, 2 * s)                # (B, 2s, N)
        if Qprev is not None:
            rows = torch.cat([rows, Qprev], dim=-2)                  # (B, 3s, N)
        u = ls_on_rows(A, rows, y)
        Qprev = _softsort_rows(stat(u, w), tau, s)
        x = Qprev.sum(-2) * u
        path.append(x)
    return path_out(path, return_path)
