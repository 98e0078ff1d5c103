"""Normalised IHT: adaptive step ||g_S||^2 / ||A_S g_S||^2 with backtracking (no step to tune)."""
import greedybench as gb

name = "niht"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [300]}
references = ["Blumensath & Davies (2010), Normalized iterative hard thresholding"]


def solve(problem, n_iter=300):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.niht(problem.A, problem.y, problem.s, n_iter=n_iter)
