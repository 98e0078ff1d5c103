"""The leaderboard: every solver entry on one fixed, versioned grid, with one score.

See docs/leaderboard.md for the user-facing description. In short:

* The official grid is ``config/leaderboard.yaml`` (``grid_version``): problem families x
  ``delta`` x ``rho`` at one ``N``, ``trials`` problems per cell, one seed. Instances are made by
  :func:`greedybench.pipeline.generate.generate_phase_slice` (the pipeline's generator), so they
  are the same wherever they are made; their checksums are stored with the results.
* Every untrained solver variant runs on every cell; per (solver, family) the score is the area
  under the 50 % transition curve rho*(delta) of the logistic fits
  (:func:`greedybench.analysis.fit_logistic`), see :func:`family_score` for the exact rule for
  degenerate columns. The overall rank is by the mean over families, then the median time per
  successful problem, then the name.
* Failures never disappear: an exception, a wrong shape or NaN output in a batch makes that
  batch count as failed problems and is shown in ``status``/``status_detail``; an entry that
  does not load is listed as ``unavailable``; a family a solver cannot run (complex data for a
  real-only solver) scores 0 and is listed; trained and oracle entries are ``not_ranked``.

Files (all writes atomic):

* ``results/leaderboard/instances/{family}/``   one instance slice per delta (pipeline format)
* ``results/leaderboard/cells/{variant}.csv``    one row per (family, delta, rho) cell
* ``results/leaderboard_rows.csv.gz``            all cells plus status rows (committed, small)
* ``results/leaderboard.csv``                    the table (committed); a pure function of the rows

The Snakemake rules (``workflow/rules/leaderboard.smk``) call this module's command line
(``python -m greedybench.leaderboard instances|solve|aggregate``), one function call each.
``greedybench compare`` (:func:`compare`) runs a drop-in file on the same instances and ranks it
against the stored rows without writing anything outside its output directory.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ._validation import GreedybenchError
from .analysis.score import area_under_transition
from .pipeline.config import CONFIG_DIR, REPO, cell_sizes

__all__ = [
    "GRID_FILE", "STORED_CSV", "STORED_ROWS", "CELL_COLUMNS", "LeaderboardError", "CompareError",
    "Grid", "load_grid", "plan_entries", "generate_family", "instances_valid", "run_family",
    "family_score", "compute_leaderboard", "leaderboard_columns", "write_leaderboard",
    "read_rows", "write_rows", "leaderboard_stage", "solve_stage", "compare", "slice_id",
]

GRID_FILE = CONFIG_DIR / "leaderboard.yaml"
STORED_CSV = REPO / "results" / "leaderboard.csv"
STORED_ROWS = REPO / "results" / "leaderboard_rows.csv.gz"
STORED_INSTANCES = REPO / "results" / "leaderboard" / "instances"

#: one row per (solver, family, delta, rho) cell; status rows (not run) leave the cell keys empty
CELL_COLUMNS = (
    "grid_version", "grid_sha", "solver", "entry", "solver_version", "params", "family", "ensemble",
    "signal", "amplitude", "N", "delta", "rho", "m", "s", "seed", "n_trials", "n_success",
    "n_exact_support", "status", "reason", "time_per_problem_s", "instance_sha256", "device",
    "dtype", "threads", "machine", "torch_version", "numpy_version", "greedybench_version",
    "git_commit",
)
#: cell statuses: ok / error (the batch raised or broke the contract: all its problems failed),
#: not_applicable (family the entry cannot run), unavailable (entry does not load), not_ranked
CELL_STATUSES = ("ok", "error", "not_applicable", "unavailable", "not_ranked")
#: columns of results/leaderboard.csv around the auc_<family> columns
HEAD_COLUMNS = ("rank", "solver", "entry")
TAIL_COLUMNS = ("auc_mean", "median_time_success_s", "success_rate", "n_problems", "status",
                "status_detail", "solver_version", "grid_version", "grid_sha", "device", "dtype",
                "threads", "machine", "torch_version", "greedybench_version", "git_commit")
#: columns that depend on the machine's speed only (CI compares everything else exactly)
TIMING_COLUMNS = ("median_time_success_s",)
PROVENANCE_KEYS = ("device", "dtype", "threads", "machine", "torch_version", "numpy_version",
                   "greedybench_version", "git_commit")
RANKED_STATUSES = ("ok", "partial", "errors")
_STATUS_ORDER = {"ok": 0, "partial": 1, "errors": 2, "failed": 3, "not_ranked": 4, "unavailable": 5}
_COMPLEX_ENSEMBLES = ("partial_dft",)
_FAMILY_KEYS = ("ensemble", "signal", "amplitude", "normalize", "shared_A", "K", "block")
_FAMILY_DEFAULTS = {"normalize": False, "shared_A": False, "K": None, "block": None}
AUC_DECIMALS = 4


class LeaderboardError(GreedybenchError, ValueError):
    """The grid file or a stored leaderboard file is invalid or inconsistent."""


class CompareError(GreedybenchError, RuntimeError):
    """``greedybench compare`` cannot rank the file; the message is one paragraph naming it."""


# ------------------------------------------------------------------------------------------------
# the grid


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
        return {k: self.families[family][k] for k in _FAMILY_KEYS}

    def instance_key(self, family: str) -> str:
        """What the instances of a family depend on (not the deltas: one slice each)."""
        from greedybench.datasets.instance import FORMAT_VERSION, GENERATOR_VERSION

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
                "success": dict(self.success), "families": copy.deepcopy(self.families)}


def _need(cond: bool, source: str, key: str, msg: str):
    if not cond:
        raise LeaderboardError(f"leaderboard grid {source}: key '{key}': {msg}")


def load_grid(path=None) -> Grid:
    """Read and check ``config/leaderboard.yaml`` (or another grid file)."""
    import yaml

    from greedybench.datasets import AMPLITUDES, ENSEMBLES, SIGNALS

    path = Path(path) if path is not None else GRID_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LeaderboardError(f"cannot read the leaderboard grid {path}: {exc}") from exc
    src = str(path)
    _need(isinstance(raw, dict), src, "<top level>", "must be a mapping")
    known = {"grid_version", "description", "N", "delta", "rho", "trials", "seed", "sigma", "dtype",
             "device", "threads", "success", "families", "not_ranked", "trained_reason", "quick"}
    extra = sorted(set(raw) - known)
    _need(not extra, src, extra[0] if extra else "", f"unknown key (allowed: {', '.join(sorted(known))})")
    for k in ("grid_version", "N", "delta", "rho", "trials", "seed", "families"):
        _need(k in raw, src, k, "required")
    _need(isinstance(raw["grid_version"], int) and raw["grid_version"] >= 1, src, "grid_version", "a positive integer")
    N = raw["N"]
    _need(isinstance(N, int) and N >= 2, src, "N", "an integer >= 2")
    for k in ("delta", "rho"):
        v = raw[k]
        _need(isinstance(v, list) and len(v) >= 2 and all(isinstance(x, (int, float)) and 0 < x <= 1 for x in v),
              src, k, "a list of at least two numbers in (0, 1]")
        _need(len(set(v)) == len(v) and list(v) == sorted(v), src, k, "values must be increasing and distinct")
    _need(isinstance(raw["trials"], int) and raw["trials"] >= 1, src, "trials", "a positive integer")
    _need(isinstance(raw["seed"], int) and raw["seed"] >= 0, src, "seed", "an integer >= 0")
    dtype = raw.get("dtype", "float64")
    _need(dtype in ("float32", "float64"), src, "dtype", "float32 or float64")
    device = raw.get("device", "cpu")
    _need(device in ("cpu", "cuda"), src, "device", "cpu or cuda")
    threads = raw.get("threads", 1)
    _need(isinstance(threads, int) and threads >= 1, src, "threads", "a positive integer")
    success = {"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6}
    success.update(raw.get("success") or {})
    _need(set(success) == {"threshold", "linf_threshold", "support_tol"}, src, "success",
          "keys threshold, linf_threshold, support_tol")
    fams = raw["families"]
    _need(isinstance(fams, dict) and fams, src, "families", "a non-empty mapping")
    families = {}
    for name, fam in fams.items():
        key = f"families.{name}"
        _need(isinstance(name, str) and name.isidentifier() and name == name.lower(), src, key,
              "family names are lower-case identifiers (they become auc_<family> columns)")
        _need(isinstance(fam, dict), src, key, "a mapping")
        bad = sorted(set(fam) - set(_FAMILY_KEYS) - {"description"})
        _need(not bad, src, f"{key}.{bad[0] if bad else ''}", "unknown key")
        f = dict(_FAMILY_DEFAULTS)
        f.update({k: v for k, v in fam.items() if k != "description"})
        _need(f.get("ensemble") in ENSEMBLES, src, f"{key}.ensemble", f"one of {', '.join(ENSEMBLES)}")
        _need(f.get("signal") in SIGNALS, src, f"{key}.signal", f"one of {', '.join(SIGNALS)}")
        _need(f.get("amplitude") in AMPLITUDES, src, f"{key}.amplitude", f"one of {', '.join(AMPLITUDES)}")
        if f["ensemble"] == "partial_dft":
            _need(N % 2 == 0, src, "N", f"family {name!r} (partial_dft) needs an even N")
        families[name] = {k: f[k] for k in _FAMILY_KEYS}
        families[name]["description"] = str(fam.get("description", "")).strip()
    for delta in raw["delta"]:
        m, _ = cell_sizes(N, delta, 0)
        _need(1 <= m <= N, src, "delta", f"delta = {delta} gives m = {m} (N = {N})")
        ss = {cell_sizes(N, delta, rho)[1] for rho in raw["rho"]}
        _need(min(ss) >= 1 and max(ss) <= m, src, "rho",
              f"at delta = {delta} (m = {m}) s must lie in [1, m]; got {sorted(ss)}")
        _need(len(ss) >= 2, src, "rho", f"at delta = {delta} every rho gives the same s: no transition to fit")
        if any(f["ensemble"] == "partial_dft" for f in families.values()):
            _need(m <= N - 1, src, "delta", f"partial_dft needs m <= N - 1; delta = {delta} gives m = {m}")
    not_ranked = raw.get("not_ranked") or {}
    _need(isinstance(not_ranked, dict), src, "not_ranked", "a mapping entry name -> reason")
    quick = raw.get("quick") or {}
    _need(isinstance(quick, dict) and set(quick) <= {"families", "delta"}, src, "quick", "keys families, delta")
    official = {"grid_version": raw["grid_version"], "N": N, "delta": [float(d) for d in raw["delta"]],
                "rho": [float(r) for r in raw["rho"]], "trials": raw["trials"], "seed": raw["seed"],
                "sigma": float(raw.get("sigma", 0.0)), "dtype": dtype, "success": success,
                "families": {k: {kk: v[kk] for kk in _FAMILY_KEYS} for k, v in families.items()}}
    grid = Grid(version=raw["grid_version"], N=N, delta=tuple(official["delta"]), rho=tuple(official["rho"]),
                trials=raw["trials"], seed=raw["seed"], sigma=official["sigma"], dtype=dtype, device=device,
                threads=threads, success=success, families=families,
                not_ranked={str(k): " ".join(str(v).split()) for k, v in not_ranked.items()},
                trained_reason=" ".join(str(raw.get("trained_reason", Grid.trained_reason)).split()),
                quick=quick, description=" ".join(str(raw.get("description", "")).split()), source=src,
                official=official)
    if quick:
        grid.subset(quick=True)  # checks the quick families/deltas exist
    return grid


# ------------------------------------------------------------------------------------------------
# which entries run


def _safe_version(entry) -> str:
    try:
        return entry.version
    except Exception:  # noqa: BLE001 -- e.g. a file with a syntax error cannot be parsed for imports
        try:
            return hashlib.sha256(b"entry\0" + Path(entry.path).read_bytes()).hexdigest()[:16]
        except OSError:
            return ""


def not_applicable_reason(entry, family: Dict[str, Any]) -> Optional[str]:
    """Why an entry cannot run a family (None if it can)."""
    if family["ensemble"] in _COMPLEX_ENSEMBLES and not entry.capabilities.get("complex", False):
        return (f"real-only solver (capabilities['complex'] is False) on the complex ensemble "
                f"{family['ensemble']!r}: scored 0")
    return None


def plan_entries(grid: Grid, entries: Dict[str, Any], *, versions: bool = True):
    """Split registry entries into variants to run and status rows for the others.

    Returns ``(variants, status_rows)``: ``variants`` maps a path-safe slug to the Variant;
    ``status_rows`` are cell rows (``CELL_COLUMNS``) with status ``unavailable`` or ``not_ranked``
    (``versions=False`` leaves their ``solver_version`` empty: hashing costs time).
    """
    from .pipeline.plan import variant_slug

    variants, status = {}, []
    for key, e in sorted(entries.items()):
        base = {"grid_version": grid.version, "grid_sha": grid.sha, "solver": e.name, "entry": e.name,
                "solver_version": _safe_version(e) if versions else "", "params": "", "n_trials": 0,
                "n_success": 0}
        if not e.available:
            status.append(dict(base, solver=key, status="unavailable", reason=e.reason))
            continue
        try:
            vs = e.variants()
        except GreedybenchError as exc:
            status.append(dict(base, status="unavailable", reason=str(exc)))
            continue
        why = grid.not_ranked.get(e.name) or (grid.trained_reason if e.trained else None)
        if why:
            for v in vs:
                status.append(dict(base, solver=v.name, params=v.params_json, status="not_ranked", reason=why))
            continue
        for v in vs:
            variants[variant_slug(v.name)] = v
    return variants, status


# ------------------------------------------------------------------------------------------------
# instances


def generate_family(out_dir, grid: Grid, family: str, *, deltas: Optional[Sequence[float]] = None) -> Path:
    """The slices (one per delta; default every delta of the official grid) of one family, built
    atomically with the pipeline's :func:`~greedybench.pipeline.generate.generate_phase_slice`."""
    from .pipeline.generate import generate_phase_slice
    from .storage import atomic_dir, write_json

    out_dir = Path(out_dir)
    full = [float(d) for d in (deltas if deltas is not None else grid.official["delta"])]
    with atomic_dir(out_dir) as tmp:
        for delta in full:
            generate_phase_slice(tmp / slice_id(grid.N, delta, grid.seed), family_name=family,
                                 family=grid.family_kwargs(family), N=grid.N, delta=float(delta),
                                 seed=grid.seed, cells=grid.cells(delta), trials=grid.trials,
                                 sigma=grid.sigma, dtype=grid.dtype)
        write_json(tmp / "grid.json", {"family": family, "instance_key": grid.instance_key(family),
                                       "grid_version": grid.version, "delta": list(full)})
    return out_dir


def instances_valid(family_dir, grid: Grid, family: str) -> bool:
    """True if ``family_dir`` holds this grid's instances of ``family`` (every delta of ``grid``)."""
    family_dir = Path(family_dir)
    try:
        meta = json.loads((family_dir / "grid.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("instance_key") != grid.instance_key(family):
        return False
    return all((family_dir / slice_id(grid.N, d, grid.seed) / "manifest.json").is_file() for d in grid.delta)


# ------------------------------------------------------------------------------------------------
# running one variant


def _machine() -> str:
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import platform

    name = " ".join((name or platform.processor() or platform.machine() or "unknown cpu").split())
    return f"{name} x{os.cpu_count()}"


def _provenance(device: str, dtype: str) -> Dict[str, Any]:
    from .storage import provenance

    p = provenance(device, dtype)
    return {"device": device, "dtype": dtype, "threads": p["threads"], "machine": _machine(),
            "torch_version": p["torch_version"], "numpy_version": p["numpy_version"],
            "greedybench_version": p["greedybench_version"], "git_commit": p["git_commit"]}


def run_family(variant, grid: Grid, family: str, family_dir, *, device: Optional[str] = None,
               fail_fast: bool = False, per_problem: bool = False,
               progress: Optional[Callable[[str], None]] = None):
    """Run one variant on every cell of one family (``grid``'s deltas).

    Returns ``(cells, problems)``: one row per cell (``CELL_COLUMNS``) and, with ``per_problem``,
    one row per problem (``pipeline.tables.RESULT_COLUMNS``). A batch that raises or breaks the
    contract becomes a cell with status ``error`` (all its problems failed) unless ``fail_fast``,
    which re-raises the :class:`~greedybench.registry.SolverContractError`. The hidden set ``T``
    of the latent model is withheld (``problem.meta["T"] is None``).
    """
    from greedybench.analysis.metrics import recovery_metrics
    from greedybench.datasets import load_instance

    from .pipeline.generate import read_manifest
    from .pipeline.timing import time_call
    from .registry import ProblemBatch, SolverContractError, run_solver_ex

    device = device or grid.device
    fam = grid.families[family]
    prov = _provenance(device, grid.dtype)
    base = {"grid_version": grid.version, "grid_sha": grid.sha, "solver": variant.name,
            "entry": variant.entry.name, "solver_version": variant.version, "params": variant.params_json,
            "family": family, "ensemble": fam["ensemble"], "signal": fam["signal"],
            "amplitude": fam["amplitude"], **prov}
    reason = not_applicable_reason(variant.entry, fam)
    if reason:
        return [dict(base, status="not_applicable", reason=reason, n_trials=0, n_success=0)], []
    cells, problems = [], []
    warm = False
    for delta in grid.delta:
        sdir = Path(family_dir) / slice_id(grid.N, delta, grid.seed)
        for item in read_manifest(sdir)["instances"]:
            path = sdir / item["file"]
            inst = load_instance(path, device=device)
            problem = ProblemBatch.from_instance(inst, family=family, instance=path.name)
            problem.meta["T"] = None  # the hidden set is never given to a solver on the grid
            cell = dict(base, N=inst.N, delta=float(delta), rho=inst.s / inst.m, m=inst.m, s=inst.s,
                        seed=int(inst.meta["seed"]), n_trials=inst.B,
                        instance_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
            if progress:
                progress(f"{variant.name} {family} delta={delta:g} s={inst.s}")
            try:
                if not warm:  # one untimed call: lazy initialisation is not billed to the first cell
                    warm = True
                    try:
                        run_solver_ex(variant, problem)
                    except SolverContractError:
                        pass  # the timed call below reports it
                t = time_call(lambda: run_solver_ex(variant, problem), device=device, repeats=1)
                x, n_iter = t.result
                try:
                    met = recovery_metrics(x, inst.X, inst.A, inst.Y, threshold=grid.success["threshold"],
                                           linf_threshold=grid.success["linf_threshold"],
                                           support_tol=grid.success["support_tol"])
                except Exception as exc:  # noqa: BLE001 -- e.g. a complex or wrongly typed x
                    raise SolverContractError(
                        f"solver {variant.name} ({variant.entry.path}) on {problem.describe()}: its output "
                        f"(dtype {x.dtype}, device {x.device}) cannot be scored: {type(exc).__name__}: {exc}"
                    ) from exc
            except SolverContractError as exc:
                if fail_fast:
                    raise
                cells.append(dict(cell, status="error", reason=" ".join(str(exc).split()), n_success=0,
                                  n_exact_support=0))
                continue
            tpp = t.median / max(inst.B, 1)
            cells.append(dict(cell, status="ok", reason="", n_success=int(met["success"].sum()),
                              n_exact_support=int(met["exact_support"].sum()), time_per_problem_s=tpp))
            if per_problem:
                from .storage import provenance

                pv = provenance(device, grid.dtype)
                for b in range(inst.B):
                    row = {"experiment": "leaderboard", "solver": variant.name, "entry": variant.entry.name,
                           "solver_version": variant.version, "params": variant.params_json, "family": family,
                           "ensemble": fam["ensemble"], "signal": fam["signal"], "amplitude": fam["amplitude"],
                           "m": inst.m, "N": inst.N, "s": inst.s, "delta": inst.m / inst.N,
                           "rho": inst.s / inst.m, "sigma": float(inst.meta.get("sigma", 0.0)),
                           "seed": int(inst.meta["seed"]), "problem": b,
                           "n_iter": None if n_iter is None else int(n_iter[b]),
                           "time_per_problem_s": tpp, "batch_size": inst.B, **pv}
                    row.update({k: v[b] for k, v in met.items()})
                    problems.append(row)
    return cells, problems


def solve_stage(out_csv, *, grid_path, entry: str, params_json: str, version: str, instances_root,
                solver_files: Sequence[str] = (), device: Optional[str] = None) -> int:
    """Pipeline stage: one variant on every family of the grid -> its cells CSV."""
    from .storage import set_threads, write_csv
    from .pipeline.plan import load_variant

    grid = load_grid(grid_path)
    set_threads(grid.threads)
    variant = load_variant(entry, params_json, solver_files, version)
    rows = []
    for family in grid.families:
        cells, _ = run_family(variant, grid, family, Path(instances_root) / family, device=device)
        rows += cells
    write_csv(out_csv, CELL_COLUMNS, rows)
    bad = [r for r in rows if r["status"] == "error"]
    print(f"{variant.name}: {len(rows)} cells, {len(bad)} failed batches")
    for r in bad[:5]:
        print(f"  failed: {r['reason']}")
    return len(rows)


# ------------------------------------------------------------------------------------------------
# rows files


def _num(v) -> float:
    if v is None or v == "":
        return float("nan")
    return float(v)


def _row_key(r):
    def n(k):
        v = r.get(k, "")
        return (0, float(v), "") if v not in ("", None) else (1, 0.0, "")
    return (str(r.get("solver", "")), str(r.get("family", "")), n("delta"), n("rho"), n("s"))


def write_rows(path, rows: Iterable[Dict[str, Any]]) -> None:
    """All cells, sorted, as CSV; ``.gz`` is gzip with a zero mtime (same rows, same bytes)."""
    from .storage import atomic_write_bytes, fmt

    import csv

    rows = sorted(({k: fmt(r.get(k)) for k in CELL_COLUMNS} for r in rows), key=_row_key)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CELL_COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in CELL_COLUMNS])
    data = buf.getvalue().encode()
    if str(path).endswith(".gz"):
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(data)
        data = out.getvalue()
    atomic_write_bytes(path, data)


def read_rows(path) -> List[Dict[str, str]]:
    """Rows of a cells file (plain or ``.gz``)."""
    import csv

    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    if rows and set(rows[0]) != set(CELL_COLUMNS):
        raise LeaderboardError(f"{path}: columns differ from greedybench.leaderboard.CELL_COLUMNS; "
                               "it was written by another version: regenerate it")
    return rows


# ------------------------------------------------------------------------------------------------
# scoring


def family_score(cells: Sequence[Dict[str, Any]],
                 deltas: Sequence[float]) -> Tuple[float, List[Tuple[float, float, str]]]:
    """Area under rho*(delta) of one solver on one family.

    For each delta of ``deltas``: the logistic fit of the cells' success counts against the
    realised rho = s/m (a failed batch counts as ``n_trials`` failures) gives v(delta):

    * fitted (``ok``, ``extrapolated``, ``separated``): rho* clipped to [0, largest rho tried];
    * ``all_success``: the largest rho tried (the transition lies at or above the grid);
    * ``all_failure``, no usable fit, or no cell at that delta: 0.

    The score is the trapezoid rule of v over the sorted deltas (the area, not divided by the
    delta range). Returns ``(area, [(delta, v, flag), ...])``.
    """
    by = {}
    for c in cells:
        d = round(float(c["delta"]), 9)
        by.setdefault(d, []).append(c)
    columns = []
    for d in sorted(float(x) for x in deltas):
        col = [c for c in by.get(round(d, 9), []) if int(float(c["n_trials"] or 0)) > 0]
        columns.append((d, [float(c["s"]) / float(c["m"]) for c in col],
                        [int(float(c["n_success"] or 0)) for c in col],
                        [int(float(c["n_trials"])) for c in col]))
    return area_under_transition(columns)


def _weighted_median(pairs: Sequence[Tuple[float, int]]) -> float:
    """Median of the multiset where value t appears w times (NaN when empty)."""
    vals = sorted((t, w) for t, w in pairs if w > 0 and math.isfinite(t))
    total = sum(w for _, w in vals)
    if total == 0:
        return float("nan")

    def at(i):  # i-th (0-based) element of the expanded multiset
        acc = 0
        for t, w in vals:
            acc += w
            if i < acc:
                return t
        return vals[-1][0]

    if total % 2:
        return at(total // 2)
    return 0.5 * (at(total // 2 - 1) + at(total // 2))


def leaderboard_columns(families: Sequence[str]) -> List[str]:
    return list(HEAD_COLUMNS) + [f"auc_{f}" for f in families] + list(TAIL_COLUMNS)


def _f4(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{AUC_DECIMALS}f}"


def _fsci(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3e}"


def compute_leaderboard(rows: Sequence[Dict[str, Any]], grid: Grid) -> List[Dict[str, str]]:
    """The leaderboard table (rows of strings, in rank order) of the cell rows, on ``grid``'s
    families and deltas (a subset scores the same cells restricted the same way).

    Per solver: ``auc_<family>`` (:func:`family_score`; a family the solver cannot run, or with no
    cells, counts 0), ``auc_mean`` (mean over the grid's families), ``median_time_success_s``
    (median over successful problems of the batch time / batch size), ``success_rate`` (over all
    problems run), ``status``: ``ok``; ``partial`` (a family not applicable or missing, scored 0);
    ``errors`` (some batches raised or broke the contract: counted as failed problems); ``failed``
    (every batch failed: not ranked); ``unavailable`` (the entry does not load) and ``not_ranked``
    (trained and oracle entries), with the reasons in ``status_detail``.

    Rank: ranked statuses (ok, partial, errors) by ``auc_mean`` rounded to 4 decimals, descending;
    ties by ``median_time_success_s`` (3 significant digits, ascending, none = last); then by
    solver name. Unranked rows follow (by status, then name) with an empty rank.
    """
    fams = list(grid.families)
    deltas = [float(d) for d in grid.delta]
    dkeys = {round(d, 9) for d in deltas}
    by_solver: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        by_solver.setdefault(str(r["solver"]), []).append(r)
    out = []
    for solver, rs in sorted(by_solver.items()):
        first = rs[0]
        rec = {"solver": solver, "entry": first.get("entry", ""), "solver_version": first.get("solver_version", ""),
               "grid_version": str(first.get("grid_version", grid.version)),
               "grid_sha": str(first.get("grid_sha", grid.sha))}
        prov_row = next((r for r in rs if r.get("status") in ("ok", "error")), first)
        for k in PROVENANCE_KEYS:
            rec[k] = str(prov_row.get(k, "") if prov_row.get(k) is not None else "")
        special = [r for r in rs if r.get("status") in ("unavailable", "not_ranked")]
        if special:
            rec.update(status=special[0]["status"], status_detail=" ".join(str(special[0].get("reason", "")).split()))
            for f in fams:
                rec[f"auc_{f}"] = ""
            rec.update(auc_mean="", median_time_success_s="", success_rate="", n_problems="0", _sort=None)
            out.append(rec)
            continue
        notes, aucs, times = [], [], []
        n_total = n_succ = n_err_cells = n_cells = 0
        first_err = ""
        for f in fams:
            fr = [r for r in rs if r.get("family") == f]
            na = [r for r in fr if r.get("status") == "not_applicable"]
            cells = [r for r in fr if r.get("status") in ("ok", "error") and round(float(r["delta"]), 9) in dkeys]
            if na:
                aucs.append(0.0)
                notes.append(f"{f}: not applicable ({' '.join(str(na[0].get('reason', '')).split())})")
                continue
            if not cells:
                aucs.append(0.0)
                notes.append(f"{f}: no results (scored 0)")
                continue
            area, _ = family_score(cells, deltas)
            aucs.append(area)
            for c in cells:
                n_cells += 1
                n = int(float(c["n_trials"]))
                k = int(float(c["n_success"] or 0))
                n_total += n
                n_succ += k
                if c["status"] == "error":
                    n_err_cells += 1
                    first_err = first_err or f"{f} delta={float(c['delta']):g} s={c['s']}: {c.get('reason', '')}"
                else:
                    times.append((_num(c.get("time_per_problem_s")), k))
        mean = sum(aucs) / len(aucs) if aucs else 0.0
        if n_cells and n_err_cells == n_cells:
            status = "failed"
        elif n_err_cells:
            status = "errors"
        elif notes:
            status = "partial"
        else:
            status = "ok"
        if n_err_cells:
            notes.insert(0, f"{n_err_cells} of {n_cells} batches failed and count as failed problems; "
                            f"first: {' '.join(first_err.split())}")
        for f, a in zip(fams, aucs):
            rec[f"auc_{f}"] = _f4(a)
        tmed = _weighted_median(times)
        rec.update(auc_mean=_f4(mean), median_time_success_s=_fsci(tmed),
                   success_rate=_f4(n_succ / n_total) if n_total else "", n_problems=str(n_total),
                   status=status, status_detail="; ".join(notes))
        tkey = float(_fsci(tmed)) if math.isfinite(tmed) else math.inf
        rec["_sort"] = (-float(rec["auc_mean"]), tkey, solver) if status in RANKED_STATUSES else None
        out.append(rec)
    ranked = sorted((r for r in out if r["_sort"] is not None), key=lambda r: r["_sort"])
    rest = sorted((r for r in out if r["_sort"] is None),
                  key=lambda r: (_STATUS_ORDER.get(r["status"], 9), r["solver"]))
    for i, r in enumerate(ranked, 1):
        r["rank"] = str(i)
    for r in rest:
        r["rank"] = ""
    cols = leaderboard_columns(fams)
    return [{c: r.get(c, "") for c in cols} for r in ranked + rest]


def leaderboard_csv_text(table: Sequence[Dict[str, str]], families: Sequence[str]) -> str:
    import csv

    cols = leaderboard_columns(families)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in table:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


def write_leaderboard(path, table: Sequence[Dict[str, str]], families: Sequence[str]) -> None:
    from .storage import atomic_write_text

    atomic_write_text(path, leaderboard_csv_text(table, families))


def leaderboard_stage(out_csv, out_rows, *, cell_files: Sequence, grid_path, status_rows: Sequence[Dict]) -> int:
    """Pipeline stage: merge the cells of every variant and the status rows; write the rows file
    and the leaderboard (both atomically). Returns the number of solvers in the table."""
    grid = load_grid(grid_path)
    rows = []
    for p in cell_files:
        part = read_rows(p)
        for r in part:
            if r["grid_sha"] != grid.sha:
                raise LeaderboardError(f"{p}: made on grid {r['grid_sha']}, the grid is now {grid.sha}: rerun it")
        rows += part
    prov = _provenance(grid.device, grid.dtype)
    for r in status_rows:
        rows.append({**prov, **r})
    write_rows(out_rows, rows)
    # the table is computed from the rows exactly as written (strings), as the CI check does
    table = compute_leaderboard(read_rows(out_rows), grid)
    write_leaderboard(out_csv, table, list(grid.families))
    return len(table)


def status_rows_stage(grid_path, solver_files: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """The status rows of the entries that are not run (for the Snakefile)."""
    from .registry import discover

    _, status = plan_entries(load_grid(grid_path), discover(solver_files))
    return status


# ------------------------------------------------------------------------------------------------
# compare


def _paragraph(path, problem: str, hint: str) -> str:
    text = (f"{path}: this solver file cannot be ranked on the official leaderboard grid: {problem}. "
            f"{hint} Nothing was ranked and results/leaderboard.csv was not touched.")
    return " ".join(text.split())


_CONTRACT_HINT = ("The contract (docs/leaderboard.md): module-level `name` (a new lower-case identifier), "
                  "`capabilities` (differentiable, trained, complex, gpu: True/False), `parameters` "
                  "(dict of non-empty lists) and `solve(problem, **params)` returning a finite "
                  "torch.Tensor of shape (problem.B, problem.N) for every batch.")


def _unavailable_hint(reason: str) -> str:
    if "SyntaxError" in reason or "IndentationError" in reason:
        return "Fix the syntax error (python -m py_compile FILE shows it)."
    if reason.startswith("import failed"):
        return "The file raised while being imported; run `python FILE` to see the traceback."
    if "already used" in reason:
        return "Built-in names cannot be reused: rename `name` in the file."
    return _CONTRACT_HINT


def compare(solver_file, *, families: Optional[Sequence[str]] = None, quick: bool = False, out=None,
            device: Optional[str] = None, grid_path=None, stored_rows=None, stored_csv=None,
            instances_root=None, echo: Callable[[str], None] = print) -> Dict[str, Any]:
    """Rank a drop-in solver file on the official grid (or a subset) against the stored rows.

    Writes only under ``out`` (default ``results/compare/<name>/`` in the working directory):
    ``results.csv`` (one row per problem), ``cells.csv``, ``ranking.csv`` (the leaderboard of
    the same subset with the new entry), ``report.html`` and ``summary.txt``. Raises
    :class:`CompareError` (one paragraph naming the file) for a file that does not load, declares
    a trained solver, or breaks the contract on any batch.
    """
    from .storage import atomic_write_text, set_threads, write_csv
    from .pipeline.tables import RESULT_COLUMNS
    from .registry import SolverContractError, discover

    path = Path(solver_file).expanduser().resolve()
    if not path.is_file():
        raise CompareError(_paragraph(path, "no such file", "Give the path of a Python solver entry file."))
    if path.suffix != ".py":
        raise CompareError(_paragraph(path, "not a .py file", "A solver entry is one Python module."))
    grid_full = load_grid(grid_path)
    try:
        grid = grid_full.subset(families, quick=quick)
    except LeaderboardError as exc:
        raise CompareError(str(exc)) from exc
    entries = discover([path], refresh=True)
    entry = next((e for e in entries.values() if Path(e.path) == path), None)
    if entry is None:  # pragma: no cover - discover always returns the drop-in
        raise CompareError(_paragraph(path, "the registry did not load it", _CONTRACT_HINT))
    if not entry.available:
        raise CompareError(_paragraph(path, entry.reason, _unavailable_hint(entry.reason)))
    if entry.trained:
        raise CompareError(_paragraph(
            path, "it declares capabilities['trained'] = True",
            f"Trained solvers are not ranked on grid v{grid.version} ({grid.trained_reason})."))
    try:
        variants = entry.variants()
    except GreedybenchError as exc:
        raise CompareError(_paragraph(path, str(exc), _CONTRACT_HINT)) from exc

    out = Path(out) if out is not None else Path("results") / "compare" / entry.name
    stored_csv = Path(stored_csv) if stored_csv is not None else STORED_CSV
    stored_rows = Path(stored_rows) if stored_rows is not None else STORED_ROWS
    if out.resolve() in (STORED_CSV.parent.resolve(), stored_csv.parent.resolve()):
        raise CompareError(f"--out {out} is the directory of the stored leaderboard; "
                           "choose another directory (compare never writes there)")
    device = device or grid.device
    set_threads(grid.threads)

    # stored rows (read only)
    stored: List[Dict[str, str]] = []
    notes = []
    if stored_rows.is_file():
        stored = read_rows(stored_rows)
        shas = {r["grid_sha"] for r in stored}
        if shas != {grid.sha}:
            notes.append(f"the stored rows {stored_rows} were made on grid {sorted(shas)}, not on this grid "
                         f"({grid.sha}, version {grid.version}): not ranked against them")
            stored = []
    else:
        notes.append(f"no stored rows at {stored_rows}: the solver is scored alone")

    # instances: the pipeline's (read only) when valid, else generated under out/
    roots = ([Path(instances_root)] if instances_root is not None
             else [STORED_INSTANCES, Path("results/leaderboard/instances")])
    fam_dirs = {}
    for f in grid.families:
        fam_dirs[f] = next((r / f for r in roots if instances_valid(r / f, grid, f)), None)
        if fam_dirs[f] is None:
            echo(f"generating the instances of {f} under {out / 'instances'}")
            fam_dirs[f] = generate_family(out / "instances" / f, grid, f, deltas=grid.delta)

    cells, problems = [], []
    for v in variants:
        for f in grid.families:
            try:
                c, p = run_family(v, grid, f, fam_dirs[f], device=device, fail_fast=True, per_problem=True)
            except SolverContractError as exc:
                msg = str(exc)
                where = f"variant {v.name}, family {f}"
                raise CompareError(_paragraph(path, f"{where}: {msg}", _CONTRACT_HINT)) from exc
            cells += c
            problems += p

    # same instances as the stored leaderboard?
    ref = {(r["family"], r["delta"], r["s"]): r["instance_sha256"] for r in stored if r.get("instance_sha256")}
    from .storage import fmt

    mism = [c for c in cells if c.get("instance_sha256") and
            ref.get((c["family"], fmt(c["delta"]), str(c["s"])), c["instance_sha256"]) != c["instance_sha256"]]
    if mism:
        notes.append(f"{len(mism)} instances differ from the stored leaderboard's (checksums; e.g. another "
                     "torch version draws other random numbers): the ranking compares different problems")

    own_names = {v.name for v in variants}
    pool = ([r for r in stored if r["solver"] not in own_names]
            + [{k: fmt(r.get(k)) for k in CELL_COLUMNS} for r in cells])
    table = compute_leaderboard(pool, grid)
    fams = list(grid.families)

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", RESULT_COLUMNS, problems)
    write_rows(out / "cells.csv", cells)
    write_leaderboard(out / "ranking.csv", table, fams)
    summary = _compare_summary(table, own_names, grid, fams, notes, stored_csv)
    atomic_write_text(out / "summary.txt", summary + "\n")
    _compare_report(out, grid, table, problems, summary, device)
    echo(summary)
    echo(f"wrote {out / 'ranking.csv'}, {out / 'results.csv'}, {out / 'cells.csv'}, {out / 'report.html'}")
    mine = [r for r in table if r["solver"] in own_names]
    return {"out": out, "table": table, "rows": mine, "summary": summary, "notes": notes}


def _compare_summary(table, own_names, grid: Grid, fams, notes, stored_csv) -> str:
    ranked = [r for r in table if r["rank"]]
    subset = ("the full official grid" if grid.is_full else
              f"a subset of it (families {', '.join(fams)}; deltas {', '.join(f'{d:g}' for d in grid.delta)})")
    lines = [f"Official leaderboard grid v{grid.version} ({grid.sha}), {subset}; "
             f"{len(ranked)} ranked solvers (score: area under rho*(delta), mean over families; "
             "ties by median time per successful problem, then name)."]
    for r in table:
        if r["solver"] not in own_names:
            continue
        if not r["rank"]:
            lines.append(f"{r['solver']}: not ranked, status {r['status']}: {r['status_detail']}")
            continue
        i = int(r["rank"])
        above = ranked[i - 2] if i >= 2 else None
        below = ranked[i] if i < len(ranked) else None
        lines.append(f"{r['solver']} ranks {i} of {len(ranked)} (status {r['status']}"
                     + (f": {r['status_detail']}" if r["status_detail"] else "") + ").")
        show = [x for x in (above, r, below) if x is not None]
        w = max(12, *(len(x["solver"]) for x in show))
        head = f"  {'':<24}" + "".join(f"{('#' + x['rank'] + ' ' + x['solver'])[:w + 4]:>{w + 5}}" for x in show)
        lines.append(head)
        for f in fams:
            lines.append(f"  {'auc_' + f:<24}" + "".join(f"{x['auc_' + f] or '-':>{w + 5}}" for x in show))
        lines.append(f"  {'auc_mean':<24}" + "".join(f"{x['auc_mean'] or '-':>{w + 5}}" for x in show))
        lines.append(f"  {'median time/success (s)':<24}"
                     + "".join(f"{x['median_time_success_s'] or '-':>{w + 5}}" for x in show))
        why = []
        for other, word in ((above, "below"), (below, "above")):
            if other is None:
                continue
            if other["auc_mean"] == r["auc_mean"]:
                by_time = other["median_time_success_s"] != r["median_time_success_s"]
                why.append(f"tied with {other['solver']} on auc_mean {r['auc_mean']}, {word} it by "
                           + ("median time" if by_time else "name"))
            else:
                best = max(fams, key=lambda f: abs(float(r["auc_" + f] or 0) - float(other["auc_" + f] or 0)))
                why.append(f"{word} {other['solver']} by auc_mean {r['auc_mean']} vs {other['auc_mean']} "
                           f"(largest gap on {best}: {r['auc_' + best]} vs {other['auc_' + best]})")
        if why:
            lines.append("  why: " + "; ".join(why) + ".")
    for n in notes:
        lines.append(f"note: {n}")
    if not grid.is_full:
        lines.append("note: scores on a subset are not comparable with the auc columns of "
                     f"{stored_csv}; they are recomputed for every solver from the stored rows of the same cells.")
    return "\n".join(lines)


def _compare_report(out: Path, grid: Grid, table, problems, summary: str, device: str) -> None:
    from greedybench.report import render_report

    data = (out / "results.csv").read_bytes()
    manifest = {"figures": [], "skipped": [], "out_dir": str(out),
                "results": {"path": "results.csv", "rows": len(problems), "sha256": hashlib.sha256(data).hexdigest()}}
    prov = _provenance(device, grid.dtype)
    provenance = {"commit": prov["git_commit"], "config": grid.to_dict(), "threads": prov["threads"],
                  "device": device, "cpu": prov["machine"],
                  "versions": {"torch": prov["torch_version"], "numpy": prov["numpy_version"],
                               "greedybench": prov["greedybench_version"]},
                  "comparison": summary}
    render_report(manifest, out / "report.html", provenance=provenance, leaderboard_csv=out / "ranking.csv")


# ------------------------------------------------------------------------------------------------
# command line used by the Snakemake rules (one call each)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m greedybench.leaderboard",
                                description="Pipeline stages of the leaderboard (workflow/rules/leaderboard.smk).")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("instances")
    a.add_argument("--grid", required=True)
    a.add_argument("--family", required=True)
    a.add_argument("--out", required=True)
    a = sub.add_parser("solve")
    a.add_argument("--grid", required=True)
    a.add_argument("--entry", required=True)
    a.add_argument("--params-json", required=True)
    a.add_argument("--version", required=True)
    a.add_argument("--solver-file", action="append", default=[])
    a.add_argument("--instances", required=True, help="root holding one directory per family")
    a.add_argument("--out", required=True)
    a = sub.add_parser("aggregate")
    a.add_argument("--grid", required=True)
    a.add_argument("--status-json", required=True, help="JSON list of status rows (entries not run)")
    a.add_argument("--out", required=True)
    a.add_argument("--rows-out", required=True)
    a.add_argument("cells", nargs="*")
    args = p.parse_args(argv)
    if args.cmd == "instances":
        generate_family(args.out, load_grid(args.grid), args.family)
    elif args.cmd == "solve":
        solve_stage(args.out, grid_path=args.grid, entry=args.entry, params_json=args.params_json,
                    version=args.version, instances_root=args.instances, solver_files=args.solver_file)
    else:
        n = leaderboard_stage(args.out, args.rows_out, cell_files=args.cells, grid_path=args.grid,
                              status_rows=json.loads(args.status_json))
        print(f"wrote {args.out} ({n} solvers) and {args.rows_out}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
