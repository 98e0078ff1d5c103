"""The one scoring rule: area under the 50 % transition curve rho*(delta).

Used by the leaderboard (``greedybench.leaderboard``) and by the report's summary table
(``greedybench.analysis``), so the two can never disagree about the same solver.

For each delta the logistic fit of success counts against the realised rho = s/m gives v(delta):

* fitted (``ok``, ``extrapolated``, ``separated``): rho* clipped to [0, largest rho tried];
* ``all_success``: the largest rho tried (the transition lies at or above the grid);
* ``all_failure``, no usable fit, or no cell at that delta: 0.

The score is the trapezoid rule of v over the sorted deltas (the area, not divided by the delta
range). :func:`column_values_batch` applies the same rule to many replicates of the counts at once
(bootstrap intervals; :mod:`greedybench.analysis.ranking`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from .phase import fit_logistic, rho_star_batch

__all__ = ["column_value", "column_values_batch", "transition_area", "transition_areas", "area_under_transition"]


@lru_cache(maxsize=4096)
def _fit(rho: tuple, k: tuple, n: tuple):
    """:func:`fit_logistic` of one column, memoised: a table scores each column once for the point
    value and again as the start of its bootstrap replicates (the fit is deterministic)."""
    return fit_logistic(rho, k, n)


def _key(values) -> tuple:
    return tuple(float(v) for v in values)


def column_value(rho: Sequence[float], k: Sequence[int], n: Sequence[int]) -> Tuple[float, str]:
    """v(delta) of one delta column from its cells: realised rho, successes, trials.

    Returns ``(value, flag)``; the flag is the fit's (``ok``, ``all_success`` ...) or ``missing``
    (no cell) or ``no_fit``.
    """
    if not len(rho):
        return 0.0, "missing"
    rho_hi = max(rho)
    fit = _fit(_key(rho), _key(k), _key(n))
    if fit.flag == "all_success":
        return float(rho_hi), fit.flag
    if fit.flag in ("all_failure", "too_few_points") or not math.isfinite(fit.rho_star):
        return 0.0, fit.flag if fit.flag != "ok" else "no_fit"
    return float(min(max(fit.rho_star, 0.0), rho_hi)), fit.flag


def column_values_batch(rho: Sequence[float], k: np.ndarray, n: Sequence[int]) -> np.ndarray:
    """v(delta) of one delta column for many count vectors ``k`` ``(R, C)`` on the same cells
    (the rule of :func:`column_value`, replicate by replicate). Returns ``(R,)``."""
    k = np.atleast_2d(np.asarray(k, dtype=float))
    if not len(rho):
        return np.zeros(k.shape[0])
    rho_hi = float(max(rho))
    rs, flags = rho_star_batch(rho, k, n, start=_fit(_key(rho), _key(k[0]), _key(n)) if k.shape[0] else None)
    v = np.where(np.isfinite(rs), np.clip(rs, 0.0, rho_hi), 0.0)
    v[flags == "all_success"] = rho_hi
    v[(flags == "all_failure") | (flags == "too_few_points")] = 0.0
    return v


def transition_area(points: Iterable[Tuple[float, float]]) -> float:
    """Trapezoid area of ``(delta, v)`` points sorted by delta (0 for fewer than two points)."""
    pts = sorted(points)
    return float(sum(0.5 * (v0 + v1) * (d1 - d0) for (d0, v0), (d1, v1) in zip(pts, pts[1:])))


def transition_areas(deltas: Sequence[float], values: np.ndarray) -> np.ndarray:
    """Trapezoid areas of many curves at once: ``values`` ``(R, D)`` at the sorted ``deltas``."""
    d = np.asarray(deltas, dtype=float)
    v = np.atleast_2d(np.asarray(values, dtype=float))
    if d.size < 2:
        return np.zeros(v.shape[0])
    return (0.5 * (v[:, 1:] + v[:, :-1]) * np.diff(d)[None, :]).sum(axis=1)


def area_under_transition(columns: Iterable[Tuple[float, Sequence[float], Sequence[int], Sequence[int]]]
                          ) -> Tuple[float, List[Tuple[float, float, str]]]:
    """Score one solver on one family from its delta columns ``(delta, rho, k, n)``.

    Returns ``(area, [(delta, v, flag), ...])`` sorted by delta.
    """
    pts = sorted((float(d), *column_value(rho, k, n)) for d, rho, k, n in columns)
    return transition_area((d, v) for d, v, _ in pts), pts
