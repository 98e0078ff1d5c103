"""LISTA and ALISTA, the classic unfolded-ISTA baselines (reference unfolded_baselines section 3).

Both map y (B, m) to x_hat (B, N) with x_0 = 0 and a fixed number of layers; real and complex A
share one code path (the soft threshold shrinks the modulus, eta(v) = v/|v| * max(|v| - theta, 0)).

* LISTA (Gregor & LeCun 2010, in the untied form of the Chen et al. benchmark code):
  x <- eta_{theta_k}(W_e y + S_k x), W_e (N, m) shared, S_k (N, N) and theta_k per layer,
  initialised from ISTA: W_e = A^H / L, S_k = I - A^H A / L, theta_k = lam / L with L = ||A||_2^2.
* LISTA-CP (Chen, Liu, Wang & Yin 2018): x <- eta_{theta_k}(x + W_k^H (y - A x)), the coupling
  S_k = I - W_k^H A built in; W_k (m, N) and theta_k per layer (untied), initialised W_k = A / L,
  theta_k = lam / L, so the untrained net is ISTA. LISTA-CPSS adds support selection (below) with
  p = 1.2 %, p_max = 13 % (``LISTACPSS``).
* ALISTA (Liu, Chen, Wang & Yin 2019): x <- eta^{ss}_{theta_k}(x - gamma_k W~^H (A x - y)) with the
  analytic weight matrix W~ = argmin ||W^H A||_F^2 s.t. diag(W^H A) = 1 (``alista_weight_matrix``,
  projected gradient) and only 2K scalars gamma_k, theta_k learned. Optional support selection
  (p_k = min(p k, p_max) per cent of the largest entries that pass unshrunk).

``forward(y, return_path=True)`` returns every layer's output, shape (B, K, N) (layer 1..K; the
last slice equals ``forward(y)``), for NMSE-per-layer curves.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import nn

from .._validation import InvalidParameterError, ShapeError, check_int, check_operator, check_positive
from ..functional._linalg import matvec, rmatvec

__all__ = ["LISTA", "LISTACP", "LISTACPSS", "ALISTA", "alista_weight_matrix", "soft_threshold", "coherence"]


def soft_threshold(v: torch.Tensor, theta) -> torch.Tensor:
    """Complex-aware soft threshold eta_theta(v) = v/|v| * max(|v| - theta, 0) (sign(v)(|v|-theta)_+
    for real v). ``theta`` is clamped at 0 and broadcasts against v. Gradients are finite everywhere
    (no 0/0 at v = 0)."""
    theta = torch.as_tensor(theta, dtype=v.real.dtype, device=v.device).clamp_min(0)
    if not v.is_complex():
        return torch.sign(v) * torch.relu(v.abs() - theta)
    mag = v.abs()
    keep = mag > theta
    safe = torch.where(keep, mag, torch.ones_like(mag))
    return v * torch.where(keep, 1 - theta / safe, torch.zeros_like(mag))


def _support_selection(v: torch.Tensor, theta, frac: float) -> torch.Tensor:
    """eta^{ss}: the top ceil(frac N) entries of |v| (if above theta) pass unshrunk, the others are
    soft-thresholded. The selection is a stop-gradient mask."""
    out = soft_threshold(v, theta)
    k = int(math.ceil(frac * v.shape[-1]))
    if k <= 0:
        return out
    with torch.no_grad():
        mag = v.abs()
        thr = torch.topk(mag, k, dim=-1).values[..., -1:]
        mask = (mag >= thr) & (mag > torch.as_tensor(theta, dtype=mag.dtype).clamp_min(0))
    return torch.where(mask, v, out)


def _check_support_selection(support_selection, caller):
    if support_selection is None:
        return None
    p, p_max = (float(v) for v in support_selection)
    if not (0 <= p <= 100 and 0 <= p_max <= 100):
        raise InvalidParameterError(f"{caller}: support_selection must be (p, p_max) in per cent; "
                                    f"got {support_selection!r}.")
    return (p, p_max)


def _shrink(v: torch.Tensor, theta, support_selection, k: int) -> torch.Tensor:
    """Layer k's (0-based) shrinkage: soft threshold, or eta^{ss} with p_k = min(p (k+1), p_max) %."""
    if support_selection is None:
        return soft_threshold(v, theta)
    p, p_max = support_selection
    return _support_selection(v, theta, min(p * (k + 1), p_max) / 100.0)


def _spectral_norm_sq(A: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(A, ord=2)) ** 2


def coherence(W: torch.Tensor, A: torch.Tensor, *, normalize: bool = True) -> Tuple[float, float]:
    """(max, Frobenius) off-diagonal size of W^H A. With ``normalize`` the columns of W^H A are
    scaled so that its diagonal is 1 (as for the mutual coherence of A with W = A, unit columns)."""
    G = W.mH @ A
    if normalize:
        d = torch.diagonal(G)
        G = G / d.unsqueeze(0)
    off = G - torch.diag(torch.diagonal(G))
    return float(off.abs().max()), float(torch.linalg.matrix_norm(off))


def alista_weight_matrix(A: torch.Tensor, *, n_iter: int = 1000, step: Optional[float] = None,
                         tol: float = 1e-12) -> torch.Tensor:
    """ALISTA's analytic weight matrix W~ (m, N) for A (m, N), real or complex:

        minimise ||W^H A||_F^2   subject to   diag(W^H A) = 1,

    by projected gradient as in the ALISTA recipe: start from W = A (columns rescaled to be feasible),
    gradient step W <- W - step A (A^H W) with step = 1/||A||_2^2 by default, then the exact
    column-wise projection onto {w_j : a_j^H w_j = 1}, w_j <- w_j + (1 - a_j^H w_j) a_j / ||a_j||^2;
    stop after ``n_iter`` iterations or when the relative change of the objective is below ``tol``.
    Computed in float64/complex128 and returned in A's dtype. For a tight frame (A A^H = c I, e.g.
    a partial DFT) the minimiser is W~ = A / ||a_j||^2 column-wise, i.e. W~ = A for unit columns.
    """
    caller = "alista_weight_matrix"
    A = check_operator(A, caller=caller)
    n_iter = check_int("n_iter", n_iter, caller=caller, low=0)
    wdt = torch.complex128 if A.is_complex() else torch.float64
    A64 = A.detach().to(wdt)
    col2 = (A64.abs() ** 2).sum(0)                                  # ||a_j||^2
    if bool((col2 == 0).any()):
        raise InvalidParameterError(f"{caller}: A has a zero column; diag(W^H A) = 1 is infeasible.")
    if step is None:
        step = 1.0 / _spectral_norm_sq(A64)
    else:
        step = float(check_positive("step", step, caller=caller))

    def project(W):
        d = (W.conj() * A64).sum(0)                                  # diag(W^H A) = a_j^H w_j (conj)
        return W + ((1 - d.conj()) / col2).unsqueeze(0) * A64

    def objective(W):
        return float(torch.linalg.matrix_norm(W.mH @ A64) ** 2)

    W = project(A64.clone())
    f_old = objective(W)
    for _ in range(n_iter):
        W = project(W - step * (A64 @ (A64.mH @ W)))
        f = objective(W)
        if abs(f_old - f) <= tol * max(f_old, 1e-300):
            break
        f_old = f
    return W.to(A.dtype)


class LISTA(nn.Module):
    """Untied LISTA: x_{k+1} = eta_{theta_k}(W_e y + S_k x_k), k = 0..K-1, x_0 = 0.

    Parameters (trained): W_e (N, m) shared, S (K, N, N) per layer, theta (K,) per layer; complex
    when A is complex. Initialised from ISTA with step 1/L and threshold ``lam``/L (L = ||A||_2^2),
    so the untrained net is K iterations of ISTA for the lasso with parameter ``lam``.
    ``tied=True`` shares one S and one theta across layers (the original recurrent LISTA).
    """

    def __init__(self, A: torch.Tensor, n_layers: int, *, lam: float = 0.1, tied: bool = False):
        super().__init__()
        caller = "LISTA"
        A = check_operator(A, caller=caller)
        self.n_layers = check_int("n_layers", n_layers, caller=caller)
        self.lam = float(check_positive("lam", lam, caller=caller, allow_zero=True))
        self.tied = bool(tied)
        m, N = A.shape
        L = _spectral_norm_sq(A)
        self.register_buffer("A", A)
        self.W_e = nn.Parameter(A.mH.clone() / L)
        S0 = torch.eye(N, dtype=A.dtype) - (A.mH @ A) / L
        n_S = 1 if self.tied else self.n_layers
        self.S = nn.Parameter(S0.unsqueeze(0).repeat(n_S, 1, 1))
        self.theta = nn.Parameter(torch.full((n_S,), self.lam / L, dtype=A.real.dtype))

    def forward(self, y: torch.Tensor, return_path: bool = False) -> torch.Tensor:
        b = y.to(self.W_e.dtype) @ self.W_e.mT                      # W_e y, (B, N)
        x = soft_threshold(b, self.theta[0])
        path = [x]
        for k in range(1, self.n_layers):
            i = 0 if self.tied else k
            x = soft_threshold(b + x @ self.S[i].mT, self.theta[i])
            path.append(x)
        return torch.stack(path, 1) if return_path else x

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return f"m={m}, N={N}, n_layers={self.n_layers}, tied={self.tied}, lam={self.lam:g}, dtype={self.A.dtype}"


class _Unfolded(nn.Module):
    """Shared forward of the nets whose layer k maps (x_k, y) to x_{k+1} (:meth:`layer`), from
    x_0 = 0; holds the operator ``A`` (m, N) as a buffer and ``n_layers``."""

    def layer(self, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, y: torch.Tensor, return_path: bool = False) -> torch.Tensor:
        y = y.to(self.A.dtype)
        x = y.new_zeros(y.shape[0], self.A.shape[1])
        path = []
        for k in range(self.n_layers):
            x = self.layer(x, y, k)
            path.append(x)
        return torch.stack(path, 1) if return_path else x


class LISTACP(_Unfolded):
    """LISTA-CP: x_{k+1} = eta_{theta_k}(x_k + W_k^H (y - A x_k)), k = 0..K-1, x_0 = 0.

    Parameters (trained): W (K, m, N) per layer (one (1, m, N) if ``tied``) and theta (K,) (or
    (1,)); complex when A is complex. Initialised W_k = A / L, theta_k = ``lam`` / L with
    L = ||A||_2^2, so the untrained net is K iterations of ISTA for the lasso with parameter ``lam``.
    ``support_selection=(p, p_max)`` (per cent) gives LISTA-CPSS: in layer k the top
    min(p k, p_max) % entries of |v| that exceed theta_k pass unshrunk (a stop-gradient mask).
    A (m, N) is a buffer.
    """

    def __init__(self, A: torch.Tensor, n_layers: int, *, lam: float = 0.1, tied: bool = False,
                 support_selection: Optional[Tuple[float, float]] = None):
        super().__init__()
        caller = type(self).__name__
        A = check_operator(A, caller=caller)
        self.n_layers = check_int("n_layers", n_layers, caller=caller)
        self.lam = float(check_positive("lam", lam, caller=caller, allow_zero=True))
        self.tied = bool(tied)
        self.support_selection = _check_support_selection(support_selection, caller)
        L = _spectral_norm_sq(A)
        self.register_buffer("A", A)
        n_W = 1 if self.tied else self.n_layers
        self.W = nn.Parameter((A / L).unsqueeze(0).repeat(n_W, 1, 1))
        self.theta = nn.Parameter(torch.full((n_W,), self.lam / L, dtype=A.real.dtype))

    def layer(self, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        i = 0 if self.tied else k
        return _shrink(x + rmatvec(self.W[i], y - matvec(self.A, x)), self.theta[i], self.support_selection, k)

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return (f"m={m}, N={N}, n_layers={self.n_layers}, tied={self.tied}, lam={self.lam:g}, "
                f"support_selection={self.support_selection}, dtype={self.A.dtype}")


class LISTACPSS(LISTACP):
    """LISTA-CPSS: ``LISTACP`` with support selection, default (p, p_max) = (1.2, 13.0) per cent
    (the reference commands of Chen et al. 2018)."""

    def __init__(self, A: torch.Tensor, n_layers: int, *, lam: float = 0.1, tied: bool = False,
                 support_selection: Tuple[float, float] = (1.2, 13.0)):
        super().__init__(A, n_layers, lam=lam, tied=tied, support_selection=support_selection)


class ALISTA(_Unfolded):
    """ALISTA: x_{k+1} = eta^{ss}_{theta_k}(x_k - gamma_k W~^H (A x_k - y)), x_0 = 0.

    Only gamma (K,) and theta (K,) are trained; A and W~ (``alista_weight_matrix(A)``, or ``W`` if
    given) are buffers. Initialisation gamma_k = ``gamma0``, theta_k = ``theta0`` (default
    gamma0 * lam). ``gamma0=None`` (default) uses 1 / ||W~^H A||_2, so that the untrained net is a
    stable ISTA-like iteration for any A (the ALISTA papers' gamma0 = 1 suits Gaussian 250 x 500
    matrices, but diverges on a partial DFT with N/m = 12.8, where W~ = A and ||A^H A|| = N/m).
    ``support_selection=(p, p_max)`` in per cent enables LISTA-CPSS style support selection with
    p_k = min(p k, p_max) (e.g. (1.2, 13.0)); None (default) disables it.
    """

    def __init__(self, A: torch.Tensor, n_layers: int, *, W: Optional[torch.Tensor] = None,
                 gamma0: Optional[float] = None, theta0: Optional[float] = None, lam: float = 0.1,
                 support_selection: Optional[Tuple[float, float]] = None, w_iter: int = 1000):
        super().__init__()
        caller = "ALISTA"
        A = check_operator(A, caller=caller)
        self.n_layers = check_int("n_layers", n_layers, caller=caller)
        if W is None:
            W = alista_weight_matrix(A, n_iter=w_iter)
        elif tuple(W.shape) != tuple(A.shape):
            raise ShapeError(f"{caller}: W must have A's shape {tuple(A.shape)}; got {tuple(W.shape)}.")
        if gamma0 is None:
            gamma0 = 1.0 / float(torch.linalg.matrix_norm(W.mH.to(A.dtype) @ A, ord=2))
        gamma0 = float(check_positive("gamma0", gamma0, caller=caller))
        if theta0 is None:
            theta0 = gamma0 * float(check_positive("lam", lam, caller=caller))
        self.register_buffer("A", A)
        self.register_buffer("W", W.detach().to(A.dtype).clone())
        rdt = A.real.dtype
        self.gamma = nn.Parameter(torch.full((self.n_layers,), float(gamma0), dtype=rdt))
        self.theta = nn.Parameter(torch.full((self.n_layers,), float(theta0), dtype=rdt))
        self.support_selection = _check_support_selection(support_selection, caller)

    def layer(self, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        v = x - self.gamma[k] * rmatvec(self.W, matvec(self.A, x) - y)
        return _shrink(v, self.theta[k], self.support_selection, k)

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return (f"m={m}, N={N}, n_layers={self.n_layers}, support_selection={self.support_selection}, "
                f"dtype={self.A.dtype}")
