"""Training of the learned B1 methods under one budget, resumable, and their evaluation.

``train_method`` runs ``cfg.steps`` steps on the seeded stream (``b1_task.train_batch``), validates
the layer-K NMSE every ``cfg.val_every`` steps, keeps the best validated state and writes a
checkpoint (model, optimiser, step, best state, history, elapsed time) atomically after every
validation (``greedybench.storage``); a rerun with the same configuration resumes from it, and a
finished checkpoint is reused as is. ``train_alista_paper`` is the layer-wise schedule of the
reference (3.2), with every stage capped at ``cfg.alista_paper_steps`` steps.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from .. import storage
from ..nn import ALISTA, LISTA, LISTACP, LISTACPSS, IHTNet, OMPNet, PUDLEISTA, alista_weight_matrix
from ..nn.paths import layer_outputs
from .b1_baselines import PathRecorder, curve_row
from .b1_task import B1Config, B1Data, snr_label, train_batch

try:                                    # progress bars are optional at run time
    from tqdm.auto import tqdm
except ImportError:                     # pragma: no cover
    tqdm = None

__all__ = ["LEARNED", "build_model", "finished", "train_method", "train_alista_paper", "evaluate_model", "n_params"]

# name -> optimiser family ("matrix": Adam lr_matrix, "scalar": Adam lr_scalar, "greedy": RMSprop lr_greedy)
LEARNED = {"lista": "matrix", "lista-cp": "matrix", "lista-cpss": "matrix", "alista": "scalar",
           "pudle-ista": "scalar", "omp-net": "greedy", "iht-net": "greedy"}


def build_model(name: str, cfg: B1Config, A: torch.Tensor, W: Optional[torch.Tensor] = None) -> nn.Module:
    """The untrained net of method ``name`` at depth cfg.depth (``W``: ALISTA's precomputed W~)."""
    D = cfg.depth
    if name == "lista":
        return LISTA(A, D, lam=cfg.lam)
    if name == "lista-cp":
        return LISTACP(A, D, lam=cfg.lam)
    if name == "lista-cpss":
        return LISTACPSS(A, D, lam=cfg.lam)
    if name in ("alista", "alista-paper"):
        return ALISTA(A, D, lam=cfg.lam, W=W if W is not None else alista_weight_matrix(A),
                      support_selection=(1.2, 13.0))
    if name == "pudle-ista":
        return PUDLEISTA(A, D, lam=cfg.lam)
    if name == "omp-net":
        return OMPNet(A, D, tau=cfg.tau)
    if name == "iht-net":
        return IHTNet(A, cfg.k_fixed, D, tau=cfg.tau, step=cfg.iht_step)
    raise ValueError(f"B1: unknown learned method {name!r}")


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad))


def _optimizer(family: str, cfg: B1Config, params):
    if family == "matrix":
        return torch.optim.Adam(params, lr=cfg.lr_matrix), cfg.lr_matrix
    if family == "scalar":
        return torch.optim.Adam(params, lr=cfg.lr_scalar), cfg.lr_scalar
    return torch.optim.RMSprop(params, lr=cfg.lr_greedy, alpha=0.99, eps=1e-8), cfg.lr_greedy


def _layer_loss(model: nn.Module, Y: torch.Tensor, X: torch.Tensor, upto: Optional[int] = None) -> torch.Tensor:
    """sum over layers 1..upto (default all) of the batch mean of ||x_k - x||^2."""
    P = layer_outputs(model, Y).real
    if upto is not None:
        P = P[:, :upto]
    return ((P - X.unsqueeze(1)) ** 2).sum(-1).mean(0).sum()


@torch.no_grad()
def val_nmse_db(model: nn.Module, val: B1Data, layer: Optional[int] = None) -> float:
    P = layer_outputs(model, val.Y).real
    x = P[:, (layer or P.shape[1]) - 1].to(torch.float64)
    X = val.X.to(torch.float64)
    err = float(((x - X) ** 2).sum())
    return 10 * math.log10(err / float((X ** 2).sum())) if err > 0 and math.isfinite(err) else (
        -math.inf if err == 0 else math.inf)


def _save(path: Path, obj: dict) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    storage.atomic_write_bytes(path, buf.getvalue())


def _fingerprint(cfg: B1Config, name: str, snr: float) -> str:
    return json.dumps({"cfg": cfg.to_dict(), "method": name, "snr": snr_label(snr)}, sort_keys=True)


# B1Config fields that do not change a given method's training: the list of SNRs run together
# and whether / how the separate ALISTA layer-wise schedule runs (it keeps its own in its fingerprint).
_RUN_ONLY = ("snrs", "alista_paper")
_E2E_ONLY = ("alista_paper_steps",)


def _comparable(fingerprint: str) -> dict:
    d = json.loads(fingerprint)
    drop = _RUN_ONLY + (() if d.get("method") == "alista-paper" else _E2E_ONLY)
    d["cfg"] = {k: v for k, v in d["cfg"].items() if k not in drop}
    return d


def _load(path: Path, fingerprint: str) -> Optional[dict]:
    if path is None or not path.exists():
        return None
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if _comparable(ck.get("fingerprint", '{"cfg": {}}')) != _comparable(fingerprint):
        return None                                # another configuration: start afresh
    return ck


def finished(name: str, cfg: B1Config, snr: float, ckpt: Path) -> bool:
    """Whether ``ckpt`` holds a completed training of ``name`` under ``cfg`` at this SNR."""
    ck = _load(ckpt, _fingerprint(cfg, name, snr))
    if ck is None:
        return False
    if name == "alista-paper":
        return int(ck["stage"]) >= 3 * cfg.depth
    return int(ck["step"]) >= cfg.steps


def _clone_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_method(name: str, model: nn.Module, cfg: B1Config, A: torch.Tensor, snr: float, val: B1Data, *,
                 ckpt: Optional[Path] = None, progress: bool = True, log: Callable = print) -> dict:
    """Train ``model`` (method ``name``) in place under the budget of ``cfg``; returns the training
    record {steps, seconds, best_step, best_val_nmse_db, optimizer, lr, history, skipped_steps}."""
    family = LEARNED[name]
    params = [p for p in model.parameters() if p.requires_grad]
    opt, lr = _optimizer(family, cfg, params)
    fp = _fingerprint(cfg, name, snr)
    ck = _load(ckpt, fp)
    step, seconds, history, skipped = 0, 0.0, [], 0
    best_val, best_step, best_state = val_nmse_db(model, val), 0, _clone_state(model)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, seconds, skipped = int(ck["step"]), float(ck["seconds"]), int(ck["skipped"])
        history = [tuple(h) for h in ck["history"].tolist()]
        best_val, best_step, best_state = float(ck["best_val"]), int(ck["best_step"]), ck["best_state"]
        if step < cfg.steps:
            log(f"  {name}: resuming at step {step}/{cfg.steps}")
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{name} snr={snr_label(snr)}", leave=False,
               disable=not progress or tqdm is None, mininterval=2.0)
    model.train()
    t0 = time.perf_counter()
    running = None
    while step < cfg.steps:
        Y, X = train_batch(cfg, A, snr, step)
        loss = _layer_loss(model, Y, X)
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            if family == "greedy":
                torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            lv = float(loss.detach())
            running = lv if running is None else 0.95 * running + 0.05 * lv
        else:
            skipped += 1
        step += 1
        bar.update(1)
        if step % cfg.val_every == 0 or step == cfg.steps:
            v = val_nmse_db(model, val)
            if v < best_val:
                best_val, best_step, best_state = v, step, _clone_state(model)
            history.append((step, running if running is not None else math.nan, v))
            bar.set_postfix(val_db=f"{v:.2f}", best=f"{best_val:.2f}")
            seconds_now = seconds + time.perf_counter() - t0
            if ckpt is not None:
                _save(ckpt, {"fingerprint": fp, "model": _clone_state(model), "optimizer": opt.state_dict(),
                             "step": step, "seconds": seconds_now, "skipped": skipped,
                             "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 3),
                             "best_val": best_val, "best_step": best_step, "best_state": best_state})
    bar.close()
    seconds += time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    return {"steps": step, "seconds": seconds, "best_step": best_step, "best_val_nmse_db": best_val,
            "optimizer": "rmsprop" if family == "greedy" else "adam", "lr": lr, "history": history,
            "skipped_steps": skipped}


@contextlib.contextmanager
def _truncated(model: ALISTA, k: int):
    """Run only the first k layers of ``model`` inside the block (layer k's output is then the
    net's output); the stage losses of the layer-wise schedule need nothing deeper."""
    full = model.n_layers
    model.n_layers = k
    try:
        yield model
    finally:
        model.n_layers = full


def train_alista_paper(model: ALISTA, cfg: B1Config, A: torch.Tensor, snr: float, val: B1Data, *,
                       ckpt: Optional[Path] = None, progress: bool = True, log: Callable = print) -> dict:
    """ALISTA's layer-wise schedule (reference 3.2): for each new layer k = 1..K, (1) train layer k's
    gamma_k, theta_k alone with Adam lr 5e-4 on the layer-k loss, then (2) all of layers 1..k at
    1e-4 and (3) at 1e-5; a stage ends after ``cfg.alista_paper_steps`` steps or when two
    successive validations (every max(cap // 6, 1) steps) do not improve the layer-k validation
    NMSE. The best validated state of each stage is kept. Deviations: the 0.3 learning-rate decay
    of earlier layers is not applied and the stage cap replaces the 4000-step patience."""
    fp = _fingerprint(cfg, "alista-paper", snr)
    ck = _load(ckpt, fp)
    stages = [(k, j) for k in range(1, cfg.depth + 1) for j in range(3)]
    done, steps, seconds, history = 0, 0, 0.0, []
    if ck is not None:
        model.load_state_dict(ck["model"])
        done, steps, seconds = int(ck["stage"]), int(ck["steps"]), float(ck["seconds"])
        history = [tuple(h) for h in ck["history"].tolist()]
    every = max(cfg.alista_paper_steps // 6, 1)
    bar = tqdm(total=len(stages), initial=done, desc=f"alista-paper snr={snr_label(snr)}", leave=False,
               disable=not progress or tqdm is None, mininterval=2.0)
    t0 = time.perf_counter()
    for si in range(done, len(stages)):
        k, j = stages[si]
        lr = (5e-4, 1e-4, 1e-5)[j]
        opt = torch.optim.Adam([model.gamma, model.theta], lr=lr)
        mask = torch.zeros(cfg.depth, dtype=model.gamma.dtype)
        if j == 0:
            mask[k - 1] = 1
        else:
            mask[:k] = 1
        with _truncated(model, k):
            best, best_state, bad = val_nmse_db(model, val), _clone_state(model), 0
        for t in range(cfg.alista_paper_steps):
            Y, X = train_batch(cfg, A, snr, steps)
            with _truncated(model, k):
                loss = ((model(Y) - X) ** 2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            model.gamma.grad.mul_(mask)
            model.theta.grad.mul_(mask)
            opt.step()
            steps += 1
            if (t + 1) % every == 0:
                with _truncated(model, k):
                    v = val_nmse_db(model, val)
                history.append((steps, k, v))
                if v < best:
                    best, best_state, bad = v, _clone_state(model), 0
                else:
                    bad += 1
                    if bad >= 2:
                        break
        model.load_state_dict(best_state)
        bar.update(1)
        bar.set_postfix(layer=k, val_db=f"{best:.2f}")
        if ckpt is not None:
            _save(ckpt, {"fingerprint": fp, "model": _clone_state(model), "stage": si + 1, "steps": steps,
                         "seconds": seconds + time.perf_counter() - t0,
                         "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 3)})
    bar.close()
    seconds += time.perf_counter() - t0
    model.eval()
    return {"steps": steps, "seconds": seconds, "best_step": steps, "best_val_nmse_db": val_nmse_db(model, val),
            "optimizer": "adam (layer-wise 5e-4/1e-4/1e-5)", "lr": 5e-4,
            "history": [(s, math.nan, v) for s, _, v in history], "skipped_steps": 0}


def _matvecs(model: nn.Module, k: int) -> float:
    m, N = model.A.shape
    return 1 + (k - 1) * N / m if isinstance(model, LISTA) else 2.0 * k


@torch.no_grad()
def evaluate_model(name: str, model: nn.Module, test: B1Data, depth: int, snr: str, repeats: int = 3) -> tuple:
    """(row, layer rows) of a trained net on the test set; the time is the median of ``repeats``
    plain forward passes over the whole test set."""
    rec = PathRecorder(test.X)
    P = layer_outputs(model, test.Y)
    for k in range(1, P.shape[1] + 1):
        rec.add(k, _matvecs(model, k), P[:, k - 1])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(test.Y)
        times.append(time.perf_counter() - t0)
    times.sort()
    row, layers = curve_row(name, rec, P[:, -1].real, test.X, times[len(times) // 2], test.Y.shape[0], depth,
                            snr_db=snr, params=n_params(model), trained=True)
    return row, [{"method": name, "snr_db": snr, **r} for r in layers]
