"""Soft-IHT: IHT whose top-s mask is relaxed to the column sums of the top-s SoftSort rows.

Same step (0.65) and iteration count (300) as the ``iht`` entry, so that the pair can be compared
on the same problems; differentiable in A, y, tau, the step and the weights; equals IHT as
tau -> 0 (reference 3.2).
"""
import greedybench as gb
from greedybench.solvers import BLUMENSATH_DAVIES_2009, IHT_ITERS, IHT_STEP, SOFT, kernel_solve

name = "soft_iht"
capabilities = SOFT
parameters = {"tau": [1e-3]}
references = [
    "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), Deep greedy unfolding, arXiv:2505.15661",
    BLUMENSATH_DAVIES_2009,
]
solve = kernel_solve(gb.soft_iht, parameters, step=IHT_STEP, n_iter=IHT_ITERS)
