"""CoSaMP: merge 2s candidates with the support, least squares on <= 3s columns (capped at m),
prune to s; each problem stops when its residual vanishes or by ``stop``: "support" (default:
its support repeats) or "residual" (its residual stops decreasing; keeps the previous iterate)."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, kernel_solve

name = "cosamp"
capabilities = CLASSICAL
parameters = {"n_iter": [100], "stop": ["support"]}
references = ["Needell & Tropp (2009), CoSaMP"]
solve = kernel_solve(gb.cosamp, parameters)
