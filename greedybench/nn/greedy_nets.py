"""OMP-Net and IHT-Net: Soft-OMP / Soft-IHT unrolled with trainable selection weights
(reference deep_greedy_unfolding section 4).

Each net stores A as a buffer and the weights w as an ``nn.Parameter`` initialised to 1, and its
forward pass *is* the functional soft kernel (``greedybench.functional.soft._omp_kernel`` /
``_iht_kernel``) called on the whole batch at once with ``weights=w``: there is no second
implementation of the algorithms here, and the untrained net equals ``soft_omp`` / ``soft_iht``
with all-ones weights bit for bit (and Soft-OMP / Soft-IHT with weights=None up to rounding of
|1| / tau). The loss is taken on Re(x_hat) (``greedybench.train.batch_loss``).

``tied=False`` gives every layer its own weight vector, a (n_layers, N) parameter that the same
kernels take with ``per_iter=True`` (iteration n selects with |W[n]|); initialised to ones it is
the tied net, bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import ShapeError, check_int, check_operator, check_positive, real_dtype
from ..functional import soft as _soft

__all__ = ["OMPNet", "IHTNet"]

class _GreedyNet(nn.Module):
    def _init_common(self, A, n_layers, tau, tied, train_tau, caller):
        A = check_operator(A, caller=caller)
        self.n_layers = check_int("n_layers", n_layers, caller=caller)
        self.tau0 = float(check_positive("tau", tau, caller=caller))
        self.tied = bool(tied)
        self.train_tau = bool(train_tau)
        self.register_buffer("A", A)
        rdt = real_dtype(A.dtype)
        N = A.shape[1]
        shape = (N,) if self.tied else (self.n_layers, N)
        self.weights = nn.Parameter(torch.ones(shape, dtype=rdt))
        if self.train_tau:
            # log-parametrised so that tau stays > 0 under RMSprop steps of size ~lr
            self.log_tau = nn.Parameter(torch.tensor(math.log(self.tau0), dtype=rdt))

    @property
    def tau(self):
        """The temperature: a Python float when fixed (bit-exact with soft_omp(tau=...)), else a
        0-dim tensor exp(log_tau)."""
        return self.log_tau.exp() if self.train_tau else self.tau0

    def _prep(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 2 or y.shape[1] != self.A.shape[0]:
            raise ShapeError(f"{type(self).__name__}: y must have shape (B, m) with m = {self.A.shape[0]}; "
                             f"got {tuple(y.shape)}.", expected=f"(B, {self.A.shape[0]})", got=tuple(y.shape))
        return y.to(self.A.dtype).unsqueeze(1)                      # (B, 1, m): the kernels' (B, T, m)

    def weight_profile(self) -> torch.Tensor:
        """|w| (N,): the learned weights' magnitudes, averaged over the layers if untied."""
        w = self.weights.detach().abs()
        return w.mean(0) if w.dim() == 2 else w

    def learned_support(self, k: int) -> torch.Tensor:
        """Indices of the k largest learned |w| (sorted ascending; layer-averaged if untied)."""
        return torch.topk(self.weight_profile(), k).indices.sort().values


class OMPNet(_GreedyNet):
    """OMP-Net: ``n_layers`` Soft-OMP iterations with the weighted statistic |w * A^H r|.

    Parameters
    ----------
    A : (m, N) real or complex sensing matrix (stored as a buffer, not trained).
    n_layers : number of Soft-OMP iterations (s = 10 in Fig. 3).
    tau : SoftSort temperature (1e-3 in the paper).
    tied : one weight vector w (N,) shared by all layers (the paper's net); tied=False gives each
        layer its own, ``weights`` of shape (n_layers, N).
    train_tau : also learn tau (log-parametrised, init ``tau``).

    forward(y (B, m)) -> x_hat (B, N) in A's dtype (complex for a Fourier A; train on Re(x_hat)).
    """

    def __init__(self, A: torch.Tensor, n_layers: int, *, tau: float = 1e-3, tied: bool = True,
                 train_tau: bool = False):
        super().__init__()
        self._init_common(A, n_layers, tau, tied, train_tau, "OMPNet")

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        out = _soft._omp_kernel(self.A, self._prep(y), self.n_layers, self.tau, self.weights,
                                per_iter=not self.tied)
        return out["x"].squeeze(1)

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return (f"m={m}, N={N}, n_layers={self.n_layers}, tau={self.tau0:g}, tied={self.tied}, "
                f"train_tau={self.train_tau}, dtype={self.A.dtype}")


class IHTNet(_GreedyNet):
    """IHT-Net: ``n_layers`` Soft-IHT iterations u = x + step A^H (y - A x), x = q(|w * u|) * u
    with q the column sums of the top-s SoftSort rows.

    Parameters
    ----------
    A : (m, N) sensing matrix (buffer).
    s : sparsity of the soft top-s mask.
    n_layers : number of iterations (30 in Fig. 3).
    tau, step : temperature (1e-3) and fixed step (0.5 in Fig. 3).
    tied : as for OMPNet.
    train_tau, train_step : also learn tau / the step (log-parametrised, initialised at the given values).
    """

    def __init__(self, A: torch.Tensor, s: int, n_layers: int, *, tau: float = 1e-3, step: float = 0.5,
                 tied: bool = True, train_tau: bool = False, train_step: bool = False):
        super().__init__()
        self._init_common(A, n_layers, tau, tied, train_tau, "IHTNet")
        self.s = check_int("s", s, caller="IHTNet", low=1, high=self.A.shape[1], high_name="N")
        self.step0 = float(check_positive("step", step, caller="IHTNet"))
        self.train_step = bool(train_step)
        if self.train_step:
            self.log_step = nn.Parameter(torch.tensor(math.log(self.step0), dtype=self.weights.dtype))

    @property
    def step(self):
        return self.log_step.exp() if self.train_step else self.step0

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        out = _soft._iht_kernel(self.A, self._prep(y), self.s, self.tau, self.step, self.n_layers,
                                self.weights, per_iter=not self.tied)
        return out["x"].squeeze(1)

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return (f"m={m}, N={N}, s={self.s}, n_layers={self.n_layers}, tau={self.tau0:g}, "
                f"step={self.step0:g}, tied={self.tied}, train_tau={self.train_tau}, "
                f"train_step={self.train_step}, dtype={self.A.dtype}")
