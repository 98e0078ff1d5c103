"""Normalised IHT: adaptive step ||g_S||^2 / ||A_S g_S||^2 with backtracking (no step to tune)."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, kernel_solve

name = "niht"
capabilities = CLASSICAL
parameters = {"n_iter": [300]}
references = ["Blumensath & Davies (2010), Normalized iterative hard thresholding"]
solve = kernel_solve(gb.niht, parameters)
