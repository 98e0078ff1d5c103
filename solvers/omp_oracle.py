"""Weighted OMP with oracle weights: 1 on the hidden set meta["T"] (when the instance has one),
0 elsewhere; plain OMP otherwise. An upper reference for learned weights (OMP-Net)."""
import torch

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
    T = problem.meta.get("T")
    weights = None
    if T is not None:
        weights = torch.zeros(problem.N, dtype=problem.A.real.dtype, device=problem.A.device)
        weights[torch.as_tensor(T, dtype=torch.long, device=problem.A.device)] = 1
    return gb.omp(problem.A, problem.y, problem.s, weights=weights)
