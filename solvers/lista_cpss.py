"""LISTA-CPSS: LISTA-CP with support selection (the top min(p k, p_max) % entries above theta_k pass
unshrunk; p = 1.2 %, p_max = 13 %), initialised from ISTA and trained with Adam (lr 5e-4)."""
from greedybench.nn import LISTACPSS
from greedybench.nn.entry import solve_entry, train_entry
from greedybench.solvers import TRAINED

name = "lista_cpss"
capabilities = TRAINED
parameters = {}
references = ["Chen, Liu, Wang & Yin (2018), Theoretical linear convergence of unfolded ISTA"]


def _model(A, *, n_layers=16, lam=0.1, support_selection=(1.2, 13.0)):
    return LISTACPSS(A, n_layers, lam=lam, support_selection=tuple(support_selection))


def train(train_batch, val_batch, *, seed, progress=True, n_layers=16, lam=0.1, support_selection=(1.2, 13.0),
          out_dir=None, **train_options):
    opts = {"optimizer": "adam", "lr": 5e-4, **train_options}
    kw = {"n_layers": n_layers, "lam": lam, "support_selection": list(support_selection)}
    return train_entry(_model, kw, train_batch, val_batch, seed=seed, progress=progress, out_dir=out_dir,
                       caller=name, **opts)


def solve(problem, state=None, n_layers=16, lam=0.1, support_selection=(1.2, 13.0), **params):
    kw = {} if state is not None else {"n_layers": n_layers, "lam": lam, "support_selection": support_selection}
    return solve_entry(_model, kw, problem, state, caller=name)
