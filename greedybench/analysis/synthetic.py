"""A small synthetic results table with known transitions, for tests and examples.

Each solver's success probability follows the logistic model with 50 % point
``rho* = scale * rho_W(delta)`` and steepness ``b0``, so fits can be checked against the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .l1 import rho_weak
from .phase import logistic_prob

__all__ = ["synthetic_results"]


def synthetic_results(*, solvers=(("omp", 0.8, 2e-3), ("iht", 0.6, 5e-4)), families=("gauss_B",),
                      deltas=(0.2, 0.4, 0.6, 0.8), n_rho: int = 8, trials: int = 10, N: int = 200,
                      b0: float = 12.0, seed: int = 0) -> pd.DataFrame:
    """Long results table (docs/architecture.md columns) with Bernoulli outcomes.

    ``solvers`` holds ``(name, scale, seconds per problem)``: the true rho* of a solver at delta
    is ``scale * rho_W(delta)``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for solver, scale, t in solvers:
        for family in families:
            for delta in deltas:
                m = int(round(delta * N))
                rstar = scale * float(rho_weak(m / N))
                for s in np.unique(np.linspace(1, 0.8 * m, n_rho).astype(int)):
                    rho = s / m
                    p = float(logistic_prob(rho, b0, 1.0 / rstar))
                    for trial in range(trials):
                        ok = bool(rng.random() < p)
                        rows.append(dict(
                            solver=solver, family=family, ensemble="gaussian", signal="B",
                            m=m, N=N, s=int(s), delta=m / N, rho=rho, sigma=0.0, seed=trial,
                            rel_err=1e-9 if ok else 0.5, linf_err=1e-9 if ok else 0.7,
                            exact_support=ok or bool(rng.random() < 0.1), success=ok,
                            time_per_problem_s=t * (1 + 0.1 * rng.random()) * (1 + s / 10),
                            batch_size=trials, device="cpu", dtype="float64"))
    return pd.DataFrame(rows)
