"""The leaderboard grid: ``config/leaderboard.yaml`` read, checked against its JSON Schema
(``workflow/schemas/leaderboard.schema.yaml``) plus the checks a schema cannot express, and the
:class:`Grid` the other modules work on."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .._validation import GreedybenchError
from ..datasets.instance import FORMAT_VERSION, GENERATOR_VERSION
from ..pipeline.config import CONFIG_DIR, REPO, cell_sizes, fill_defaults, schema_problem
from ..pipeline.generate import FAMILY_KEYS

__all__ = ["GRID_FILE", "GRID_SCHEMA", "FAMILY_KEYS", "LeaderboardError", "Grid", "load_grid", "slice_id",
           "read_checked_yaml"]

GRID_FILE = CONFIG_DIR / "leaderboard.yaml"
GRID_SCHEMA = REPO / "workflow" / "schemas" / "leaderboard.schema.yaml"


class LeaderboardError(GreedybenchError, ValueError):
    """The grid file or a stored leaderboard file is invalid or inconsistent."""


def slice_id(N: int, delta: float, seed: int) -> str:
    """Same naming as the pipeline's phase slices (``pipeline.plan.Slice.id``)."""
    return f"N{N}_delta{float(delta)!r}_seed{seed}"


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Grid:
    """The official grid (or a subset of it: same instances, fewer families or deltas)."""

    version: int
    N: int
    delta: Tuple[float, ...]
    rho: Tuple[float, ...]
    trials: int
    seed: int
    sigma: float
    dtype: str
    device: str
    threads: int
    success: Dict[str, float]
    families: Dict[str, Dict[str, Any]]
    #: paired bootstrap of the scores: n_boot, level, seed (intervals and shared ranks)
    bootstrap: Dict[str, Any] = field(default_factory=lambda: {"n_boot": 1000, "level": 0.95, "seed": 0})
    not_ranked: Dict[str, str] = field(default_factory=dict)
    trained_reason: str = "trained solver: not ranked on this grid"
    quick: Dict[str, list] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    #: full-grid description used for the sha (a subset keeps the official sha)
    official: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sha(self) -> str:
        """16 hex digits identifying the official grid's instances and scoring."""
        return _sha(self.official)

    @property
    def is_full(self) -> bool:
        return (list(self.families) == list(self.official["families"])
                and list(self.delta) == list(self.official["delta"]))

    def cells(self, delta: float) -> List[Tuple[float, int, int]]:
        """(rho, m, s) of one delta; a rho giving an s already taken is merged into that cell."""
        out, seen = [], set()
        for rho in self.rho:
            m, s = cell_sizes(self.N, delta, rho)
            if s in seen:
                continue
            seen.add(s)
            out.append((float(rho), m, s))
        return out

    def family_kwargs(self, family: str) -> Dict[str, Any]:
        return {k: self.families[family][k] for k in FAMILY_KEYS}

    def instance_key(self, family: str) -> str:
        """What the instances of a family depend on (not the deltas: one slice each)."""
        return _sha({"family": self.family_kwargs(family), "N": self.N, "rho": list(self.rho),
                     "trials": self.trials, "seed": self.seed, "sigma": self.sigma, "dtype": self.dtype,
                     "generator": f"{GENERATOR_VERSION}.{FORMAT_VERSION}"})

    def subset(self, families: Optional[Sequence[str]] = None, *, quick: bool = False,
               deltas: Optional[Sequence[float]] = None) -> "Grid":
        """The same instances restricted to some families / deltas (``quick``: the grid's quick set)."""
        fams = list(self.families)
        dl = list(self.delta)
        if quick:
            fams = list(self.quick.get("families", fams))
            dl = [float(d) for d in self.quick.get("delta", dl)]
        if families:
            unknown = [f for f in families if f not in self.families]
            if unknown:
                raise LeaderboardError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} "
                                       f"{', '.join(map(repr, unknown))}; the grid ({self.source}) has "
                                       f"{', '.join(self.families)}")
            fams = [f for f in self.families if f in families]
        if deltas is not None:
            dl = [float(d) for d in deltas]
        bad = [d for d in dl if d not in self.delta]
        if bad:
            raise LeaderboardError(f"delta {bad} is not on the grid ({list(self.delta)})")
        if len(dl) < 2:
            raise LeaderboardError("a grid subset needs at least two deltas (the score is an area over delta)")
        return replace(self, families={f: self.families[f] for f in fams},
                       delta=tuple(d for d in self.delta if d in dl))

    def to_dict(self) -> Dict[str, Any]:
        return {"grid_version": self.version, "grid_sha": self.sha, "N": self.N, "delta": list(self.delta),
                "rho": list(self.rho), "trials": self.trials, "seed": self.seed, "sigma": self.sigma,
                "dtype": self.dtype, "device": self.device, "threads": self.threads,
                "success": dict(self.success), "bootstrap": dict(self.bootstrap),
                "families": copy.deepcopy(self.families)}


def _need(cond: bool, source: str, key: str, msg: str):
    if not cond:
        raise LeaderboardError(f"leaderboard grid key '{key}' ({source}): {msg}")


def read_checked_yaml(path: Path, schema_path: Path, what: str) -> Tuple[dict, str]:
    """``(raw, source)`` of a leaderboard YAML file checked against its JSON Schema, with the
    schema's defaults filled in; a file that cannot be read or breaks the schema raises
    :class:`LeaderboardError` naming the file and the key."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LeaderboardError(f"cannot read the {what} {path}: {exc}") from exc
    src = str(path)
    schema = yaml.safe_load(Path(schema_path).read_text())
    problem = schema_problem(raw, schema, source=src, what=what)
    if problem:
        raise LeaderboardError(problem)
    raw = copy.deepcopy(raw)
    fill_defaults(raw, schema)
    return raw, src


def _check_cells(raw: dict, src: str) -> None:
    """What the schema cannot say: increasing axes, every cell's s in [1, m], partial_dft sizes."""
    N = raw["N"]
    for k in ("delta", "rho"):
        _need(list(raw[k]) == sorted(raw[k]), src, k, "values must be increasing and distinct")
    dft = [name for name, f in raw["families"].items() if f["ensemble"] == "partial_dft"]
    if dft:
        _need(N % 2 == 0, src, "N", f"family {dft[0]!r} (partial_dft) needs an even N")
    for delta in raw["delta"]:
        m, _ = cell_sizes(N, delta, 0)
        _need(1 <= m <= N, src, "delta", f"delta = {delta} gives m = {m} (N = {N})")
        ss = {cell_sizes(N, delta, rho)[1] for rho in raw["rho"]}
        _need(min(ss) >= 1 and max(ss) <= m, src, "rho",
              f"at delta = {delta} (m = {m}) s must lie in [1, m]; got {sorted(ss)}")
        _need(len(ss) >= 2, src, "rho", f"at delta = {delta} every rho gives the same s: no transition to fit")
        if dft:
            _need(m <= N - 1, src, "delta", f"partial_dft needs m <= N - 1; delta = {delta} gives m = {m}")


def load_grid(path=None) -> Grid:
    """Read and check ``config/leaderboard.yaml`` (or another grid file); errors name the key."""
    path = Path(path) if path is not None else GRID_FILE
    raw, src = read_checked_yaml(path, GRID_SCHEMA, "leaderboard grid")
    _check_cells(raw, src)
    families = {}
    for name, fam in raw["families"].items():
        families[name] = {k: fam[k] for k in FAMILY_KEYS}
        families[name]["description"] = " ".join(str(fam.get("description", "")).split())
    official = {"grid_version": raw["grid_version"], "N": raw["N"], "delta": [float(d) for d in raw["delta"]],
                "rho": [float(r) for r in raw["rho"]], "trials": raw["trials"], "seed": raw["seed"],
                "sigma": float(raw["sigma"]), "dtype": raw["dtype"], "success": dict(raw["success"]),
                "bootstrap": dict(raw["bootstrap"]),
                "families": {k: {kk: v[kk] for kk in FAMILY_KEYS} for k, v in families.items()}}
    grid = Grid(version=raw["grid_version"], N=raw["N"], delta=tuple(official["delta"]),
                rho=tuple(official["rho"]), trials=raw["trials"], seed=raw["seed"], sigma=official["sigma"],
                dtype=raw["dtype"], device=raw["device"], threads=raw["threads"], success=official["success"],
                families=families, bootstrap=official["bootstrap"],
                not_ranked={str(k): " ".join(str(v).split()) for k, v in raw["not_ranked"].items()},
                trained_reason=" ".join(str(raw.get("trained_reason", Grid.trained_reason)).split()),
                quick=raw["quick"], description=" ".join(str(raw.get("description", "")).split()),
                source=src, official=official)
    if grid.quick:
        try:
            grid.subset(quick=True)
        except LeaderboardError as exc:
            raise LeaderboardError(f"leaderboard grid key 'quick' ({src}): {exc}") from exc
    return grid
