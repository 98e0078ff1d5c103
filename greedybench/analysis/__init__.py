"""Analysis: per-problem metrics, the l1 reference curve, phase-transition fits and figures."""

from .figures import make_figures
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
