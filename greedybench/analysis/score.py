"""The one scoring rule: area under the 50 % transition curve rho*(delta).

Used by the leaderboard (``greedybench.leaderboard``) and by the report's summary table
(``greedybench.analysis``), so the two can never disagree about the same solver.

For each delta the logistic fit of success counts against the realised rho = s/m gives v(delta):

* fitted (``ok``, ``extrapolated``, ``separated``): rho* clipped to [0, largest rho tried];
* ``all_success``: the largest rho tried (the transition lies at or above the grid);
* ``all_failure``, no usable fit, or no cell at that delta: 0.

The score is the trapezoid rule of v over the sorted deltas (the area, not divided by the delta
range).
"""

from __future__ import annotations

import math
from typing import Iterable, List, Sequence, Tuple

from .phase import fit_logistic

__all__ = ["column_value", "transition_area", "area_under_transition"]


def column_value(rho: Sequence[float], k: Sequence[int], n: Sequence[int]) -> Tuple[float, str]:
    """v(delta) of one delta column from its cells: realised rho, successes, trials.

    Returns ``(value, flag)``; the flag is the fit's (``ok``, ``all_success`` ...) or ``missing``
    (no cell) or ``no_fit``.
    """
    if not len(rho):
        return 0.0, "missing"
    rho_hi = max(rho)
    fit = fit_logistic(rho, k, n)
    if fit.flag == "all_success":
        return float(rho_hi), fit.flag
    if fit.flag in ("all_failure", "too_few_points") or not math.isfinite(fit.rho_star):
        return 0.0, fit.flag if fit.flag != "ok" else "no_fit"
    return float(min(max(fit.rho_star, 0.0), rho_hi)), fit.flag


def transition_area(points: Iterable[Tuple[float, float]]) -> float:
    """Trapezoid area of ``(delta, v)`` points sorted by delta (0 for fewer than two points)."""
    pts = sorted(points)
    return float(sum(0.5 * (v0 + v1) * (d1 - d0) for (d0, v0), (d1, v1) in zip(pts, pts[1:])))


def area_under_transition(columns: Iterable[Tuple[float, Sequence[float], Sequence[int], Sequence[int]]]
                          ) -> Tuple[float, List[Tuple[float, float, str]]]:
    """Score one solver on one family from its delta columns ``(delta, rho, k, n)``.

    Returns ``(area, [(delta, v, flag), ...])`` sorted by delta.
    """
    pts = sorted((float(d), *column_value(rho, k, n)) for d, rho, k, n in columns)
    return transition_area((d, v) for d, v, _ in pts), pts
