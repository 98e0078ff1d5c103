"""Weighted OMP with oracle weights: 1 on the hidden set meta["T"] (when the instance has one),
0 elsewhere; plain OMP otherwise. An upper reference for learned weights (OMP-Net)."""
import greedybench as gb

name = "omp_oracle"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}
references = [
    "Pati, Rezaiifar & Krishnaprasad (1993)",
    "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), oracle weights",
]


def solve(problem, **params):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.omp(problem.A, problem.y, problem.s, weights=problem.oracle_weights())
