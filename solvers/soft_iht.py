"""Soft-IHT: IHT whose top-s mask is relaxed to the column sums of the top-s SoftSort rows.

Same step (0.65) and iteration count (300) as the ``iht`` entry, so that the pair can be compared
on the same problems; differentiable in A, y, tau, the step and the weights; equals IHT as
tau -> 0 (reference 3.2).
"""
import greedybench as gb

name = "soft_iht"
capabilities = {"differentiable": True, "trained": False, "complex": True, "gpu": True}
parameters = {"tau": [1e-3]}
references = [
    "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), Deep greedy unfolding, arXiv:2505.15661",
    "Blumensath & Davies (2009), Iterative hard thresholding for compressed sensing",
]


def solve(problem, tau=1e-3, step=0.65, n_iter=300):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.soft_iht(problem.A, problem.y, problem.s, tau=tau, step=step, n_iter=n_iter)
