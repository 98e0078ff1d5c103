"""The LISTA benchmark B1 (reference unfolded_baselines 3.2 and task B1 of 4.2): the task and its data.

Problem: y = A x + e with

* A (m, N), entries N(0, 1/m), then every column scaled to unit l2 norm; fixed by ``seed_A``;
* x = Bernoulli(p) x N(0, 1) entrywise (p = 0.1: about p N non-zeros, a random number per sample);
* e: per sample, sigma_b = ||A x_b||_2 / sqrt(m) * 10^(-SNR/20) (the standard deviation of the
  noiseless measurement entries, taken as their RMS, times the SNR factor) and e_b ~ N(0, sigma_b^2 I_m);
  SNR = inf gives e = 0.

Splits: ``n_test`` and ``n_val`` fixed samples (own seeds) and a training stream whose batch at step t
is drawn from a generator seeded by (seed_train, t) alone, so a resumed run sees the same stream.
Every seed is derived from ``B1Config.seed`` and the SNR by a fixed rule (:func:`split_seed`).

Scales: ``full`` is the reference task (m = 250, N = 500, depth 16, 1000 test, 1000 validation,
batch 64); ``ci`` is the CI variant (m = 64, N = 128, depth 8, small sets, few steps).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Tuple

import torch

from .._validation import InvalidParameterError, check_int, check_positive

__all__ = ["B1Config", "B1Data", "SCALES", "config_for", "make_matrix", "draw_signals", "add_noise",
           "make_split", "train_batch", "split_seed", "snr_label"]


@dataclass(frozen=True)
class B1Config:
    """All parameters of one B1 run (sizes, data, training budget). JSON-able via ``to_dict``.

    Training budget (the same for every learned method): ``steps`` optimiser steps of batch
    ``batch`` drawn from the stream, validation (layer-K NMSE on the validation set) every
    ``val_every`` steps, the best validated state kept. Optimiser per family: Adam ``lr_matrix``
    for the nets with matrix parameters (LISTA, LISTA-CP, LISTA-CPSS), Adam ``lr_scalar`` for
    the scalar-parameter nets (ALISTA, PUDLE-ISTA), RMSprop ``lr_greedy`` with gradient clipping
    1.0 for OMP-Net / IHT-Net (their paper's optimiser). Loss: sum over layers k = 1..K of the
    batch mean of ||x_k - x||^2 (the reference's "cheaper end-to-end training").
    """

    scale: str = "full"
    m: int = 250
    N: int = 500
    p: float = 0.1
    depth: int = 16
    snrs: Tuple[float, ...] = (math.inf, 40.0, 30.0)
    n_test: int = 1000
    n_val: int = 1000
    batch: int = 64
    steps: int = 2000
    val_every: int = 100
    lr_matrix: float = 5e-4
    lr_scalar: float = 1e-3
    lr_greedy: float = 1e-2
    lam: float = 0.1                 # LISTA-family initial threshold lam / L (the untrained net is ISTA(lam))
    k_fixed: int = 70                # non-oracle k of OMP / IHT / Soft-IHT / IHT-Net (mean + 3 sd of |S| at full size)
    iht_step: float = 0.5            # IHT / Soft-IHT / IHT-Net step (0.65 diverges at k = 70, m = 250)
    iht_iters: int = 300
    tau: float = 1e-3                # Soft-OMP / Soft-IHT / OMP-Net / IHT-Net temperature
    long_iters: int = 1000           # ISTA / FISTA "converged" reference
    lam_grid: Tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)
    n_lam_select: int = 250          # validation samples used to pick lambda of ISTA / FISTA
    alista_paper: bool = False       # also run the ALISTA layer-wise "paper schedule" (capped)
    alista_paper_steps: int = 300    # per stage cap of that schedule (the paper's is 200 000 with patience)
    dtype: str = "float32"
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["snrs"] = [snr_label(s) for s in self.snrs]
        return d

    def validate(self) -> "B1Config":
        c = "B1Config"
        for name in ("m", "N", "depth", "n_test", "n_val", "batch", "steps", "val_every", "k_fixed",
                     "iht_iters", "long_iters", "n_lam_select", "alista_paper_steps"):
            check_int(name, getattr(self, name), caller=c, low=1)
        check_int("seed", self.seed, caller=c, low=0)
        if not 0 < self.p < 1:
            raise InvalidParameterError(f"{c}: p must be in (0, 1); got {self.p!r}.")
        if self.k_fixed > min(self.m, self.N):
            raise InvalidParameterError(f"{c}: k_fixed = {self.k_fixed} exceeds min(m, N) = {min(self.m, self.N)}.")
        for name in ("lr_matrix", "lr_scalar", "lr_greedy", "lam", "iht_step", "tau"):
            check_positive(name, getattr(self, name), caller=c)
        if self.dtype not in ("float32", "float64"):
            raise InvalidParameterError(f"{c}: dtype must be 'float32' or 'float64'; got {self.dtype!r}.")
        for s in self.snrs:
            if not (s == math.inf or (math.isfinite(s) and s > 0)):
                raise InvalidParameterError(f"{c}: every SNR must be > 0 dB or inf; got {s!r}.")
        return self

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float32 if self.dtype == "float32" else torch.float64


SCALES = {
    "full": B1Config(),
    "ci": B1Config(scale="ci", m=64, N=128, depth=8, snrs=(math.inf, 30.0), n_test=200, n_val=200,
                   batch=32, steps=150, val_every=25, k_fixed=24, iht_step=0.35, iht_iters=100, long_iters=300,
                   lam_grid=(0.003, 0.03, 0.3), n_lam_select=100, alista_paper_steps=20),
}


def config_for(scale: str, **overrides) -> B1Config:
    """The preset of ``scale`` ('full' or 'ci') with ``overrides`` applied, validated."""
    if scale not in SCALES:
        raise InvalidParameterError(f"B1: unknown scale {scale!r}; expected one of {sorted(SCALES)}.")
    return replace(SCALES[scale], **overrides).validate()


def snr_label(snr: float) -> str:
    """'inf' or the SNR in dB as a compact string ('40')."""
    return "inf" if snr == math.inf else f"{snr:g}"


def split_seed(seed: int, *parts) -> int:
    """A 63-bit seed derived from the run seed and labels (e.g. ('test', 'snr40')); stable across
    platforms and Python versions (sha256, not ``hash``)."""
    text = "/".join([str(int(seed))] + [str(p) for p in parts])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def make_matrix(cfg: B1Config) -> torch.Tensor:
    """A (m, N): N(0, 1/m) entries (drawn in float64), columns scaled to unit norm, in cfg's dtype.
    Depends only on (m, N, seed): every SNR and method shares it."""
    g = torch.Generator().manual_seed(split_seed(cfg.seed, "A", cfg.m, cfg.N))
    A = torch.randn(cfg.m, cfg.N, generator=g, dtype=torch.float64) / math.sqrt(cfg.m)
    A = A / torch.linalg.vector_norm(A, dim=0, keepdim=True)
    return A.to(cfg.torch_dtype)


def draw_signals(n: int, N: int, p: float, g: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """X (n, N): Bernoulli(p) x N(0, 1) entries."""
    mask = torch.rand(n, N, generator=g, dtype=torch.float64) < p
    vals = torch.randn(n, N, generator=g, dtype=torch.float64)
    return (vals * mask).to(dtype)


def add_noise(Y0: torch.Tensor, snr: float, g: torch.Generator) -> torch.Tensor:
    """Y0 + e with e_b ~ N(0, sigma_b^2 I), sigma_b = ||Y0_b|| / sqrt(m) * 10^(-snr/20); snr = inf: Y0."""
    if snr == math.inf:
        return Y0.clone()
    m = Y0.shape[-1]
    sigma = torch.linalg.vector_norm(Y0, dim=-1, keepdim=True) / math.sqrt(m) * 10.0 ** (-snr / 20.0)
    e = torch.randn(Y0.shape, generator=g, dtype=torch.float64).to(Y0.dtype)
    return Y0 + sigma * e


@dataclass
class B1Data:
    """One split: Y (n, m), X (n, N) and the support sizes k (n,)."""

    Y: torch.Tensor
    X: torch.Tensor
    k: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.k = (self.X != 0).sum(-1)


def _draw(cfg: B1Config, A: torch.Tensor, n: int, snr: float, seed: int) -> B1Data:
    g = torch.Generator().manual_seed(seed)
    X = draw_signals(n, cfg.N, cfg.p, g, torch.float64)
    Y0 = X @ A.to(torch.float64).mT
    Y = add_noise(Y0, snr, g)
    return B1Data(Y.to(cfg.torch_dtype), X.to(cfg.torch_dtype))


def make_split(cfg: B1Config, A: torch.Tensor, split: str, snr: float) -> B1Data:
    """The fixed 'test' or 'val' set at this SNR. The signals X of a split are the same for every
    SNR (the seed of X depends on the split only); the noise draws differ per SNR."""
    if split not in ("test", "val"):
        raise InvalidParameterError(f"B1: split must be 'test' or 'val'; got {split!r}.")
    n = cfg.n_test if split == "test" else cfg.n_val
    gx = torch.Generator().manual_seed(split_seed(cfg.seed, split, "x"))
    X = draw_signals(n, cfg.N, cfg.p, gx, torch.float64)
    ge = torch.Generator().manual_seed(split_seed(cfg.seed, split, "noise", snr_label(snr)))
    Y = add_noise(X @ A.to(torch.float64).mT, snr, ge)
    return B1Data(Y.to(cfg.torch_dtype), X.to(cfg.torch_dtype))


def train_batch(cfg: B1Config, A: torch.Tensor, snr: float, step: int,
                batch: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(Y, X) of the training stream at ``step``: a function of (seed, SNR, step) only."""
    d = _draw(cfg, A, batch or cfg.batch, snr, split_seed(cfg.seed, "train", snr_label(snr), int(step)))
    return d.Y, d.X
