"""LISTA-CP (untied: per-layer W_k and theta_k, the coupling S_k = I - W_k^T A built in), initialised
from ISTA and trained with Adam (lr 5e-4) on the family's train split."""
from greedybench.nn import LISTACP
from greedybench.nn.entry import solve_entry, train_entry

name = "lista_cp"
capabilities = {"differentiable": True, "trained": True, "complex": True, "gpu": True}
parameters = {}
references = ["Chen, Liu, Wang & Yin (2018), Theoretical linear convergence of unfolded ISTA"]


def _model(A, *, n_layers=16, lam=0.1):
    return LISTACP(A, n_layers, lam=lam)


def train(train_batch, val_batch, *, seed, progress=True, n_layers=16, lam=0.1, out_dir=None, **train_options):
    opts = {"optimizer": "adam", "lr": 5e-4, **train_options}
    return train_entry(_model, {"n_layers": n_layers, "lam": lam}, train_batch, val_batch, seed=seed,
                       progress=progress, out_dir=out_dir, caller=name, **opts)


def solve(problem, state=None, n_layers=16, lam=0.1, **params):
    kw = {} if state is not None else {"n_layers": n_layers, "lam": lam}
    return solve_entry(_model, kw, problem, state, caller=name)
