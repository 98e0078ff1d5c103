"""CoSaMP and Subspace Pursuit, batched.

Both merge new candidates (top of |w * A^H r|) with the current support into a fixed-size index
set with a validity mask (``_select.merge``), solve least squares on it with padding slots pinned
to 0 (``_select.SupportLS``), and prune to the top-s of |w * z| (``_select.prune``).
"""

from __future__ import annotations

import torch

from .._validation import check_bool, check_option
from ._linalg import rmatvec
from ._docs import FRAGMENTS, shared_doc
from ._scale import pow2_scale, unscale
from ._select import (Path, SupportLS, freeze, merge, prune, scatter_values, scores, sq_norm,
                      support_mask, validate)

__all__ = ["cosamp", "subspace_pursuit", "STOP_RULES"]

#: stopping rules of CoSaMP and Subspace Pursuit (besides n_iter and a vanishing residual)
STOP_RULES = ("support", "residual")


def _parameters_doc(stops: str) -> str:
    """The Parameters section of both solvers (they take the same arguments; ``stops``: the
    stopping rules, the default first)."""
    return "\n".join([FRAGMENTS["problem"], """\
n_iter : int
    Maximum number of iterations, >= 1.
stop : {%s}
    Stopping rule (see above); the measured phase transition depends on it.""" % stops,
                      FRAGMENTS["weights"], FRAGMENTS["path_returns"]])


@shared_doc(parameters=_parameters_doc('"support", "residual"'))
def cosamp(A, y, s, *, n_iter, stop="support", weights=None, return_path=False):
    r"""Compressive Sampling Matching Pursuit (Needell & Tropp 2009) for a batch of problems.

    x^0 = 0, r = y and, for n = 0 .. n_iter - 1:

    1. T = supp(x^n) united with the top-2s of |w * A^H r| (at most 3s columns);
    2. z = least squares of y on the columns T;
    3. x^{n+1} = z on the top-s of |w * z| (the standard prune, no second least squares);
    4. r = y - A x^{n+1}.

    A problem stops once ||r|| <= 1e-12 ||y||, or by its stopping rule ``stop``:

    - "support" (default, Needell & Tropp's halting when nothing changes): its support did not
      change; it keeps x^{n+1} (which then equals x^n);
    - "residual" (the rule of Dai & Milenkovic's SP): ||r^{n+1}|| >= ||r^n||; it keeps x^n.

    Parameters
    ----------
    %(parameters)s

    Notes
    -----
    Each y is divided by a power of two near its largest entry and x multiplied back (exact): the
    result is scale-equivariant (no overflow of ||r||^2 at |y| ~ 1e154, no underflow at 1e-160).
    The merged set is held in min(3s, m, N) slots with a validity mask. When 3s > m the merged
    set is capped at m columns (least squares with more columns than rows is underdetermined):
    the current support is kept first, then the new candidates by decreasing |w * A^H r|.
    Cost per iteration: one A^H r GEMM (2 m N B flops, shared A), two top-k, a k x k Cholesky
    least squares with k = min(3s, m) (k^3 B / 3 flops; the k x k blocks are gathered from A^H A,
    formed once, or cost 2 m k^2 B from gathered columns, see ``_select.SupportLS``) and the
    residual from s columns (2 m s B). One host read per iteration (any problem still active?).

    References
    ----------
    D. Needell and J. A. Tropp, "CoSaMP: Iterative signal recovery from incomplete and
    inaccurate samples", Appl. Comput. Harmon. Anal. 26(3), 2009.
    """
    return _checked("cosamp", A, y, s, n_iter, stop, weights, return_path, grow=2, refit=False)


@shared_doc(parameters=_parameters_doc('"residual", "support"'))
def subspace_pursuit(A, y, s, *, n_iter, stop="residual", weights=None, return_path=False):
    r"""Subspace Pursuit (Dai & Milenkovic 2009) for a batch of problems.

    x^0 = 0, r = y and, for n = 0 .. n_iter - 1:

    1. T = supp(x^n) united with the top-s of |w * A^H r| (at most 2s columns);
    2. z = least squares of y on T; S = the top-s of |w * z|;
    3. x^{n+1} = least squares of y on S, r_new = y - A x^{n+1}.

    A problem stops once ||r_new|| <= 1e-12 ||y||, or by its stopping rule ``stop``:

    - "residual" (default, Dai & Milenkovic): ||r_new|| >= ||r|| (the residual did not
      decrease); it keeps x^n;
    - "support" (CoSaMP's rule): S equals supp(x^n); it keeps x^{n+1}.

    Parameters
    ----------
    %(parameters)s

    Notes
    -----
    Scale-equivariant like :func:`cosamp` (exact power-of-two rescaling of each y).
    The merged set is held in min(2s, m, N) slots (capped at m as in :func:`cosamp`).
    Cost per iteration: one A^H r GEMM (2 m N B flops, shared A), two least squares (on <= 2s
    and on s columns), residual on s columns. One host read per iteration.

    References
    ----------
    W. Dai and O. Milenkovic, "Subspace pursuit for compressive sensing signal reconstruction",
    IEEE Trans. Inf. Theory 55(5), 2009.
    """
    return _checked("subspace_pursuit", A, y, s, n_iter, stop, weights, return_path, grow=1, refit=True)


def _checked(caller, A, y, s, n_iter, stop, weights, return_path, *, grow, refit):
    """The public boundary of both: validate, rescale y by a power of two, run :func:`_pursuit`."""
    A, y, s, n_iter, w = validate(caller, A, y, s, n_iter, weights)
    stop = check_option("stop", stop, STOP_RULES, caller=caller)
    return_path = check_bool("return_path", return_path, caller=caller)
    c = pow2_scale(y)
    return unscale(_pursuit(A, y / c.to(y.dtype), s, n_iter, w, return_path, grow=grow, refit=refit,
                            stop=stop), c)


def _merge_solve(ls, r, supp, s, k_new, k, w):
    """Shared CoSaMP / SP step: merge, least squares on the merged set, prune to s.

    Returns idx_s, valid_s, z_s (B, s): the kept columns, their validity and LS coefficients.
    """
    idx, valid = merge(scores(rmatvec(ls.A, r), w), k_new, supp, k, w)
    z = ls.solve(idx, valid)
    _, idx_s, valid_s, z_s = prune(z, idx, valid, s, w)
    return idx_s, valid_s, z_s


def _pursuit(A, y, s, n_iter, w, return_path, *, grow, refit, stop, rtol=1e-12):
    """CoSaMP / SP kernel; trusts its input.

    Each iteration merges the top ``grow * s`` of |w * A^H r| with the support (in
    min((grow + 1) s, m, N) slots), solves least squares on the merged set and prunes to s; the
    kept s columns then get a second least squares (``refit``: SP, grow 1) or keep their merged
    coefficients (CoSaMP, grow 2). ``stop`` as in :func:`cosamp`.
    """
    B, m, N = y.shape[0], A.shape[-2], A.shape[-1]
    k = min((grow + 1) * s, m, N)
    k_new = min(grow * s, N)
    ls = SupportLS(A, y, k)
    x = y.new_zeros(B, N)
    r = y
    rn = sq_norm(y)
    tol2 = (rtol ** 2) * rn
    supp = torch.zeros(B, N, dtype=torch.bool, device=y.device)
    active = torch.ones(B, dtype=torch.bool, device=y.device)
    path = Path(x, n_iter, return_path)
    for _ in range(n_iter):
        idx_s, valid_s, z_s = _merge_solve(ls, r, supp, s, k_new, k, w)
        z_s = ls.solve(idx_s, valid_s) if refit else z_s * valid_s
        new_supp = support_mask(idx_s, N, valid_s)
        r_new = ls.residual(idx_s, z_s)
        rn_new = sq_norm(r_new)
        if stop == "residual":
            active = active & (rn_new < rn)
            go = active
        else:
            go = active & (new_supp != supp).any(-1)
        x = freeze(active, scatter_values(z_s, idx_s, N), x)
        r = freeze(active, r_new, r)
        rn = freeze(active, rn_new, rn)
        supp = freeze(active, new_supp, supp)
        active = go & (rn > tol2)
        path.record(x)
        if not bool(active.any()):
            break
    return path.finish(x)
