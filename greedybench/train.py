"""The one training entry point for the unrolled nets (OMPNet, IHTNet, LISTA, ALISTA, PUDLE-ISTA).

``train(model, (Y, X), (Y_val, X_val), TrainConfig(...), out_dir=...)`` runs the paper's schedule
by default (reference deep_greedy_unfolding section 4): RMSprop lr 1e-2 (alpha 0.99, eps 1e-8),
StepLR(500, 0.5), gradient-norm clipping at 1.0, batch 64, 1000 epochs, loss = mean over the batch
of ||Re(x_hat) - x||^2, validation on the whole validation set every epoch, best epoch chosen on
validation. Unlike the reference code, reported numbers come from a separate test set that model
selection never sees (``test_data``, evaluated once, with the best weights).

Reproducibility and resumption
------------------------------
* Shuffling uses a fresh ``torch.Generator`` seeded from ``(seed, epoch)``, so no RNG state has to
  survive an interruption; the model, optimizer and scheduler state, the history and the best
  weights are saved every ``checkpoint_every`` epochs and at the end (``last.pt``). ``train`` with
  ``resume=True`` continues from ``last.pt`` and gives bitwise the same result on CPU as a run that
  was never interrupted.
* Files in ``out_dir`` (all written atomically, temp file + ``os.replace``):
  ``config.json`` (the TrainConfig and a model description), ``last.pt`` (training state),
  ``best.pt`` (the best model's plain state dict), ``losses.csv`` (epoch, train_loss, val_loss, lr)
  and ``result.json`` (best epoch, losses, time).
* Every ``.pt`` file is a plain dict of tensors and Python scalars (``torch.save``), loadable with
  ``torch.load(..., weights_only=True)``; no pickled classes.
* ``last.pt`` records what it was trained for (model, state shapes and dtypes, the operator's and
  the data's SHA-256) and a SHA-256 of its contents (``greedybench._checkpoint``): resume refuses a
  checkpoint for another problem or model, a damaged one, NaN weights and malformed fields.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from ._checkpoint import (CheckpointError, _atomic_save, _check_fits, _plain_state, _torch_load,
                          check_training_checkpoint, compare_trained_for, load_model, load_state_dict,
                          save_state_dict, seal, trained_for)
from ._validation import InvalidParameterError, ShapeError, check_option
from .storage import atomic_write_text

__all__ = [
    "CheckpointError", "TrainConfig", "TrainResult", "train", "evaluate", "predict",
    "batch_loss", "load_state_dict", "load_model", "save_state_dict",
]

_CALLER = "greedybench.train"
_OPTIMIZERS = ("rmsprop", "adam", "sgd")
_LOSSES = ("vector_mse", "mse")


# --------------------------------------------------------------------------------------------- #
# configuration and result
# --------------------------------------------------------------------------------------------- #
@dataclass
class TrainConfig:
    """Training hyper-parameters; the defaults are the Deep-greedy-unfolding schedule (Fig. 3).

    epochs, batch_size : 1000, 64 (1024 training samples -> 16 steps per epoch)
    optimizer : "rmsprop" (default), "adam" or "sgd"
    lr, alpha, eps, momentum, weight_decay : RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, 0, 0);
        ``betas`` is used by Adam only, ``alpha`` by RMSprop only
    lr_step, lr_gamma : StepLR(step_size=500 epochs, gamma=0.5); lr_step=0 disables the schedule
    grad_clip : max gradient 2-norm (None or 0: no clipping)
    loss : "vector_mse" = mean_b ||Re x_hat_b - x_b||^2 (the paper's), or "mse" (mean over entries)
    val_every : validate on the whole validation set every k epochs (and after the last epoch)
    val_batch_size : chunk size for validation/test forward passes (None: all at once)
    checkpoint_every : save the resumable training state every k epochs (and at the end)
    seed : seeds the per-epoch shuffling generators and torch's global RNG at the start
    skip_failed_steps : if a training step raises ``torch.linalg.LinAlgError`` (e.g. an SVD that
        does not converge on a numerically rank-deficient soft least-squares problem), skip that
        step (no update) instead of aborting, and count it (``history["skipped_steps"]``); a
        validation pass that raises it counts as not evaluated. Deterministic, so resumption stays
        exact. Default False: the error propagates.
    """

    epochs: int = 1000
    batch_size: int = 64
    optimizer: str = "rmsprop"
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    lr_step: int = 500
    lr_gamma: float = 0.5
    grad_clip: Optional[float] = 1.0
    loss: str = "vector_mse"
    val_every: int = 1
    val_batch_size: Optional[int] = None
    checkpoint_every: int = 10
    seed: int = 0
    skip_failed_steps: bool = False

    # fields that may change between an interrupted run and its resumption
    _RESUMABLE_CHANGES = ("epochs", "checkpoint_every", "val_batch_size", "skip_failed_steps")

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        self.validate()

    def validate(self) -> "TrainConfig":
        for name in ("epochs", "batch_size", "val_every", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"TrainConfig: {name} must be an integer >= 1; got {v!r}.")
        if isinstance(self.lr_step, bool) or not isinstance(self.lr_step, int) or self.lr_step < 0:
            raise InvalidParameterError(f"TrainConfig: lr_step must be an integer >= 0; got {self.lr_step!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise InvalidParameterError(f"TrainConfig: seed must be an integer >= 0; got {self.seed!r}.")
        for name in ("lr", "eps", "lr_gamma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InvalidParameterError(f"TrainConfig: {name} must be a finite number > 0; got {v!r}.")
        for name in ("momentum", "weight_decay"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InvalidParameterError(f"TrainConfig: {name} must be a finite number >= 0; got {v!r}.")
        if not (0 < self.alpha < 1):
            raise InvalidParameterError(f"TrainConfig: alpha must be in (0, 1); got {self.alpha!r}.")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise InvalidParameterError(f"TrainConfig: grad_clip must be None or >= 0; got {self.grad_clip!r}.")
        if self.val_batch_size is not None and (not isinstance(self.val_batch_size, int) or self.val_batch_size < 1):
            raise InvalidParameterError(f"TrainConfig: val_batch_size must be None or an integer >= 1; "
                                        f"got {self.val_batch_size!r}.")
        check_option("optimizer", self.optimizer, _OPTIMIZERS, caller="TrainConfig")
        check_option("loss", self.loss, _LOSSES, caller="TrainConfig")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidParameterError(f"TrainConfig: unknown field(s) {unknown}; known: {sorted(names)}.")
        return cls(**d)


@dataclass
class TrainResult:
    """What ``train`` returns. ``model`` holds the best (validation-selected) weights."""

    model: nn.Module
    best_epoch: int
    best_val_loss: float
    history: dict                       # lists: epoch, train_loss, val_loss (nan if not evaluated), lr,
                                        # skipped_steps
    train_time_s: float                 # wall time of the epochs run in this call
    epochs_run: int                     # epochs run in this call (0 if the run was already complete)
    resumed_from: int                   # epoch of the checkpoint resumed from (0: fresh start)
    test_loss: Optional[float] = None   # loss of the best model on test_data, if given
    total_train_time_s: float = 0.0     # wall time of all epochs, over resumptions
    out_dir: Optional[Path] = None
    config: TrainConfig = field(default_factory=TrainConfig)

    @property
    def final_val_loss(self) -> float:
        vals = [v for v in self.history["val_loss"] if not math.isnan(v)]
        return vals[-1] if vals else float("nan")

    def summary(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "final_val_loss": self.final_val_loss, "test_loss": self.test_loss,
                "train_time_s": self.train_time_s, "total_train_time_s": self.total_train_time_s,
                "epochs_run": self.epochs_run,
                "resumed_from": self.resumed_from, "epochs": self.config.epochs,
                "skipped_steps": int(sum(self.history.get("skipped_steps", [])))}


# --------------------------------------------------------------------------------------------- #
# loss, evaluation
# --------------------------------------------------------------------------------------------- #
def batch_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "vector_mse") -> torch.Tensor:
    """Loss on the real part of the estimate: mean over the batch of ||Re x_hat - x||^2
    ("vector_mse", the paper's) or the mean over all entries ("mse")."""
    if x_hat.is_complex():
        x_hat = x_hat.real
    if x.is_complex():
        x = x.real
    d = (x_hat - x).pow(2)
    if kind == "vector_mse":
        return d.sum(-1).mean()
    return d.mean()


@torch.no_grad()
def predict(model: nn.Module, Y: torch.Tensor, *, batch_size: Optional[int] = None) -> torch.Tensor:
    """Model output for all rows of Y (in chunks of ``batch_size``), in eval mode, no gradients."""
    was_training = model.training
    model.eval()
    try:
        if batch_size is None or batch_size >= Y.shape[0]:
            return model(Y)
        return torch.cat([model(Y[i:i + batch_size]) for i in range(0, Y.shape[0], batch_size)])
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, data, *, batch_size: Optional[int] = None, loss: str = "vector_mse") -> float:
    """Loss of ``model`` on a whole data set ``(Y, X)`` (same definition as the training loss)."""
    Y, X = data
    return float(batch_loss(predict(model, Y, batch_size=batch_size), X, loss))


# --------------------------------------------------------------------------------------------- #
# training
# --------------------------------------------------------------------------------------------- #
def _check_data(data, name: str):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise InvalidParameterError(f"{_CALLER}: {name} must be a pair (Y, X); got {type(data).__name__}.")
    Y, X = data
    if not (isinstance(Y, torch.Tensor) and isinstance(X, torch.Tensor)):
        raise InvalidParameterError(f"{_CALLER}: {name} must hold two tensors (Y, X).")
    if Y.dim() != 2 or X.dim() != 2 or Y.shape[0] != X.shape[0] or Y.shape[0] < 1:
        raise ShapeError(f"{_CALLER}: {name} must be (Y of shape (n, m), X of shape (n, N)) with the same "
                         f"n >= 1; got Y {tuple(Y.shape)} and X {tuple(X.shape)}.",
                         expected="(n, m), (n, N)", got=(tuple(Y.shape), tuple(X.shape)))
    return Y, X


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Shuffling generator of one epoch, a pure function of (seed, epoch): resume needs no RNG state."""
    s = int(np.random.SeedSequence([int(seed), int(epoch), 0x9E3779B9]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(s & 0x7FFF_FFFF_FFFF_FFFF)


def _make_optimizer(model: nn.Module, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InvalidParameterError(f"{_CALLER}: {type(model).__name__} has no trainable parameters.")
    if cfg.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps,
                                  momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    step = cfg.lr_step if cfg.lr_step > 0 else 10**12
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=cfg.lr_gamma)
    return params, opt, sched


def _model_description(model: nn.Module) -> dict:
    return {"class": type(model).__name__, "repr": model.extra_repr(),
            "parameters": {k: list(v.shape) for k, v in model.named_parameters()},
            "n_parameters": int(sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()))}


def _write_csv(path: Path, history: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", "train_loss", "val_loss", "lr"])
    for row in zip(history["epoch"], history["train_loss"], history["val_loss"], history["lr"]):
        e, tl, vl, lr = row
        w.writerow([e, repr(tl), "" if math.isnan(vl) else repr(vl), repr(lr)])
    atomic_write_text(path, buf.getvalue())


def _history_to_tensors(h: dict) -> dict:
    return {"epoch": torch.tensor(h["epoch"], dtype=torch.int64),
            "train_loss": torch.tensor(h["train_loss"], dtype=torch.float64),
            "val_loss": torch.tensor(h["val_loss"], dtype=torch.float64),
            "lr": torch.tensor(h["lr"], dtype=torch.float64),
            "skipped_steps": torch.tensor(h["skipped_steps"], dtype=torch.int64)}


def _history_from_tensors(h: dict) -> dict:
    n = len(h["epoch"])
    sk = h["skipped_steps"].tolist() if "skipped_steps" in h else [0] * n
    return {"epoch": [int(v) for v in h["epoch"].tolist()],
            "train_loss": [float(v) for v in h["train_loss"].tolist()],
            "val_loss": [float(v) for v in h["val_loss"].tolist()],
            "lr": [float(v) for v in h["lr"].tolist()],
            "skipped_steps": [int(v) for v in sk]}


def _config_mismatch(saved: dict, cfg: TrainConfig) -> list:
    now = cfg.to_dict()
    return sorted(k for k in now if k not in TrainConfig._RESUMABLE_CHANGES and saved.get(k) != now[k])


def train(model: nn.Module, train_data, val_data, config: Optional[TrainConfig] = None, *,
          out_dir=None, resume: bool = True, progress: bool = True, test_data=None) -> TrainResult:
    """Train ``model`` (x_hat = model(Y)) on ``train_data = (Y, X)``; select the best epoch on
    ``val_data``; optionally report the best model's loss on ``test_data`` (never used to select).

    Parameters
    ----------
    model : nn.Module mapping y (B, m) to x_hat (B, N); modified in place and returned in the result
        with the best validation weights loaded.
    train_data, val_data, test_data : pairs (Y of shape (n, m), X of shape (n, N)).
    config : TrainConfig (default: the paper's schedule).
    out_dir : folder for config.json, last.pt, best.pt, losses.csv, result.json (None: nothing is
        written and nothing can be resumed).
    resume : continue from ``out_dir/last.pt`` if it exists (the config must match except for
        ``epochs``, ``checkpoint_every`` and ``val_batch_size``; otherwise CheckpointError). With
        ``resume=False`` an existing checkpoint is overwritten.
    progress : show a tqdm progress bar over epochs.
    """
    cfg = (config if config is not None else TrainConfig()).validate()
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"{_CALLER}: model must be a torch.nn.Module; got {type(model).__name__}.")
    Y, X = _check_data(train_data, "train_data")
    Yv, Xv = _check_data(val_data, "val_data")
    if test_data is not None:
        _check_data(test_data, "test_data")
    n = Y.shape[0]

    torch.manual_seed(cfg.seed)
    params, opt, sched = _make_optimizer(model, cfg)
    history = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "skipped_steps": []}
    best_val, best_epoch, best_state = math.inf, 0, _plain_state(model)
    start_epoch = 0
    prior_time = 0.0

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        last = out / "last.pt"
        for_now = json.dumps(trained_for(model, (Y, X), (Yv, Xv)), sort_keys=True)
        if resume and last.exists():
            src = repr(str(last))
            ck = _torch_load(last)
            saved_cfg = check_training_checkpoint(ck, f"{_CALLER}: checkpoint {src}")
            compare_trained_for(ck["trained_for"], json.loads(for_now), f"{_CALLER}: cannot resume: checkpoint {src}")
            mismatch = _config_mismatch(saved_cfg, cfg)
            if mismatch:
                raise CheckpointError(
                    f"{_CALLER}: cannot resume from {src}: its TrainConfig differs in "
                    f"{mismatch} (only {list(TrainConfig._RESUMABLE_CHANGES)} may change); "
                    "use resume=False or another out_dir.")
            load_model(model, ck["model"])
            _check_fits(model, ck["best_model"], f"{src} (best weights)")
            try:
                opt.load_state_dict(ck["optimizer"])
                sched.load_state_dict(ck["scheduler"])
                torch.set_rng_state(ck["rng"])
                history = _history_from_tensors(ck["history"])
            except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
                raise CheckpointError(f"{_CALLER}: checkpoint {src} has a malformed optimizer, scheduler, rng "
                                      f"or history entry ({type(exc).__name__}: {exc}); use resume=False.") from exc
            best_val, best_epoch = float(ck["best_val"]), int(ck["best_epoch"])
            best_state = {k: v.clone() for k, v in ck["best_model"].items()}
            start_epoch = int(ck["epoch"])
            prior_time = float(ck.get("train_time_s", 0.0))
        meta = {"train_config": cfg.to_dict(), "model": _model_description(model),
                "n_train": n, "n_val": int(Yv.shape[0]),
                "n_test": None if test_data is None else int(test_data[0].shape[0]),
                "torch_version": torch.__version__}
        atomic_write_text(out / "config.json", json.dumps(meta, indent=2))

    def checkpoint(epoch_done: int) -> None:
        if out is None:
            return
        ck = {"model": _plain_state(model), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "epoch": epoch_done, "best_val": best_val, "best_epoch": best_epoch,
              "best_model": best_state, "history": _history_to_tensors(history),
              "rng": torch.get_rng_state(), "config": json.dumps(cfg.to_dict()),
              "train_time_s": prior_time + time.perf_counter() - t0, "trained_for": for_now}
        _atomic_save(seal(ck), out / "last.pt")
        _write_csv(out / "losses.csv", history)

    bar = None
    if progress and start_epoch < cfg.epochs:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.epochs, initial=start_epoch, desc=type(model).__name__, unit="ep",
                   dynamic_ncols=True, leave=False)
    t0 = time.perf_counter()
    bs = cfg.batch_size
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        perm = torch.randperm(n, generator=_epoch_generator(cfg.seed, epoch))
        total = torch.zeros((), dtype=torch.float64)
        lr_now = float(opt.param_groups[0]["lr"])
        n_seen, skipped = 0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            try:
                loss = batch_loss(model(Y[idx]), X[idx], cfg.loss)
                loss.backward()
            except torch.linalg.LinAlgError:
                if not cfg.skip_failed_steps:
                    raise
                opt.zero_grad(set_to_none=True)
                skipped += 1
                continue
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            total += loss.detach().double() * idx.numel()
            n_seen += idx.numel()
        sched.step()
        train_loss = float(total) / max(n_seen, 1) if n_seen else math.nan
        ep = epoch + 1
        val = math.nan
        if ep % cfg.val_every == 0 or ep == cfg.epochs:
            try:
                val = evaluate(model, (Yv, Xv), batch_size=cfg.val_batch_size, loss=cfg.loss)
            except torch.linalg.LinAlgError:
                if not cfg.skip_failed_steps:
                    raise
                skipped += 1
            if val < best_val:  # nan never wins
                best_val, best_epoch = val, ep
                best_state = _plain_state(model)
                if out is not None:
                    save_state_dict(best_state, out / "best.pt")
        history["epoch"].append(ep)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val)
        history["lr"].append(lr_now)
        history["skipped_steps"].append(skipped)
        if ep % cfg.checkpoint_every == 0 or ep == cfg.epochs:
            checkpoint(ep)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.3g}", val=f"{val:.3g}", best=f"{best_val:.3g}@{best_epoch}",
                            refresh=False)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0
    epochs_run = max(cfg.epochs - start_epoch, 0)

    if best_epoch > 0:
        load_model(model, best_state)
    model.eval()
    test_loss = None
    if test_data is not None:
        test_loss = evaluate(model, test_data, batch_size=cfg.val_batch_size, loss=cfg.loss)
    res = TrainResult(model=model, best_epoch=best_epoch, best_val_loss=best_val, history=history,
                      train_time_s=elapsed, epochs_run=epochs_run, resumed_from=start_epoch,
                      test_loss=test_loss, out_dir=out, config=cfg,
                      total_train_time_s=prior_time + elapsed)
    if out is not None:
        if best_epoch > 0 and not (out / "best.pt").exists():
            save_state_dict(best_state, out / "best.pt")
        atomic_write_text(out / "result.json", json.dumps(res.summary(), indent=2))
    return res
