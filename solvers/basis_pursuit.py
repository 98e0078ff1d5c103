"""Basis pursuit, min ||x||_1 subject to A x = y, by over-relaxed ADMM with residual balancing,
run to relative primal and dual residuals 1e-8 (float64; 1e-5 float32) or n_iter: the l1
reference (its transition is rho_W(delta))."""
import greedybench as gb

name = "basis_pursuit"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"n_iter": [2000]}
references = [
    "Chen, Donoho & Saunders (1998), Atomic decomposition by basis pursuit",
    "Boyd, Parikh, Chu, Peleato & Eckstein (2011), ADMM",
]


def solve(problem, n_iter=2000):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.basis_pursuit(problem.A, problem.y, n_iter=n_iter)
