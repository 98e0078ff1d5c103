"""CoSaMP: merge 2s candidates with the support, least squares on <= 3s columns (capped at m),
prune to s; each problem stops when its residual vanishes or by ``stop``: "support" (default:
its support repeats) or "residual" (its residual stops decreasing; keeps the previous iterate)."""
import greedybench as gb

name = "cosamp"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [100], "stop": ["support"]}
references = ["Needell & Tropp (2009), CoSaMP"]


def solve(problem, n_iter=100, stop="support"):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.cosamp(problem.A, problem.y, problem.s, n_iter=n_iter, stop=stop)
