"""Orthogonal Matching Pursuit with s atoms (exact least squares by inverse-Cholesky updates)."""
import greedybench as gb

name = "omp"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}
references = [
    "Pati, Rezaiifar & Krishnaprasad (1993)",
    "Rubinstein, Zibulevsky & Elad (2008), Batch-OMP",
]


def solve(problem, **params):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.omp(problem.A, problem.y, problem.s)
