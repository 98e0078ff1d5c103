"""Every layer's output of a trained unrolled net, for NMSE-per-layer curves (the LISTA benchmark
reports NMSE at each layer k = 1..K, reference unfolded_baselines 3.2).

``layer_outputs(model, y)`` -> (B, K, N), layer 1..K, whose last slice equals ``model(y)``:

* LISTA, LISTA-CP(SS), ALISTA: their own ``forward(y, return_path=True)``;
* PUDLE-ISTA: the same ISTA layers as ``PUDLEISTA.forward`` with its learned b_t, alpha_t;
* OMP-Net, IHT-Net: the soft kernel they call, with ``return_path`` (iterates 1..K).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import InvalidParameterError
from ..functional import soft as _soft
from ..functional._linalg import matvec, rmatvec
from .greedy_nets import IHTNet, OMPNet
from .lista import ALISTA, LISTA, LISTACP, soft_threshold
from .pudle import PUDLEISTA

__all__ = ["layer_outputs"]


def _pudle_path(model: PUDLEISTA, y: torch.Tensor) -> torch.Tensor:
    A = model.A
    y = y.to(A.dtype)
    x = soft_threshold(model.alpha[0] * rmatvec(A, y), model.b[0])
    path = [x]
    for t in range(1, model.n_layers):
        x = soft_threshold(x + model.alpha[t] * rmatvec(A, y - matvec(A, x)), model.b[t])
        path.append(x)
    return torch.stack(path, 1)


def layer_outputs(model: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """Outputs of layers 1..K of ``model`` for measurements y (B, m): a (B, K, N) tensor in the
    model's dtype (complex for a complex A; the nets are trained on the real part)."""
    if isinstance(model, (LISTA, LISTACP, ALISTA)):
        return model(y, return_path=True)
    if isinstance(model, PUDLEISTA):
        return _pudle_path(model, y)
    if isinstance(model, OMPNet):
        out = _soft._omp_kernel(model.A, model._prep(y), model.n_layers, model.tau, model.weights,
                                per_iter=not model.tied, return_path=True)
        return out["x"].squeeze(1)[:, 1:]
    if isinstance(model, IHTNet):
        out = _soft._iht_kernel(model.A, model._prep(y), model.s, model.tau, model.step, model.n_layers,
                                model.weights, per_iter=not model.tied, return_path=True)
        return out["x"].squeeze(1)[:, 1:]
    raise InvalidParameterError(f"layer_outputs: no layer path for {type(model).__name__}; supported: "
                                "LISTA, LISTACP, LISTACPSS, ALISTA, PUDLEISTA, OMPNet, IHTNet.")
