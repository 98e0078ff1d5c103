"""Glue for the trained solver entries (solvers/omp_net.py, iht_net.py, lista.py, alista.py,
pudle_ista.py): build a model from a ProblemBatch, train it with ``greedybench.train.train`` and
apply a trained state to new problems (:func:`train_entry`, :func:`solve_entry`; the whole
``train`` and ``solve`` of the nets built as ``net(A, n_layers, lam=lam)``:
:func:`unfolded_ista_entry`). Keeps the entry files declaration-only.

A trained state is a plain dict (``torch.load(weights_only=True)`` loads it):
``{"model": <class name>, "config": <JSON-able constructor kwargs + TrainConfig>, "state_dict":
{name: tensor}, "best_epoch": int, "best_val_loss": float, "sha256": str}``; ``sha256`` is the
checksum (``greedybench._checkpoint.digest``) of ``model``, ``config`` and ``state_dict``, verified
by :func:`solve_entry` together with the finiteness of the weights. The operator buffers (``A``, and
ALISTA's ``W``) are not applied at solve time: the model is rebuilt from the problem's own A and only
the learned parameters are loaded.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from .._checkpoint import check_finite_state, digest
from .._validation import InvalidParameterError, ShapeError
from ..train import CheckpointError, TrainConfig, load_model, predict, train

_OPERATOR_BUFFERS = ("A", "W")
_TRAIN_KEYS = {f for f in TrainConfig.__dataclass_fields__ if not f.startswith("_")}


def _shared_A(batch, caller: str) -> torch.Tensor:
    A = batch.A
    if A.dim() == 3:
        if not bool((A == A[:1]).all()):
            raise ShapeError(f"{caller}: trained nets need one A shared by the batch; got a batch of "
                             f"{A.shape[0]} different matrices.")
        A = A[0]
    return A


def _pair(batch, caller: str, name: str):
    X = getattr(batch, "X", None)
    if X is None:
        raise InvalidParameterError(f"{caller}: {name} has no ground truth X (ProblemBatch.X); "
                                    "training batches need it.")
    A = _shared_A(batch, caller)
    Y = batch.y.to(A.dtype) if A.is_complex() else batch.y
    return Y, X.to(A.real.dtype)


def train_entry(make_model: Callable, model_kwargs: dict, train_batch, val_batch, *, seed: int,
                progress: bool = True, out_dir=None, caller: str = "train", **train_kwargs) -> dict:
    """Train ``make_model(A, **model_kwargs)`` on the batches; ``train_kwargs`` are TrainConfig
    fields (epochs, lr, optimizer ...). Returns the plain trained state (see module docstring)."""
    unknown = sorted(set(train_kwargs) - _TRAIN_KEYS)
    if unknown:
        raise InvalidParameterError(f"{caller}: unknown training option(s) {unknown}; "
                                    f"TrainConfig fields are {sorted(_TRAIN_KEYS)}.")
    A = _shared_A(train_batch, caller)
    model = make_model(A, **model_kwargs)
    cfg = TrainConfig(seed=int(seed), **train_kwargs)
    res = train(model, _pair(train_batch, caller, "train_batch"), _pair(val_batch, caller, "val_batch"),
                cfg, out_dir=out_dir, progress=progress)
    sd = {k: v.detach().cpu().clone() for k, v in res.model.state_dict().items()
          if k not in _OPERATOR_BUFFERS}
    state = {"model": type(model).__name__, "config": {"model": dict(model_kwargs), "train": cfg.to_dict()},
             "state_dict": sd, "best_epoch": int(res.best_epoch), "best_val_loss": float(res.best_val_loss)}
    state["sha256"] = digest({k: state[k] for k in _SEALED})
    return state


_SEALED = ("model", "config", "state_dict")


def check_state(state, caller: str) -> dict:
    """A trained state as :func:`train_entry` returns it: the fields type-checked, the checksum
    verified (when present: states of older versions have none) and the weights finite."""
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise CheckpointError(f"{caller}: state must be the dict returned by train (with 'state_dict').")
    sd = state["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise CheckpointError(f"{caller}: malformed trained state: 'state_dict' must map names to tensors.")
    cfg = state.get("config", {})
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model", {}), dict):
        raise CheckpointError(f"{caller}: malformed trained state: 'config' must be a dict with a 'model' dict.")
    if "sha256" in state:
        try:
            actual = digest({k: state.get(k) for k in _SEALED})
        except CheckpointError as exc:
            raise CheckpointError(f"{caller}: malformed trained state ({exc}).") from exc
        if actual != state["sha256"]:
            raise CheckpointError(f"{caller}: trained state checksum mismatch (stored {str(state['sha256'])[:12]}..., "
                                  f"contents hash to {actual[:12]}...): the state was damaged or modified after training.")
    check_finite_state(sd, "the trained weights", f"{caller}: trained state")
    return state


def solve_entry(make_model: Callable, model_kwargs: dict, problem, state: Optional[dict],
                caller: str = "solve") -> torch.Tensor:
    """x_hat (B, N) of the model rebuilt on ``problem.A`` with the learned parameters of ``state``
    (None: the untrained net, e.g. Soft-OMP for OMP-Net)."""
    A = _shared_A(problem, caller)
    if state is not None:
        check_state(state, caller)
        model_kwargs = {**state.get("config", {}).get("model", {}), **model_kwargs}
    model = make_model(A, **model_kwargs)
    if state is not None:
        full = model.state_dict()
        sd = {k: (full[k] if k in _OPERATOR_BUFFERS else v) for k, v in state["state_dict"].items()}
        for k in _OPERATOR_BUFFERS:
            if k in full:
                sd[k] = full[k]
        load_model(model, sd)
    Y = problem.y.to(A.dtype) if A.is_complex() else problem.y
    return predict(model, Y)


def unfolded_ista_entry(net: Callable, name: str, *, lr: float):
    """``(train, solve)`` of the entry ``name`` whose net is ``net(A, n_layers, lam=lam)`` (LISTA,
    LISTA-CP: initialised from ISTA(lam)), trained with Adam at ``lr`` unless ``train_options``
    say otherwise. Both take ``n_layers`` (default 16) and ``lam`` (default 0.1); ``solve`` with a
    trained ``state`` rebuilds the net from the state's config."""

    def model(A, *, n_layers=16, lam=0.1):
        return net(A, n_layers, lam=lam)

    def train(train_batch, val_batch, *, seed, progress=True, n_layers=16, lam=0.1, out_dir=None,
              **train_options):
        """Returns the trained state (plain dict); train_options are TrainConfig fields."""
        opts = {"optimizer": "adam", "lr": lr, **train_options}
        return train_entry(model, {"n_layers": n_layers, "lam": lam}, train_batch, val_batch, seed=seed,
                           progress=progress, out_dir=out_dir, caller=name, **opts)

    def solve(problem, state=None, n_layers=16, lam=0.1, **params):
        """x_hat (B, N) of the trained net (``state``) or of the untrained one (ISTA(lam))."""
        kw = {} if state is not None else {"n_layers": n_layers, "lam": lam}
        return solve_entry(model, kw, problem, state, caller=name)

    return train, solve
