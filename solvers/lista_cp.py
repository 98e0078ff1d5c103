"""LISTA-CP (untied: per-layer W_k and theta_k, the coupling S_k = I - W_k^T A built in), initialised
from ISTA and trained with Adam (lr 5e-4) on the family's train split."""
from greedybench.nn import LISTACP
from greedybench.nn.entry import unfolded_ista_entry
from greedybench.solvers import TRAINED

name = "lista_cp"
capabilities = TRAINED
parameters = {}
references = ["Chen, Liu, Wang & Yin (2018), Theoretical linear convergence of unfolded ISTA"]

train, solve = unfolded_ista_entry(LISTACP, name, lr=5e-4)
