"""Hard Thresholding Pursuit: gradient-step support selection, least squares on it; each problem
stops when its support repeats (n_iter is a cap). ``step``: a fixed step (Foucart's HTP, default
1.0) or "normalized" (NHTP: the NIHT step ||g_T||^2 / ||A_T g_T||^2 per problem and iteration,
as in GAGA and CR-Sparse); the two have different phase transitions."""
import greedybench as gb
from greedybench.solvers import CLASSICAL, kernel_solve

name = "htp"
capabilities = CLASSICAL
parameters = {"step": [1.0], "n_iter": [100]}
references = [
    "Foucart (2011), Hard thresholding pursuit",
    "Blanchard & Tanner (2015), Performance comparisons of greedy algorithms (NHTP)",
]
solve = kernel_solve(gb.htp, parameters)
