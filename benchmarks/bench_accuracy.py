"""asv track_* benchmarks: accuracy figures tracked over commits (not times).

The 50% phase-transition point rho* = s/m at delta = m/N = 0.5 (N = 128, Gaussian A, Gaussian
amplitudes, noiseless, success = relative l2 error <= 1e-3), from a logistic fit over a fixed,
seeded mini-grid. A drop flags an accuracy regression that a timing benchmark would not see.
"""

import numpy as np
import torch

import greedybench as gb
from greedybench.analysis import fit_logistic
from greedybench.datasets import make_instance

N, M, TRIALS = 128, 64, 24
RHOS = np.round(np.arange(0.05, 0.66, 0.05), 2)


def _rho_star(solve):
    torch.set_num_threads(2)
    wins = []
    for rho in RHOS:
        s = max(1, int(round(rho * M)))
        inst = make_instance(ensemble="gaussian", signal="uniform", m=M, N=N, s=s, batch=TRIALS, seed=7)
        x = solve(inst.A, inst.Y, s)
        err = (x - inst.X).norm(dim=1) / inst.X.norm(dim=1)
        wins.append(int((err <= 1e-3).sum()))
    fit = fit_logistic(RHOS, np.array(wins), np.full(len(RHOS), TRIALS))
    return float(fit.rho_star)


def track_rho50_omp():
    return _rho_star(lambda A, y, s: gb.omp(A, y, s))


def track_rho50_iht():
    return _rho_star(lambda A, y, s: gb.iht(A, y, s, step=1.0, n_iter=300))


track_rho50_omp.unit = "rho* (s/m)"
track_rho50_iht.unit = "rho* (s/m)"
