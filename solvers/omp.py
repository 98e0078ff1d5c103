"""Orthogonal Matching Pursuit with s atoms (exact least squares by inverse-Cholesky updates)."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, PATI_1993, kernel_solve

name = "omp"
capabilities = CLASSICAL
parameters = {}
references = [PATI_1993, "Rubinstein, Zibulevsky & Elad (2008), Batch-OMP"]
solve = kernel_solve(gb.omp, parameters)
