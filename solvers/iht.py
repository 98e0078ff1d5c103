"""Iterative Hard Thresholding with a fixed step.

Default step 0.65: Maleki & Donoho's tuned relaxation for unit-norm columns (SparseLab
RecommendedIHT). Step 1 is not safe with unit-norm Gaussian columns at m/N = 1/2 (it diverged on
1 of 4 test problems with m = 128, N = 256, s = 8, where ||A||^2 ~ 5.8); the guaranteed-stable
choice 1/||A||_2^2 is offered as step="norm" (0.98 / ||A||_2^2, CR-Sparse's default; for a
per-problem A the largest norm of the batch) but needs many more iterations.
"""
import torch

import greedybench as gb
from greedybench.solvers import BLUMENSATH_DAVIES_2009, CLASSICAL, IHT_ITERS, IHT_STEP

name = "iht"
capabilities = CLASSICAL
parameters = {"step": [IHT_STEP], "n_iter": [IHT_ITERS]}
references = [
    BLUMENSATH_DAVIES_2009,
    "Maleki & Donoho (2010), Optimally tuned iterative reconstruction algorithms (step 0.65)",
]


def solve(problem, step=IHT_STEP, n_iter=IHT_ITERS):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    if step == "norm":
        step = 0.98 / float(torch.linalg.matrix_norm(problem.A, ord=2).max()) ** 2
    return gb.iht(problem.A, problem.y, problem.s, step=step, n_iter=n_iter)
