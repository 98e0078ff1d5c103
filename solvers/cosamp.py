"""CoSaMP: merge 2s candidates with the support, least squares on <= 3s columns (capped at m),
prune to s; each problem stops when its support repeats or its residual vanishes."""
import greedybench as gb

name = "cosamp"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [100]}
references = ["Needell & Tropp (2009), CoSaMP"]


def solve(problem, n_iter=100):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.cosamp(problem.A, problem.y, problem.s, n_iter=n_iter)
