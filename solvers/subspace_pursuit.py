"""Subspace Pursuit: merge s candidates with the support, two least squares per iteration; each
problem stops when its residual vanishes or by ``stop``: "residual" (default: its residual stops
decreasing; keeps the previous iterate) or "support" (its support repeats)."""
import greedybench as gb

name = "subspace_pursuit"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [100], "stop": ["residual"]}
references = ["Dai & Milenkovic (2009), Subspace pursuit"]


def solve(problem, n_iter=100, stop="residual"):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.subspace_pursuit(problem.A, problem.y, problem.s, n_iter=n_iter, stop=stop)
