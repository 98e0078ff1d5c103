"""PUDLE (Tolooshams & Ba): unrolled ISTA with a tied dictionary (reference unfolded_baselines §2, §4).

Two roles, as in the reference's section 4.1:

* ``PUDLEISTA`` -- known dictionary (D = A frozen): T layers of ISTA,
  z <- S_{b_t}(z + alpha_t A^H (y - A z)), with learned per-layer thresholds b_t (and optionally
  learned steps alpha_t), trained with the supervised code loss by ``greedybench.train``. It is
  "ALISTA with W = A and no support selection".
* ``PUDLE`` + ``learn_dictionary`` -- unknown dictionary: learn D from data x only, with the
  autoencoder x_hat = D z_T(x, D), z_T = T tied ISTA layers with fixed (lam, alpha), and one of the
  three gradients compared in the paper:

  - ``"dec"``: g_dec, the code is detached (alternating minimisation), loss 1/2||x - D z||^2 + lam||z||_1;
  - ``"ae-lasso"``: backprop through the T layers of 1/2||x - D z_T||^2 + lam||z_T||_1;
  - ``"ae-ls"``: backprop through the T layers of 1/2||x - D z_T||^2 (PUDLE's recommendation).

  Columns of D are renormalised to unit norm after every optimiser step (a projection, under
  no_grad). Losses are summed over the m coordinates and averaged over the batch.

Shapes follow the package's batch-first convention: data X (n, m), codes Z (n, p), D (m, p).
"""

from __future__ import annotations

import math
import time
from typing import Optional

import torch
from torch import nn

from .._validation import ShapeError, check_int, check_operator, check_option, check_positive
from ..functional._linalg import matvec, rmatvec
from .lista import _spectral_norm_sq, soft_threshold

__all__ = ["PUDLEISTA", "PUDLE", "learn_dictionary", "relative_dictionary_error", "sine_distance",
           "normalize_columns", "make_dictionary_data"]

GRADIENTS = ("dec", "ae-lasso", "ae-ls")


def normalize_columns(D: torch.Tensor) -> torch.Tensor:
    """D with every column scaled to unit l2 norm (zero columns left at zero)."""
    n = torch.linalg.vector_norm(D, dim=0, keepdim=True)
    return D / n.clamp_min(torch.finfo(n.dtype).tiny)


def relative_dictionary_error(D: torch.Tensor, D_star: torch.Tensor) -> float:
    """||D - D*||_F / ||D*||_F, both column-normalised, no permutation (PUDLE's plotted metric)."""
    Dn, Ds = normalize_columns(D.detach()), normalize_columns(D_star.detach())
    return float(torch.linalg.matrix_norm(Dn - Ds) / torch.linalg.matrix_norm(Ds))


def sine_distance(D: torch.Tensor, D_star: torch.Tensor) -> float:
    """err(D, D*) = max_j sqrt(1 - <d_j, d*_j>^2) (Arora et al., NOODL), unit columns, no permutation."""
    Dn, Ds = normalize_columns(D.detach()), normalize_columns(D_star.detach())
    c = (Dn.conj() * Ds).sum(0).abs().clamp(max=1)
    return float(torch.sqrt(1 - c**2).max())


class PUDLEISTA(nn.Module):
    """PUDLE's encoder with the dictionary known and frozen: T layers of ISTA on D = A,

        x_{t+1} = eta_{b_t}(x_t + alpha_t A^H (y - A x_t)),  x_0 = 0,

    with learned per-layer thresholds b (T,), initialised at alpha * lam, and steps alpha_t fixed at
    ``alpha`` (default 1/||A||_2^2) unless ``learn_step=True``. Complex A is supported (modulus
    shrinkage). The untrained net is T iterations of ISTA for the lasso with parameter ``lam``.
    """

    def __init__(self, A: torch.Tensor, n_layers: int, *, lam: float = 0.1, alpha: Optional[float] = None,
                 learn_step: bool = False):
        super().__init__()
        caller = "PUDLEISTA"
        A = check_operator(A, caller=caller)
        self.n_layers = check_int("n_layers", n_layers, caller=caller)
        self.lam = float(check_positive("lam", lam, caller=caller, allow_zero=True))
        if alpha is None:
            alpha = 1.0 / _spectral_norm_sq(A)
        self.alpha0 = float(check_positive("alpha", alpha, caller=caller))
        self.learn_step = bool(learn_step)
        self.register_buffer("A", A)
        rdt = A.real.dtype
        self.b = nn.Parameter(torch.full((self.n_layers,), self.alpha0 * self.lam, dtype=rdt))
        alpha_t = torch.full((self.n_layers,), self.alpha0, dtype=rdt)
        if self.learn_step:
            self.alpha = nn.Parameter(alpha_t)
        else:
            self.register_buffer("alpha", alpha_t)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = y.to(self.A.dtype)
        x = soft_threshold(self.alpha[0] * rmatvec(self.A, y), self.b[0])
        for t in range(1, self.n_layers):
            x = soft_threshold(x + self.alpha[t] * rmatvec(self.A, y - matvec(self.A, x)), self.b[t])
        return x

    def extra_repr(self) -> str:
        m, N = self.A.shape
        return (f"m={m}, N={N}, n_layers={self.n_layers}, lam={self.lam:g}, alpha={self.alpha0:.4g}, "
                f"learn_step={self.learn_step}, dtype={self.A.dtype}")


class PUDLE(nn.Module):
    """PUDLE autoencoder for dictionary learning: x_hat = D z_T(x), z_T = T tied ISTA layers

        z_t = S_{alpha lam}(z_{t-1} + alpha D^T (x - D z_{t-1})),  z_0 = 0,

    with D (m, p) the only parameter; lam and alpha are fixed. ``threshold="soft"`` (two-sided soft
    threshold) or ``"hard"`` (keep entries with |.| > ``tau``, the AEhard variant).
    """

    def __init__(self, D0: torch.Tensor, T: int, *, lam: float = 0.2, alpha: float = 0.2,
                 threshold: str = "soft", tau: float = 0.1):
        super().__init__()
        caller = "PUDLE"
        if not isinstance(D0, torch.Tensor) or D0.dim() != 2 or D0.is_complex():
            raise ShapeError(f"{caller}: D0 must be a real 2-D tensor (m, p).")
        self.T = check_int("T", T, caller=caller)
        self.lam = float(check_positive("lam", lam, caller=caller, allow_zero=True))
        self.alpha = float(check_positive("alpha", alpha, caller=caller))
        self.threshold = check_option("threshold", threshold, ("soft", "hard"), caller=caller)
        self.tau = float(check_positive("tau", tau, caller=caller, allow_zero=True))
        self.D = nn.Parameter(normalize_columns(D0.detach().clone()))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_T for data x (n, m) -> (n, p). The layer matrices I - alpha D^T D and alpha D are formed
        once per call (the dense form of the reference implementation)."""
        D = self.D
        p = D.shape[1]
        M = torch.eye(p, dtype=D.dtype, device=D.device) - self.alpha * (D.mT @ D)   # (p, p), symmetric
        b = self.alpha * (x @ D)                                                        # alpha D^T x
        z = self._shrink(b)
        for _ in range(1, self.T):
            z = self._shrink(z @ M + b)
        return z

    def _shrink(self, v):
        if self.threshold == "soft":
            return soft_threshold(v, self.alpha * self.lam)
        return v * (v.abs() > self.tau)

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        return z @ self.D.mT, z

    @torch.no_grad()
    def renormalize_(self) -> None:
        self.D.copy_(normalize_columns(self.D))

    def extra_repr(self) -> str:
        m, p = self.D.shape
        return (f"m={m}, p={p}, T={self.T}, lam={self.lam:g}, alpha={self.alpha:g}, "
                f"threshold={self.threshold!r}" + (f", tau={self.tau:g}" if self.threshold == "hard" else ""))


def _dl_loss(model: PUDLE, x: torch.Tensor, gradient: str) -> torch.Tensor:
    if gradient == "dec":
        with torch.no_grad():
            z = model.encode(x)
        r = x - z @ model.D.mT
        return 0.5 * r.pow(2).sum(-1).mean() + model.lam * z.abs().sum(-1).mean()
    z = model.encode(x)
    r = x - z @ model.D.mT
    loss = 0.5 * r.pow(2).sum(-1).mean()
    if gradient == "ae-lasso":
        loss = loss + model.lam * z.abs().sum(-1).mean()
    return loss


def learn_dictionary(X: torch.Tensor, D0: torch.Tensor, *, T: int, lam: float = 0.2, alpha: float = 0.2,
                     gradient: str = "ae-ls", epochs: int = 600, lr: float = 1e-3,
                     progress: bool = True, batch_size: Optional[int] = None, eps: float = 1e-8,
                     D_star: Optional[torch.Tensor] = None, Z_star: Optional[torch.Tensor] = None,
                     threshold: str = "soft", tau: float = 0.1, seed: int = 0, log_every: int = 1):
    """Learn a dictionary from data only with PUDLE's autoencoder (reference unfolded_baselines §2).

    Parameters
    ----------
    X : (n, m) real data, x = D* z* (+ noise).
    D0 : (m, p) initial dictionary (columns are normalised).
    T, lam, alpha : encoder depth, lasso parameter and ISTA step (fixed; threshold alpha*lam).
    gradient : "dec" (detached code, alternating minimisation), "ae-lasso" or "ae-ls" (backprop
        through the T layers of the lasso or the least-squares loss).
    epochs, lr, eps, batch_size : Adam(lr, eps); full batch if batch_size is None, else shuffled
        mini-batches from a torch.Generator seeded by (seed, epoch).
    D_star, Z_star : ground truth; if given, the history records ||D - D*||_F/||D*||_F, the sine
        distance and the mean code error ||z_T - z*||.
    threshold, tau : "soft" (default) or "hard" thresholding with fixed magnitude tau.

    Returns
    -------
    D : (m, p) learned dictionary (unit columns, detached).
    history : dict of lists, one entry per logged epoch (epoch 0 = initialisation): ``epoch``,
        ``loss`` (mean training loss of the epoch), and with D_star ``rel_err``, ``sine_dist``;
        with Z_star ``code_err``; plus ``time_s`` (total).
    """
    caller = "learn_dictionary"
    if not isinstance(X, torch.Tensor) or X.dim() != 2 or X.is_complex():
        raise ShapeError(f"{caller}: X must be a real tensor of shape (n, m).")
    if not isinstance(D0, torch.Tensor) or D0.dim() != 2 or D0.shape[0] != X.shape[1]:
        raise ShapeError(f"{caller}: D0 must have shape (m, p) with m = X.shape[1] = {X.shape[1]}; "
                         f"got {tuple(D0.shape) if isinstance(D0, torch.Tensor) else type(D0).__name__}.")
    if D_star is not None and tuple(D_star.shape) != tuple(D0.shape):
        raise ShapeError(f"{caller}: D_star must have D0's shape {tuple(D0.shape)}; got {tuple(D_star.shape)}.")
    gradient = check_option("gradient", gradient, GRADIENTS, caller=caller)
    epochs = check_int("epochs", epochs, caller=caller, low=0)
    lr = float(check_positive("lr", lr, caller=caller))
    log_every = check_int("log_every", log_every, caller=caller)
    n = X.shape[0]
    bs = n if batch_size is None else check_int("batch_size", batch_size, caller=caller)

    X = X.to(D0.dtype)
    model = PUDLE(D0, T, lam=lam, alpha=alpha, threshold=threshold, tau=tau)
    opt = torch.optim.Adam([model.D], lr=lr, eps=eps)
    history = {"epoch": [], "loss": []}
    if D_star is not None:
        history["rel_err"], history["sine_dist"] = [], []
    if Z_star is not None:
        history["code_err"] = []

    def log(epoch, loss):
        history["epoch"].append(epoch)
        history["loss"].append(loss)
        if D_star is not None:
            history["rel_err"].append(relative_dictionary_error(model.D, D_star))
            history["sine_dist"].append(sine_distance(model.D, D_star))
        if Z_star is not None:
            with torch.no_grad():
                z = model.encode(X)
            history["code_err"].append(float(torch.linalg.vector_norm(z - Z_star.to(z.dtype), dim=-1).mean()))

    with torch.no_grad():
        log(0, float(_dl_loss(model, X, "dec" if gradient == "dec" else gradient)))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, desc=f"PUDLE[{gradient}, T={T}]", unit="ep", leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if bs >= n:
            batches = [None]
        else:
            g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=g)
            batches = [perm[i:i + bs] for i in range(0, n, bs)]
        total = 0.0
        for idx in batches:
            xb = X if idx is None else X[idx]
            opt.zero_grad(set_to_none=True)
            loss = _dl_loss(model, xb, gradient)
            loss.backward()
            opt.step()
            model.renormalize_()
            total += float(loss.detach()) * xb.shape[0]
        if epoch % log_every == 0 or epoch == epochs:
            log(epoch, total / n)
        if bar is not None:
            bar.update(1)
            if "rel_err" in history:
                bar.set_postfix(rel_err=f"{history['rel_err'][-1]:.3g}", refresh=False)
    if bar is not None:
        bar.close()
    history["time_s"] = time.perf_counter() - t0
    return model.D.detach().clone(), history


def make_dictionary_data(m: int, p: int, s: int, n: int, *, init_noise: float = 0.1, seed: int = 0,
                         sign_per_sample: bool = False, dtype=torch.float64):
    """The PUDLE synthetic dictionary-learning problem (reference §2.4 B / task B3).

    D* (m, p): N(0, 1/m) entries, columns normalised; codes (n, p): s-sparse with uniformly random
    supports and amplitudes U[1, 2] times i.i.d. random signs (one sign per sample if
    ``sign_per_sample``, the authors' compat mode); X = Z D*^T (n, m), noiseless;
    D0 = normalize(D* + init_noise N(0, 1)). Returns (X, Z, D_star, D0), all seeded by ``seed``.
    """
    g = torch.Generator().manual_seed(int(seed))
    D_star = normalize_columns(torch.randn(m, p, generator=g, dtype=dtype) / math.sqrt(m))
    supp = torch.rand(n, p, generator=g).argsort(dim=1)[:, :s]
    amp = 1 + torch.rand(n, s, generator=g, dtype=dtype)
    if sign_per_sample:
        sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0).to(dtype).expand(n, s)
    else:
        sign = torch.where(torch.rand(n, s, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    Z = torch.zeros(n, p, dtype=dtype).scatter(1, supp, amp * sign)
    X = Z @ D_star.mT
    D0 = normalize_columns(D_star + init_noise * torch.randn(m, p, generator=g, dtype=dtype))
    return X, Z, D_star, D0
