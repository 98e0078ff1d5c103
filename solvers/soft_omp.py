"""Soft-OMP: OMP whose argmax is relaxed to softmax(|A^H r| / tau) (SoftSort row 1), s iterations.

Differentiable in A, y, tau and the weights; equals OMP as tau -> 0 (reference 3.1, section 5.2:
indistinguishable for tau <= 1e-4 at sigma = 1e-3, tau = 1e-3 is the training temperature).
"""
import greedybench as gb
from greedybench.solvers import SOFT, kernel_solve

name = "soft_omp"
capabilities = SOFT
parameters = {"tau": [1e-3]}
references = [
    "Mohammad-Taheri, Colbrook & Brugiapaglia (2025), Deep greedy unfolding, arXiv:2505.15661",
    "Prillo & Eisenschlos (2020), SoftSort, ICML",
]
solve = kernel_solve(gb.soft_omp, parameters)
