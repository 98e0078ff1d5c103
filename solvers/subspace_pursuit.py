"""Subspace Pursuit: merge s candidates with the support, two least squares per iteration; each
problem stops when its residual vanishes or by ``stop``: "residual" (default: its residual stops
decreasing; keeps the previous iterate) or "support" (its support repeats)."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, kernel_solve

name = "subspace_pursuit"
capabilities = CLASSICAL
parameters = {"n_iter": [100], "stop": ["residual"]}
references = ["Dai & Milenkovic (2009), Subspace pursuit"]
solve = kernel_solve(gb.subspace_pursuit, parameters)
