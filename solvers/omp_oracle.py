"""Weighted OMP with oracle weights: 1 on the hidden set meta["T"] (when the instance has one),
0 elsewhere; plain OMP otherwise. An upper reference for learned weights (OMP-Net)."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, ORACLE_WEIGHTS, PATI_1993, kernel_solve

name = "omp_oracle"
capabilities = CLASSICAL
parameters = {}
references = [PATI_1993, ORACLE_WEIGHTS]
solve = kernel_solve(gb.omp, parameters, oracle=True)
