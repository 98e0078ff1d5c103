"""LISTA (untied: shared W_e, per-layer S_k and theta_k; complex-aware soft threshold), initialised
from ISTA and trained with Adam (lr 5e-4) on the family's train split."""
from greedybench.nn import LISTA
from greedybench.nn.entry import unfolded_ista_entry
from greedybench.solvers import TRAINED

name = "lista"
capabilities = TRAINED
parameters = {}
references = ["Gregor & LeCun (2010)", "Chen, Liu, Wang & Yin (2018)"]

train, solve = unfolded_ista_entry(LISTA, name, lr=5e-4)
