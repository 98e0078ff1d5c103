"""The trained track's configuration: ``config/leaderboard_trained.yaml`` read, checked against
``workflow/schemas/leaderboard_trained.schema.yaml`` plus the checks a schema cannot express, and
the :class:`Track` that :mod:`.trained` works on (docs/leaderboard.md, "The trained track")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

from ..pipeline.config import CONFIG_DIR, REPO
from ..pipeline.generate import FAMILY_KEYS
from ..registry import discover
from .grid import LeaderboardError, read_checked_yaml

__all__ = ["TRACK_FILE", "TRACK_SCHEMA", "GROUPS", "Track", "load_track"]

TRACK_FILE = CONFIG_DIR / "leaderboard_trained.yaml"
TRACK_SCHEMA = REPO / "workflow" / "schemas" / "leaderboard_trained.schema.yaml"
#: the groups of entries, in table order; ``oracle`` entries are references (never ranked)
GROUPS = ("trained", "untrained", "oracle")


@dataclass(frozen=True)
class Track:
    """The trained track: one family, tasks (m, s) at one N, a train/val/test split per task."""

    version: int
    N: int
    family: Dict[str, Any]
    tasks: Dict[str, Dict[str, Any]]
    split: Dict[str, int]
    seed: int
    train_seed: int
    training: Dict[str, Any]
    sigma: float
    dtype: str
    device: str
    threads: int
    success: Dict[str, float]
    bootstrap: Dict[str, Any]
    entries: Dict[str, Tuple[str, ...]]
    description: str = ""
    source: str = ""
    official: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sha(self) -> str:
        """16 hex digits identifying the problems, the training and the scoring."""
        text = json.dumps(self.official, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def n_total(self) -> int:
        return sum(self.split[k] for k in ("n_train", "n_val", "n_test"))

    def group_of(self, entry: str) -> str:
        return next(g for g in GROUPS if entry in self.entries[g])

    def all_entries(self) -> List[str]:
        return [e for g in GROUPS for e in self.entries[g]]


def _need(cond: bool, source: str, key: str, msg: str) -> None:
    if not cond:
        raise LeaderboardError(f"trained track key '{key}' ({source}): {msg}")


def _check(raw: dict, src: str, solver_files: Iterable) -> None:
    """What the schema cannot say."""
    N = raw["N"]
    fam = raw["family"]
    _need(fam["shared_A"] is True, src, "family.shared_A", "must be true: a net is trained for one A")
    for name, t in raw["tasks"].items():
        _need(t["s"] <= t["m"] <= N, src, f"tasks.{name}",
              f"needs 1 <= s <= m <= N (N = {N}); got m = {t['m']}, s = {t['s']}")
        if fam["signal"] == "latent" and fam.get("K") is not None:
            _need(t["s"] <= fam["K"] <= N, src, "family.K", f"must lie in [s, N] = [{t['s']}, {N}] (task {name})")
        if fam["ensemble"] == "partial_dft":
            _need(t["m"] <= N - 1, src, f"tasks.{name}.m", "partial_dft needs m <= N - 1")
    known = discover(solver_files)
    seen: Dict[str, str] = {}
    for g in GROUPS:
        for name in raw["entries"][g]:
            _need(name not in seen, src, f"entries.{g}", f"{name!r} is already listed under {seen.get(name)!r}")
            seen[name] = g
            e = known.get(name)
            _need(e is not None, src, f"entries.{g}",
                  f"unknown solver entry {name!r}; known: {', '.join(sorted(known))}")
            if e.available:
                _need(e.trained == (g == "trained"), src, f"entries.{g}",
                      f"{name!r} {'is not' if g == 'trained' else 'is'} a trained entry "
                      f"(capabilities['trained'] = {e.trained})")


def load_track(path=None, *, solver_files: Iterable = ()) -> Track:
    """Read and check ``config/leaderboard_trained.yaml`` (or another file); errors name the key.

    ``solver_files``: drop-in entry files the ``entries`` may name (tests use a second name of OMP).
    """
    path = Path(path) if path is not None else TRACK_FILE
    raw, src = read_checked_yaml(path, TRACK_SCHEMA, "trained track")
    _check(raw, src, [Path(p).resolve() for p in solver_files])
    family = {k: raw["family"].get(k) for k in FAMILY_KEYS}
    tasks = {k: {"m": v["m"], "s": v["s"], "description": " ".join(str(v.get("description", "")).split())}
             for k, v in raw["tasks"].items()}
    entries = {g: tuple(raw["entries"][g]) for g in GROUPS}
    official = {"track_version": raw["track_version"], "N": raw["N"], "family": family,
                "tasks": {k: [v["m"], v["s"]] for k, v in tasks.items()}, "split": dict(raw["split"]),
                "seed": raw["seed"], "train_seed": raw["train_seed"], "training": dict(raw["training"]),
                "sigma": float(raw["sigma"]), "dtype": raw["dtype"], "success": dict(raw["success"]),
                "bootstrap": dict(raw["bootstrap"]), "entries": {g: list(v) for g, v in entries.items()}}
    return Track(version=raw["track_version"], N=raw["N"], family=family, tasks=tasks, split=dict(raw["split"]),
                 seed=raw["seed"], train_seed=raw["train_seed"], training=dict(raw["training"]),
                 sigma=float(raw["sigma"]), dtype=raw["dtype"], device=raw["device"], threads=raw["threads"],
                 success=dict(raw["success"]), bootstrap=dict(raw["bootstrap"]), entries=entries,
                 description=" ".join(str(raw.get("description", "")).split()), source=src, official=official)
