"""PUDLE-ISTA: PUDLE's unrolled ISTA encoder with the dictionary known (D = A frozen) and learned
per-layer thresholds, trained with the supervised code loss."""
from greedybench.nn import PUDLEISTA
from greedybench.nn.entry import solve_entry, train_entry
from greedybench.solvers import TRAINED

name = "pudle_ista"
capabilities = TRAINED
parameters = {}
references = ["Tolooshams & Ba (2022), Stable and Interpretable Unrolled Dictionary Learning"]


def _model(A, *, n_layers=16, lam=0.1, learn_step=False):
    return PUDLEISTA(A, n_layers, lam=lam, learn_step=learn_step)


def train(train_batch, val_batch, *, seed, progress=True, n_layers=16, lam=0.1, learn_step=False, out_dir=None,
          **train_options):
    opts = {"optimizer": "adam", "lr": 1e-3, **train_options}
    return train_entry(_model, {"n_layers": n_layers, "lam": lam, "learn_step": learn_step}, train_batch,
                       val_batch, seed=seed, progress=progress, out_dir=out_dir, caller=name, **opts)


def solve(problem, state=None, n_layers=16, lam=0.1, learn_step=False, **params):
    kw = {} if state is not None else {"n_layers": n_layers, "lam": lam, "learn_step": learn_step}
    return solve_entry(_model, kw, problem, state, caller=name)
