"""Weighted IHT with oracle weights: 1 on the hidden set meta["T"] (when the instance has one),
0 elsewhere; plain IHT otherwise. Same step and iteration defaults as the "iht" entry. An upper
reference for learned weights (IHT-Net)."""
import greedybench as gb
from greedybench.solvers import (BLUMENSATH_DAVIES_2009, CLASSICAL, IHT_ITERS, IHT_STEP, ORACLE_WEIGHTS,
                                kernel_solve)

name = "iht_oracle"
capabilities = CLASSICAL
parameters = {"step": [IHT_STEP], "n_iter": [IHT_ITERS]}
references = [BLUMENSATH_DAVIES_2009, ORACLE_WEIGHTS]
solve = kernel_solve(gb.iht, parameters, oracle=True)
