"""Hard Thresholding Pursuit: gradient-step support selection, least squares on it; each problem
stops when its support repeats (n_iter is a cap)."""
import greedybench as gb

name = "htp"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"step": [1.0], "n_iter": [100]}
references = ["Foucart (2011), Hard thresholding pursuit"]


def solve(problem, step=1.0, n_iter=100):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.htp(problem.A, problem.y, problem.s, n_iter=n_iter, step=step)
