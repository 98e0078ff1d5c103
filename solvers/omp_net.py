"""OMP-Net: Soft-OMP unrolled for s layers with one learned selection-weight vector w (tied,
init 1; ``tied=False``: one per layer), trained on the family's train split (untrained: Soft-OMP
at tau)."""
from greedybench.nn import OMPNet
from greedybench.nn.entry import solve_entry, train_entry
from greedybench.solvers import TRAINED

name = "omp_net"
capabilities = TRAINED
parameters = {}
references = ["Mohammad-Taheri, Colbrook & Brugiapaglia (2025), Deep greedy unfolding"]


def _model(A, *, n_layers, tau=1e-3, tied=True):
    return OMPNet(A, n_layers, tau=tau, tied=tied)


def train(train_batch, val_batch, *, seed, progress=True, tau=1e-3, n_layers=None, tied=True, out_dir=None,
          **train_options):
    """Returns the trained state (plain dict); train_options are TrainConfig fields (epochs, lr ...)."""
    kw = {"n_layers": n_layers or train_batch.s, "tau": tau, "tied": bool(tied)}
    return train_entry(_model, kw, train_batch, val_batch, seed=seed, progress=progress, out_dir=out_dir,
                       caller=name, **train_options)


def solve(problem, state=None, tau=1e-3, n_layers=None, tied=True, **params):
    kw = {} if state is not None else {"n_layers": n_layers or problem.s, "tau": tau, "tied": bool(tied)}
    return solve_entry(_model, kw, problem, state, caller=name)
