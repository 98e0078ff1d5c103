"""Weighted IHT with oracle weights: 1 on the hidden set meta["T"] (when the instance has one),
0 elsewhere; plain IHT otherwise. Same step and iteration defaults as the "iht" entry. An upper
reference for learned weights (IHT-Net)."""
import greedybench as gb

name = "iht_oracle"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {"step": [0.65], "n_iter": [300]}
references = [
    "Blumensath & Davies (2009), Iterative hard thresholding for compressed sensing",
    "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), oracle weights",
]


def solve(problem, step=0.65, n_iter=300):
    """problem: greedybench.registry.ProblemBatch; returns x of shape (B, N)."""
    return gb.iht(problem.A, problem.y, problem.s, step=step, n_iter=n_iter,
                  weights=problem.oracle_weights())
