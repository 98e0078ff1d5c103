"""Approximate message passing (AMP) with soft thresholding at the minimax threshold, batched.

The l1 reference of the suite: with the minimax threshold z*(delta) the noiseless AMP iteration
recovers s-sparse signals exactly below the Donoho-Tanner weak threshold rho_W(delta) and fails
above it (Donoho, Maleki & Montanari, PNAS 2009; reference limits.md 1.2-1.3), so its measured
transition is a check of the whole phase-transition protocol.
"""

from __future__ import annotations

import math

import torch

from .._validation import (DTypeError, InvalidParameterError, check_bool, check_int, check_positive,
                           check_problem)
from ._linalg import matvec, pinv_solve, rmatvec, gather_columns
from ._scale import pow2_scale, unscale
from ._select import Path, freeze, sq_norm

__all__ = ["amp", "minimax_threshold", "soft_threshold"]

_Z_MAX = 20.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _g(z: float) -> float:
    """(1 + z^2) Phi(-z) - z phi(z) = E[(|Z| - z)_+^2] / 2."""
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))                     # Phi(-z)
    return (1.0 + z * z) * tail - z * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def minimax_threshold(delta: float) -> float:
    r"""Minimax soft threshold z*(delta) for signed signals (kappa = 2), in units of the noise level.

    The maximiser over z in [0, 20] of ``[1 - (2 / delta) g(z)] / [1 + z^2 - 2 g(z)]``
    (limits.md 1.2; ``greedybench.analysis.l1.rho_weak(delta, return_threshold=True)`` returns
    the same z* from a vectorised search), e.g. 1.736 at delta = 0.1, 0.877 at delta = 0.5.

    Parameters
    ----------
    delta : float
        Undersampling ratio m / N in (0, 1).
    """
    delta = float(delta)
    if not (0.0 < delta < 1.0):
        raise ValueError(f"minimax_threshold: delta must lie in (0, 1); got {delta!r}.")

    def obj(z):
        gz = _g(z)
        return (1.0 - (2.0 / delta) * gz) / (1.0 + z * z - 2.0 * gz)

    lo, hi = 0.0, _Z_MAX
    for _ in range(80):  # golden section: 20 * 0.618^80 ~ 4e-16
        x1 = hi - _GOLDEN * (hi - lo)
        x2 = lo + _GOLDEN * (hi - lo)
        if obj(x1) >= obj(x2):
            hi = x2
        else:
            lo = x1
    return 0.5 * (lo + hi)


def soft_threshold(u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """sign(u) max(|u| - t, 0) elementwise (complex: u max(1 - t / |u|, 0)); t broadcasts."""
    if u.is_complex():
        mag = u.abs()
        return u * torch.clamp(1 - t / mag.clamp_min(torch.finfo(mag.dtype).tiny), min=0)
    return torch.sign(u) * torch.clamp(u.abs() - t, min=0)


def amp(A, y, *, alpha=None, n_iter=1000, tol=None, debias=False, return_path=False,
        damping=0.8):
    r"""Approximate message passing with soft thresholding (Donoho, Maleki & Montanari 2009).

    x^0 = 0, z^0 = y and, for t = 0 .. n_iter - 1,

        sigma_t = ||z^t||_2 / sqrt(m),                        (effective noise level)
        x^{t+1} = eta(x^t + A^T z^t ; alpha sigma_t),          (soft thresholding)
        b_{t+1} = ||x^{t+1}||_0 / m,
        z^{t+1} = (1 - beta) z^t + beta (y - A x^{t+1} + b_{t+1} z^t)   (Onsager correction),

    with beta = ``damping`` (beta = 1: the undamped iteration of the paper). Damping the
    residual keeps the fixed points (those of beta = 1) and, to first order, the rate of the
    slow modes; it removes a finite-N instability (see Notes). A problem stops (keeps its
    iterate) once ||y - A x^{t+1}|| <= tol ||y||; the loop ends when every problem has stopped or
    after n_iter iterations.

    Parameters
    ----------
    A : Tensor (m, N) or (B, m, N)
        Sensing matrix, shared by the batch or one per problem; float32 or float64, real. The
        theory assumes iid entries of variance 1/m (e.g. Gaussian with unit-norm columns).
    y : Tensor (B, m)
        Measurements (noiseless or noisy).
    alpha : None or float > 0
        Threshold multiplier. None (default): the minimax threshold z*(delta) of
        :func:`minimax_threshold` at delta = m / N, which maximises the noiseless phase
        transition (it then sits at rho_W(delta)); requires m < N.
    n_iter : int
        Maximum number of iterations, >= 1 (default 1000). Near the transition the iteration
        converges slowly (at delta = 0.95, N = 512, rho = 0.73 most problems need 500-2000
        iterations to reach tol), which matters for a strict criterion (relative l2 1e-3) more
        than for 1e-2.
    tol : None or float > 0
        Relative residual at which a problem stops. None: 1e-7 in float64, 1e-5 in float32.
    debias : bool
        If True, finish each problem with least squares on the support of its AMP iterate when
        that support has at most m columns (problems with larger supports keep the AMP
        iterate). Off by default: the plain AMP estimate is the one whose transition is rho_W.
    return_path : bool
        If True return all iterates, shape (B, n_iter + 1, N), iterate 0 = 0 (stopped problems
        repeat their final iterate; the debiased estimate, if asked, is the last one).
    damping : float in (0, 1]
        Residual damping beta (default 0.8); 1 is the undamped iteration, which diverges on some
        sensing matrices at large delta (Notes).

    Returns
    -------
    x : Tensor (B, N), or the path (B, n_iter + 1, N).

    Raises
    ------
    DTypeError
        For complex A or y (complex soft thresholding needs a different Onsager term; use
        :func:`greedybench.functional.basis_pursuit`).

    Notes
    -----
    Why damp. On a fixed support S with b = |S| / m, a perturbation along an eigenvector of
    A_S^T A_S with eigenvalue lam evolves with the roots of
    mu^2 - (2 - beta (1 - b) - beta lam) mu + 1 - beta (1 - b); one root passes -1 (an
    oscillation that grows) once lam > 4 / beta - 2 (1 - b). Undamped (beta = 1) that is
    lam > 2 (1 + b), while the top of the spectrum of A_S^T A_S is about (1 + sqrt(b))^2 =
    2 (1 + b) - (1 - sqrt(b))^2: the margin vanishes as b -> 1. At large delta the minimax
    threshold is small (z* = 0.227 at delta = 0.95), b stays near 0.9 and S holds most columns,
    so lam reaches the top of A^T A, (1 + delta^(-1/2))^2 = 4.10 > 2 (1 + b): the undamped
    iteration fails (mostly diverges) on most problems drawn with such a matrix. With
    beta = 0.8 the bound is lam > 5 - 2 (1 - b) (4.77 at b = 0.885), above the whole spectrum of
    A^T A at delta = 0.95 once b > 0.55. For small lam the slow root is
    1 - lam / (1 - b) + O(lam^2) whatever beta, so convergence is not slower.
    Measured (benchmarks/ratios/amp_stability.py: N = 128, 30 matrices x 4 problems, rho =
    0.65 rho_W, far inside): undamped, 9 of 120 problems fail at delta = 0.95 (6 diverge), 3 at
    delta = 0.8 and at 0.65; damped, none. Near the transition (0.95 rho_W) the damped
    iteration fails on as many or fewer problems, with median iterations -23 % .. +10 % of the
    undamped ones (delta 0.1 .. 0.95).

    Each y is first divided by a power of two near its largest entry and x multiplied back
    (exact): the result is scale-equivariant, also at 1e-160 and 1e154.
    Cost per iteration: two GEMMs (A x and A^T z: 4 m N B flops for a shared A) and O(N B)
    elementwise work; one host read per iteration (any problem still active?).

    References
    ----------
    D. L. Donoho, A. Maleki and A. Montanari, "Message-passing algorithms for compressed
    sensing", PNAS 106(45), 2009.
    """
    caller = "amp"
    p = check_problem(A, y, caller=caller)
    if p.A.is_complex() or p.y.is_complex():
        raise DTypeError(f"{caller}: complex A or y is not supported (real soft thresholding and its "
                         "Onsager term only); use basis_pursuit for complex data.")
    if alpha is None:
        if p.m >= p.N:
            raise ValueError(f"{caller}: the minimax threshold needs m < N (delta = m/N < 1); got "
                             f"m = {p.m}, N = {p.N}. Pass alpha explicitly.")
        alpha = minimax_threshold(p.m / p.N)
    else:
        alpha = float(check_positive("alpha", alpha, caller=caller))
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    if tol is None:
        tol = 1e-7 if p.y.dtype == torch.float64 else 1e-5
    tol = float(check_positive("tol", tol, caller=caller))
    debias = check_bool("debias", debias, caller=caller)
    return_path = check_bool("return_path", return_path, caller=caller)
    damping = float(check_positive("damping", damping, caller=caller))
    if damping > 1.0:
        raise InvalidParameterError(f"{caller}: damping must lie in (0, 1] (1: undamped); got "
                                    f"{damping!r}.")
    c = pow2_scale(p.y)
    x = _amp(p.A, p.y / c.to(p.y.dtype), alpha, n_iter, tol, debias, return_path, damping)
    return unscale(x, c)


def _amp(A, y, alpha, n_iter, tol, debias, return_path, damping):
    """AMP kernel; trusts its input (real, y rescaled)."""
    B, m, N = y.shape[0], A.shape[-2], A.shape[-1]
    x = y.new_zeros(B, N)
    z = y
    tol2 = (tol * tol) * sq_norm(y)
    active = sq_norm(y) > 0
    path = Path(x, n_iter, return_path)
    inv_sqrt_m = 1.0 / math.sqrt(m)
    for _ in range(n_iter):
        if not bool(active.any()):
            break
        theta = alpha * inv_sqrt_m * torch.linalg.vector_norm(z, dim=-1, keepdim=True)
        x_new = soft_threshold(x + rmatvec(A, z), theta)
        r = y - matvec(A, x_new)
        onsager = (x_new != 0).sum(-1, keepdim=True).to(y.dtype) / m
        z_new = r + onsager * z
        if damping != 1.0:
            z_new = torch.lerp(z, z_new, damping)            # (1 - beta) z + beta z_new
        x = freeze(active, x_new, x)
        z = freeze(active, z_new, z)
        active = active & (sq_norm(r) > tol2)
        path.record(x)
    if debias:
        x = _debias(A, y, x)
        if return_path:
            path.xs[-1] = x
    return path.finish(x)


def _debias(A, y, x):
    """Least squares of y on supp(x) per problem, where |supp(x)| <= m; x elsewhere."""
    B, m, N = y.shape[0], A.shape[-2], A.shape[-1]
    supp = x != 0
    k = supp.sum(-1)
    ok = (k > 0) & (k <= m)
    if not bool(ok.any()):
        return x
    kmax = int(k[ok].max())
    # the kmax largest |x| hold the whole support of every ok problem (padding: zeros, invalid)
    idx = x.abs().topk(kmax, dim=-1).indices
    valid = supp.gather(1, idx)
    cols = gather_columns(A, idx) * valid.unsqueeze(-2).to(A.dtype)
    z = pinv_solve(cols[ok], y[ok].unsqueeze(-1)).squeeze(-1) * valid[ok].to(A.dtype)
    out = x.clone()
    out[ok] = y.new_zeros(int(ok.sum()), N).scatter(1, idx[ok], z)
    return out
