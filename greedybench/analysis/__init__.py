"""Analysis: per-problem metrics, the l1 reference curve, phase-transition fits and figures.

Computation (no drawing): ``metrics``, ``l1``, ``phase`` (logistic fits, bootstrap), ``score`` (the
one area-under-rho*(delta) rule, shared with the leaderboard), ``summary`` (the report's summary
table, selection maps, runtime and training aggregates), ``soft_vs_hard_study`` (Fig. 2 maths) and
``fig3_study`` (Fig. 3 data, metrics and tables). Drawing, one module per figure family:
``fig_phase``, ``fig_selection``, ``fig_runtime``, ``fig_soft_vs_hard``, ``fig_training`` (shared
parts in ``fig_common``); ``figures.make_figures`` orchestrates them and writes the manifest.
"""

from .l1 import l1_weak_curve, rho_weak
from .metrics import METRIC_COLUMNS, recovery_metrics
from .phase import (
    LogisticFit,
    bootstrap_rho_star,
    fit_logistic,
    logistic_prob,
    success_rates,
    transition_curve,
)

__all__ = [
    "LogisticFit", "METRIC_COLUMNS", "bootstrap_rho_star", "fit_logistic", "l1_weak_curve",
    "logistic_prob", "make_figures", "recovery_metrics", "rho_weak", "success_rates",
    "transition_curve",
]


def make_figures(*args, **kwargs):
    """See :func:`greedybench.analysis.figures.make_figures` (imported lazily: matplotlib is slow
    to import, and solve jobs only need the metrics)."""
    from .figures import make_figures as _make_figures

    return _make_figures(*args, **kwargs)
