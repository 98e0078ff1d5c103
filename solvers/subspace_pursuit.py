"""Subspace Pursuit: merge s candidates with the support, two least squares per iteration; each
problem stops when its residual stops decreasing."""
import greedybench as gb

name = "subspace_pursuit"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [100]}
references = ["Dai & Milenkovic (2009), Subspace pursuit"]


def solve(problem, n_iter=100):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.subspace_pursuit(problem.A, problem.y, problem.s, n_iter=n_iter)
