"""Approximate message passing with soft thresholding at the minimax threshold z*(m/N) and the
Onsager correction, residual damped by the kernel's default 0.8 (the undamped iteration diverges on
some matrices at large delta): the l1 reference (its noiseless transition is rho_W(delta)). Real
data only."""
import greedybench as gb

name = "amp"
capabilities = {"differentiable": False, "trained": False, "complex": False, "gpu": True}
parameters = {"n_iter": [1000]}
references = ["Donoho, Maleki & Montanari (2009), Message-passing algorithms for compressed sensing"]


def solve(problem, n_iter=1000):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.amp(problem.A, problem.y, n_iter=n_iter)
