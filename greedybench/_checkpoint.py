"""Checkpoints of :mod:`greedybench.train` (weights-only file I/O: save_state_dict, load_state_dict,
load_model, re-exported there) and their integrity, also for the trained solver states (nn/entry.py).

A training checkpoint (``last.pt``) records

* ``trained_for``: what it was trained for -- the model class (its nearest greedybench class)
  and its ``extra_repr``, the name,
  shape and dtype of every state entry, the SHA-256 of the model's buffers (the operator ``A``,
  ALISTA's ``W`` ...: fixed by the problem, not learned), and the sizes, dtypes and SHA-256 of the
  training and validation data;
* ``sha256``: the SHA-256 of everything else in it (:func:`digest`: every tensor's dtype, shape and
  bytes, every scalar's repr, in sorted-key order).

``train(..., resume=True)`` refuses a checkpoint whose checksum does not match (a flipped byte in
a tensor blob, which ``torch.load`` does not notice), whose fields are malformed, whose weights
are NaN/Inf, or which was made for another problem or model; each with a :class:`CheckpointError`
naming the problem and the way out (``resume=False`` or another ``out_dir``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import numbers
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ._validation import GreedybenchError
from .storage import atomic_write_bytes

_CALLER = "greedybench.train"

__all__ = ["CheckpointError", "digest", "seal", "verify_seal", "trained_for", "compare_trained_for",
           "check_training_checkpoint", "check_finite_state", "save_state_dict", "load_state_dict",
           "load_model"]

CHECKPOINT_VERSION = 2


class CheckpointError(GreedybenchError, ValueError):
    """A checkpoint is missing, unreadable, or does not fit the model / the run it should resume."""


# --------------------------------------------------------------------------------------------- #
# atomic, weights-only file I/O (re-exported by greedybench.train)
# --------------------------------------------------------------------------------------------- #
def _atomic_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())



def _plain_state(model_or_state) -> dict:
    sd = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {k: v.detach().clone() for k, v in sd.items()}


def save_state_dict(model_or_state, path) -> Path:
    """Atomically save a model's plain state dict (dict of tensors) to ``path``."""
    path = Path(path)
    _atomic_save(_plain_state(model_or_state), path)
    return path


def _torch_load(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{_CALLER}: checkpoint file {str(path)!r} does not exist.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted, truncated, or pickled classes
        raise CheckpointError(f"{_CALLER}: cannot read checkpoint {str(path)!r} as a plain "
                              f"(weights_only) state dict: {exc}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{_CALLER}: checkpoint {str(path)!r} holds a {type(obj).__name__}, "
                              "not a dict of tensors.")
    return obj


def _check_fits(model: nn.Module, state: dict, source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{_CALLER}: checkpoint {source} does not fit {type(model).__name__}: "
            f"missing keys {missing}, unexpected keys {unexpected}.")
    for k, v in expected.items():
        got = state[k]
        if not isinstance(got, torch.Tensor):
            raise CheckpointError(f"{_CALLER}: checkpoint {source}: entry {k!r} is a "
                                  f"{type(got).__name__}, not a tensor.")
        if tuple(got.shape) != tuple(v.shape):
            raise CheckpointError(
                f"{_CALLER}: checkpoint {source} does not fit {type(model).__name__}: {k!r} has shape "
                f"{tuple(got.shape)} in the checkpoint but {tuple(v.shape)} in the model "
                "(different N, m, number of layers or tied/untied weights?).")
        if got.is_complex() != v.is_complex():
            raise CheckpointError(f"{_CALLER}: checkpoint {source}: {k!r} is "
                                  f"{'complex' if got.is_complex() else 'real'} in the checkpoint but "
                                  f"{'complex' if v.is_complex() else 'real'} in the model.")


def load_state_dict(path) -> dict:
    """The plain model state dict stored at ``path`` (``best.pt``, or the model part of ``last.pt``)."""
    obj = _torch_load(path)
    if "model" in obj and isinstance(obj["model"], dict) and "optimizer" in obj:
        obj = obj["model"]
    return obj


def load_model(model: nn.Module, path_or_state) -> nn.Module:
    """Load weights into ``model`` in place from a file or a state dict, with a clear error if the
    checkpoint is missing or does not fit (``CheckpointError``). Returns the model."""
    if isinstance(path_or_state, dict):
        state, source = path_or_state, "(state dict)"
    else:
        state, source = load_state_dict(path_or_state), repr(str(path_or_state))
    _check_fits(model, state, source)
    ref = model.state_dict()
    model.load_state_dict({k: v.to(device=ref[k].device, dtype=ref[k].dtype) for k, v in state.items()})
    return model


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        if t.layout != torch.strided or t.is_meta:
            raise CheckpointError(f"a checkpoint tensor must be dense and hold data; got {t.layout}"
                                  f"{' meta' if t.is_meta else ''}")
        t = t.resolve_conj().resolve_neg().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}:".encode())
        for k in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            h.update(f"K{type(k).__name__}{k!r}=".encode())
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}:".encode())
        for v in obj:
            _feed(h, v)
    elif obj is None or isinstance(obj, (bool, numbers.Number, str, bytes)):
        h.update(f"S{type(obj).__name__}{obj!r};".encode())
    else:
        raise CheckpointError(f"cannot checksum a {type(obj).__name__} in a checkpoint")


def digest(obj) -> str:
    """Hex SHA-256 of a tree of dicts, lists, tensors and scalars (keys in sorted order)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def seal(ck: dict) -> dict:
    """``ck`` with ``sha256`` = digest of all its other entries."""
    body = {k: v for k, v in ck.items() if k != "sha256"}
    return dict(body, sha256=digest(body))


def verify_seal(ck: dict, source: str) -> None:
    """Raise CheckpointError if ``ck['sha256']`` is missing or does not match its contents."""
    stored = ck.get("sha256")
    if not isinstance(stored, str):
        raise CheckpointError(f"{source} has no sha256 checksum (written by an older greedybench, or not "
                              "a greedybench checkpoint); it cannot be verified: use resume=False or "
                              "another out_dir.")
    try:
        actual = digest({k: v for k, v in ck.items() if k != "sha256"})
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    if actual != stored:
        raise CheckpointError(f"{source}: checksum mismatch (stored sha256 {stored[:12]}..., contents hash to "
                              f"{actual[:12]}...): the file was damaged or modified after it was written; "
                              "use resume=False or another out_dir.")


def _data_info(data) -> dict:
    Y, X = data
    return {"n": int(Y.shape[0]), "Y": [list(Y.shape), str(Y.dtype)], "X": [list(X.shape), str(X.dtype)]}


def _model_class(model) -> str:
    """The model's class, or its nearest greedybench base (a test's subclass of OMPNet is an OMPNet)."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("greedybench."):
            return f"{cls.__module__}.{cls.__qualname__}"
    return f"{type(model).__module__}.{type(model).__qualname__}"


def trained_for(model: torch.nn.Module, train_data, val_data) -> dict:
    """What a checkpoint of ``model`` trained on these data is for (JSON-able)."""
    state = model.state_dict()
    buffers = {k: v for k, v in model.named_buffers()}
    return {
        "model_class": _model_class(model),
        "model_repr": model.extra_repr(),
        "state": {k: [list(v.shape), str(v.dtype)] for k, v in state.items()},
        "operator_sha256": digest(buffers),
        "train_data": _data_info(train_data),
        "val_data": _data_info(val_data),
        "data_sha256": digest([list(train_data), list(val_data)]),
    }


_LABELS = {"model_class": "model class", "model_repr": "model configuration",
           "operator_sha256": "operator (the model's fixed buffers, e.g. A) sha256",
           "train_data": "training data (n, shapes, dtypes)", "val_data": "validation data (n, shapes, dtypes)",
           "data_sha256": "training/validation data sha256"}


def compare_trained_for(saved, now: dict, source: str) -> None:
    """Raise CheckpointError listing what differs between the checkpoint's and the current run's
    ``trained_for``."""
    if not isinstance(saved, str):
        raise CheckpointError(f"{source} does not record what it was trained for (no 'trained_for'; an "
                              "older greedybench?); use resume=False or another out_dir.")
    try:
        saved = json.loads(saved)
    except ValueError as exc:
        raise CheckpointError(f"{source}: malformed field 'trained_for' ({exc}).") from exc
    if not isinstance(saved, dict):
        raise CheckpointError(f"{source}: malformed field 'trained_for' (not a JSON object).")
    diffs = []
    if saved.get("state") != now["state"]:
        old, new = saved.get("state") or {}, now["state"]
        keys = sorted(set(old) | set(new))
        parts = [f"{k}: checkpoint {tuple(old[k][0]) if k in old else 'absent'} {old[k][1] if k in old else ''}"
                 f", now {tuple(new[k][0]) if k in new else 'absent'} {new[k][1] if k in new else ''}"
                 for k in keys if old.get(k) != new.get(k)]
        diffs.append("state entry shape/dtype (" + "; ".join(p.replace("  ", " ") for p in parts[:4])
                     + (" ..." if len(parts) > 4 else "") + ")")
    for k, label in _LABELS.items():
        if saved.get(k) != now[k]:
            a, b = saved.get(k), now[k]
            if isinstance(a, str) and len(a) == 64:
                a, b = a[:12] + "...", b[:12] + "..."
            diffs.append(f"{label}: checkpoint {a!r}, now {b!r}")
    if diffs:
        raise CheckpointError(f"{source} was made for a different problem or model; it differs in "
                              + "; ".join(diffs) + ". Use resume=False or another out_dir.")


def check_finite_state(state: dict, what: str, source: str) -> None:
    """Refuse NaN/Inf in a state dict's float tensors."""
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())
           and v.numel() and not bool(torch.isfinite(torch.view_as_real(v) if v.is_complex() else v).all())]
    if bad:
        raise CheckpointError(f"{source}: {what} hold NaN or Inf in {bad[:5]}{' ...' if len(bad) > 5 else ''}; "
                              "such weights cannot be resumed or applied (use resume=False).")


def _state_dict_field(ck, name, source):
    v = ck[name]
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()):
        raise CheckpointError(f"{source}: malformed field {name!r} (must be a dict of name -> tensor).")
    return v


def _int_field(ck, name, source, low=0, high: Optional[int] = None) -> int:
    v = ck[name]
    if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
        rng = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise CheckpointError(f"{source}: malformed field {name!r} (must be an integer {rng}; got {v!r}).")
    return v


def check_training_checkpoint(ck, source: str) -> dict:
    """The fields of a training checkpoint, type-checked: a malformed one is a CheckpointError
    naming the field, not an exception from deep inside ``load_state_dict``."""
    if not isinstance(ck, dict):
        raise CheckpointError(f"{source} holds a {type(ck).__name__}, not a training checkpoint.")
    verify_seal(ck, source)
    need = ("model", "best_model", "optimizer", "scheduler", "epoch", "best_val", "best_epoch", "history",
            "rng", "config", "trained_for")
    missing = [k for k in need if k not in ck]
    if missing:
        raise CheckpointError(f"{source} is not a training checkpoint of this greedybench (missing "
                              f"entr{'y' if len(missing) == 1 else 'ies'} {missing}); use resume=False or "
                              "another out_dir.")
    model = _state_dict_field(ck, "model", source)
    best = _state_dict_field(ck, "best_model", source)
    check_finite_state(model, "the model weights", source)
    check_finite_state(best, "the best weights", source)
    epoch = _int_field(ck, "epoch", source, low=1)
    _int_field(ck, "best_epoch", source, low=0, high=epoch)
    bv = ck["best_val"]
    if isinstance(bv, bool) or not isinstance(bv, (int, float)) or math.isnan(bv):
        raise CheckpointError(f"{source}: malformed field 'best_val' (must be a number; got {bv!r}).")
    opt = ck["optimizer"]
    if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)):
        raise CheckpointError(f"{source}: malformed field 'optimizer' (must be an optimizer state dict).")
    if not isinstance(ck["scheduler"], dict):
        raise CheckpointError(f"{source}: malformed field 'scheduler' (must be a scheduler state dict).")
    rng = ck["rng"]
    if not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8 and rng.dim() == 1):
        raise CheckpointError(f"{source}: malformed field 'rng' (must be a 1-d uint8 tensor).")
    hist = ck["history"]
    cols = ("epoch", "train_loss", "val_loss", "lr")
    if not (isinstance(hist, dict) and all(isinstance(hist.get(c), torch.Tensor) and hist[c].dim() == 1
                                           and hist[c].numel() == epoch for c in cols)):
        raise CheckpointError(f"{source}: malformed field 'history' (must hold 1-d tensors {list(cols)} of "
                              f"length epoch = {epoch}).")
    if not isinstance(ck["config"], str):
        raise CheckpointError(f"{source}: malformed field 'config' (must be a JSON string).")
    try:
        cfg = json.loads(ck["config"])
    except ValueError as exc:
        raise CheckpointError(f"{source}: malformed field 'config' ({exc}).") from exc
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{source}: malformed field 'config' (not a JSON object).")
    tt = ck.get("train_time_s", 0.0)
    if isinstance(tt, bool) or not isinstance(tt, (int, float)) or not math.isfinite(tt):
        raise CheckpointError(f"{source}: malformed field 'train_time_s' (must be a finite number).")
    return cfg
