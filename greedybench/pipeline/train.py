"""Train stage and the Fig. 3 tables of a trained net (reference deep_greedy_unfolding 5.3).

``train_stage`` trains one trained variant on a training set's train/val split (the entry contract
of docs/architecture.md: a dict that ``torch.load(weights_only=True)`` accepts) and keeps the
per-epoch loss history in the saved state under ``"history"`` (plain tensors: epoch, train_loss,
val_loss, lr), read from the ``losses.csv`` that ``greedybench.train.train`` writes when the
entry's ``train`` takes ``out_dir``; an entry without it gets no history. ``training.options``
reach a ``train`` that declares them or takes ``**train_options`` (the nets pass them on as
TrainConfig fields). The state is written once, atomically.

``training_tables_stage`` turns a trained state, its training split and the test-split result rows
of the net and of its baselines (the solve jobs' per-job CSVs) into the three tables of the
figure (results/tables/training/{variant}/{set}/):

- ``loss.csv``: epoch, train_loss, val_loss, lr (header only without a history);
- ``weights.csv``: index, weight (learned |w_i|; the mean over layers for per-layer weights),
  in_hidden_set (i in the latent model's hidden set T) -- header only for a net without
  selection weights (LISTA, ALISTA ...);
- ``errors.csv``: method, role (net / baseline), problem, rel_err -- one row per test sample.
"""

from __future__ import annotations

import inspect
import io
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import torch

from ..datasets import load_instance
from ..registry import ProblemBatch, SolverContractError, load_variant
from ..storage import atomic_write_bytes, read_csv, set_threads, write_csv
from .core import load_state
from .generate import load_slice_instance, read_manifest

__all__ = ["train_stage", "training_tables_stage", "LOSS_COLUMNS", "WEIGHT_COLUMNS", "ERROR_COLUMNS"]

LOSS_COLUMNS = ("epoch", "train_loss", "val_loss", "lr")
WEIGHT_COLUMNS = ("index", "weight", "in_hidden_set")
ERROR_COLUMNS = ("method", "role", "problem", "rel_err")
_HISTORY_TYPES = {"epoch": torch.int64, "train_loss": torch.float64, "val_loss": torch.float64,
                  "lr": torch.float64}


def _read_history(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    rows = read_csv(path)
    out = {}
    for k, dt in _HISTORY_TYPES.items():
        vals = [float(r.get(k) or "nan") for r in rows]
        out[k] = torch.tensor([int(v) for v in vals] if dt == torch.int64 else vals, dtype=dt)
    return out


def train_stage(out_model, *, trainval_dir, entry: str, params_json: str, solver_files=(),
                version: Optional[str] = None, family_name: str, family: Optional[dict] = None,
                seed: int, options: dict, device: str, dtype: str, threads: int) -> None:
    """Train one trained variant on a training set's train/val split and save its state (with the
    loss history) atomically. ``options`` (training.options + the solver's train_options) go to
    ``train`` when it declares them or takes ``**kwargs`` (the nets' TrainConfig fields)."""
    set_threads(threads)
    variant = load_variant(entry, params_json, solver_files, version)
    manifest = read_manifest(trainval_dir)
    loaded = {it["split"]: load_slice_instance(trainval_dir, manifest, it, family or {}, device=device)
              for it in manifest["instances"]}
    batches = [ProblemBatch.from_instance(loaded[k][0], with_X=True, family=family_name,
                                          instance=str(loaded[k][1])) for k in ("train", "val")]
    sig = inspect.signature(variant.entry.train).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values())
    extra = {k: v for k, v in options.items() if (k in sig or var_kw) and k not in variant.params}
    ignored = sorted(set(options) - set(extra))
    if ignored:
        print(f"train options not declared by {variant.entry.path.name}.train, not passed: {', '.join(ignored)}")
    where = f"solver {variant.name} ({variant.entry.path}) training on family {family_name!r}"
    with tempfile.TemporaryDirectory(prefix="greedybench-train-") as tmp:
        if "out_dir" in sig:  # greedybench.train.train writes losses.csv there
            extra["out_dir"] = str(Path(tmp) / "run")
        try:
            state = variant.entry.train(*batches, seed=seed, progress=False, **variant.params, **extra)
        except Exception as exc:  # noqa: BLE001
            raise SolverContractError(f"{where}: train raised {type(exc).__name__}: {exc}") from exc
        history = _read_history(Path(tmp) / "run" / "losses.csv")
    if not isinstance(state, dict):
        raise SolverContractError(f"{where}: train must return a dict (state dict + JSON-able config); "
                                  f"got {type(state).__name__}")
    if history is not None:
        state = dict(state, history=history)
    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise SolverContractError(f"{where}: the state must hold only tensors and plain Python values "
                                  f"(torch.load(weights_only=True) refuses it: {exc})") from exc
    atomic_write_bytes(out_model, buf.getvalue())


def _weights(state: dict) -> Optional[torch.Tensor]:
    """The learned selection weights (N,) of OMP-Net / IHT-Net style states, else None."""
    sd = state.get("state_dict", state) if isinstance(state, dict) else {}
    w = sd.get("weights") if isinstance(sd, dict) else None
    if not isinstance(w, torch.Tensor) or w.dim() not in (1, 2):
        return None
    w = w.detach().abs().double()
    return w.mean(0) if w.dim() == 2 else w


def training_tables_stage(out_loss, out_weights, out_errors, *, model, data, runs: Sequence[str], net: str,
                          training_set: str = "") -> dict:
    """Write loss.csv, weights.csv and errors.csv (module docstring); returns their row counts."""
    state = load_state(model, "cpu")
    hist = state.get("history") or {}
    loss_rows = [{k: (v[i].item() if k in hist else None) for k, v in hist.items() if k in LOSS_COLUMNS}
                 for i in range(len(hist.get("epoch", [])))]
    for r in loss_rows:
        if r.get("val_loss") is not None and r["val_loss"] != r["val_loss"]:  # nan: not evaluated
            r["val_loss"] = None
    write_csv(out_loss, LOSS_COLUMNS, loss_rows)

    w = _weights(state)
    T = None
    for item in read_manifest(data)["instances"]:
        if item.get("split") == "train":
            T = load_instance(Path(data) / item["file"], device="cpu").meta.get("T")
    hidden = set(T or [])
    w_rows = [] if w is None else [{"index": i, "weight": float(w[i]), "in_hidden_set": i in hidden}
                                   for i in range(w.numel())]
    write_csv(out_weights, WEIGHT_COLUMNS, w_rows)

    err_rows, seen = [], set()
    for path in runs:
        for r in read_csv(path):
            role = "net" if r["solver"] == net else "baseline"
            err_rows.append({"method": r["solver"], "role": role, "problem": int(r["problem"]),
                             "rel_err": float(r["rel_err"])})
            seen.add(r["solver"])
    if net not in seen:
        raise ValueError(f"training tables of {net} on {training_set}: none of the test-split runs "
                         f"({', '.join(map(str, runs))}) has rows of the net")
    err_rows.sort(key=lambda r: (r["role"] != "net", r["method"], r["problem"]))
    write_csv(out_errors, ERROR_COLUMNS, err_rows)
    return {"loss": len(loss_rows), "weights": len(w_rows), "errors": len(err_rows)}
