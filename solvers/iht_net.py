"""IHT-Net: Soft-IHT (top-s SoftSort mask, fixed step) unrolled for 30 layers with one learned
selection-weight vector w (tied, init 1; ``tied=False``: one per layer) (untrained: Soft-IHT at
tau)."""
from greedybench.nn import IHTNet
from greedybench.nn.entry import solve_entry, train_entry
from greedybench.solvers import TRAINED

name = "iht_net"
capabilities = TRAINED
parameters = {}
references = ["Mohammad-Taheri, Colbrook & Brugiapaglia (2025), Deep greedy unfolding"]


def _model(A, *, s, n_layers=30, tau=1e-3, step=0.5, tied=True):
    return IHTNet(A, s, n_layers, tau=tau, step=step, tied=tied)


def train(train_batch, val_batch, *, seed, progress=True, n_layers=30, tau=1e-3, step=0.5, tied=True,
          out_dir=None, **train_options):
    kw = {"s": train_batch.s, "n_layers": n_layers, "tau": tau, "step": step, "tied": bool(tied)}
    return train_entry(_model, kw, train_batch, val_batch, seed=seed, progress=progress, out_dir=out_dir,
                       caller=name, **train_options)


def solve(problem, state=None, n_layers=30, tau=1e-3, step=0.5, tied=True, **params):
    kw = {} if state is not None else {"s": problem.s, "n_layers": n_layers, "tau": tau, "step": step,
                                       "tied": bool(tied)}
    return solve_entry(_model, kw, problem, state, caller=name)
