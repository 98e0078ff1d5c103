"""The l1 (basis pursuit) weak phase-transition curve rho_W(delta) of Donoho and Tanner.

Computed, not tabulated, from the minimax-MSE / AMP state-evolution characterisation
(Donoho, Maleki & Montanari, PNAS 2009; reference ``limits.md`` 1.2)::

    g(z)        = (1 + z^2) Phi(-z) - z phi(z)
    rho_W(delta) = max_{z >= 0} [1 - (kappa / delta) g(z)] / [1 + z^2 - kappa g(z)]

with kappa = 2 for signed signals (the cross-polytope, the suite's reference curve) and kappa = 1
for nonnegative signals with the positivity constraint enforced (the simplex). The objective is
unimodal in z, so a golden-section search, vectorised over delta, finds the maximum to machine
precision in 90 steps.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

__all__ = ["g", "rho_weak", "l1_weak_curve", "KAPPA"]

KAPPA = {"signed": 2.0, "nonnegative": 1.0}

_Z_MAX = 20.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_N_STEPS = 80  # 20 * 0.618^80 ~ 4e-16: the bracket reaches double precision


def g(z):
    """``g(z) = (1 + z^2) Phi(-z) - z phi(z) = E[(|Z| - z)_+^2] / 2``, elementwise, for z >= 0."""
    z = np.asarray(z, dtype=float)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (1.0 + z * z) * ndtr(-z) - z * phi


def _objective(z, delta, kappa):
    gz = g(z)
    return (1.0 - (kappa / delta) * gz) / (1.0 + z * z - kappa * gz)


def rho_weak(delta, *, signal: str = "signed", return_threshold: bool = False):
    """Weak l1 threshold rho_W(delta) = s/m at which basis pursuit succeeds with probability 1/2
    (as N -> infinity, Gaussian A).

    Parameters
    ----------
    delta : float or array_like
        Undersampling ratio(s) m/N, each in (0, 1].
    signal : {"signed", "nonnegative"}
        "signed" (kappa = 2, cross-polytope; the curve to plot next to greedy solvers) or
        "nonnegative" (kappa = 1, simplex, positivity enforced).
    return_threshold : bool
        Also return the maximiser z*, the optimal soft threshold in units of the noise level.

    Returns
    -------
    rho : float or ndarray with the shape of ``delta`` (and ``z_star`` if asked).
    """
    if signal not in KAPPA:
        raise ValueError(f"rho_weak: signal must be one of {sorted(KAPPA)}; got {signal!r}")
    kappa = KAPPA[signal]
    d = np.asarray(delta, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0) or np.any(d > 1):
        raise ValueError(f"rho_weak: delta must lie in (0, 1]; got {delta!r}")
    flat = d.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 only at delta = 1, set below
        rho, z_star = _golden_max(flat, kappa)
    rho = np.where(flat >= 1.0, 1.0, rho)
    rho = rho.reshape(d.shape)
    z_star = z_star.reshape(d.shape)
    if d.ndim == 0:
        rho, z_star = float(rho), float(z_star)
    return (rho, z_star) if return_threshold else rho


def _golden_max(flat, kappa):
    lo = np.zeros_like(flat)
    hi = np.full_like(flat, _Z_MAX)
    for _ in range(_N_STEPS):  # vectorised golden-section search for the maximum
        x1 = hi - _GOLDEN * (hi - lo)
        x2 = lo + _GOLDEN * (hi - lo)
        left = _objective(x1, flat, kappa) >= _objective(x2, flat, kappa)  # max in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
    z_star = 0.5 * (lo + hi)
    # at delta = 1 the objective is 0/0 at z = 0 for kappa = 2 (the limit, and the caller's value, is 1)
    return _objective(z_star, flat, kappa), z_star


def l1_weak_curve(deltas=None, *, signal: str = "signed", n: int = 199):
    """``(delta, rho_W(delta))`` on a fine grid in [0.005, 0.995] (or on ``deltas``), for plots."""
    if deltas is None:
        deltas = np.linspace(0.005, 0.995, n)
    deltas = np.asarray(deltas, dtype=float)
    return deltas, rho_weak(deltas, signal=signal)
