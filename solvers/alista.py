"""ALISTA: analytic weight matrix W~ (min ||W^H A||_F s.t. diag(W^H A) = 1, projected gradient),
learned per-layer steps gamma_k and thresholds theta_k only."""
from greedybench.nn import ALISTA
from greedybench.nn.entry import solve_entry, train_entry
from greedybench.solvers import TRAINED

name = "alista"
capabilities = TRAINED
parameters = {}
references = ["Liu, Chen, Wang & Yin (2019), ALISTA"]


def _model(A, *, n_layers=16, lam=0.1, support_selection=None):
    ss = None if support_selection is None else tuple(support_selection)
    return ALISTA(A, n_layers, lam=lam, support_selection=ss)


def train(train_batch, val_batch, *, seed, progress=True, n_layers=16, lam=0.1, support_selection=None,
          out_dir=None, **train_options):
    opts = {"optimizer": "adam", "lr": 1e-3, **train_options}
    kw = {"n_layers": n_layers, "lam": lam,
          "support_selection": None if support_selection is None else list(support_selection)}
    return train_entry(_model, kw, train_batch, val_batch, seed=seed, progress=progress, out_dir=out_dir,
                       caller=name, **opts)


def solve(problem, state=None, n_layers=16, lam=0.1, support_selection=None, **params):
    kw = {} if state is not None else {"n_layers": n_layers, "lam": lam, "support_selection": support_selection}
    return solve_entry(_model, kw, problem, state, caller=name)
