"""Running the leaderboard: which entries run, the grid's instances, and one variant on a family.

A cell is the aggregation of the rows the one solve core
(:func:`greedybench.pipeline.core.solve_instance`) returns for one instance: ``n_success`` and
``n_exact_support`` are sums over its problems, ``time_per_problem_s`` is its batch time / batch
size. Failures never disappear: a batch that raises or breaks the contract is a cell with status
``error`` (all its problems failed); a family the entry cannot run is one ``not_applicable`` cell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .._validation import GreedybenchError
from ..datasets.ensembles import COMPLEX_ENSEMBLES
from ..pipeline.core import solve_instance
from ..pipeline.generate import generate_phase_slice
from ..pipeline.plan import variant_slug
from ..registry import SolverContractError, Variant, discover, load_variant
from ..storage import atomic_dir, set_threads, write_csv, write_json
from .grid import Grid, load_grid, slice_id
from .integrity import grid_instances
from .rows import CELL_COLUMNS, cell_provenance

__all__ = ["plan_entries", "not_applicable_reason", "generate_family", "instances_valid", "run_family",
           "run_cell", "family_base", "cells_stage", "status_rows_stage"]


def _safe_version(entry) -> str:
    """The entry's version; empty when its file cannot be read (a file that does not parse is
    hashed by its bytes)."""
    try:
        return entry.version
    except OSError:
        return ""


def not_applicable_reason(entry, family: Dict[str, Any]) -> Optional[str]:
    """Why an entry cannot run a family (None if it can)."""
    if family["ensemble"] in COMPLEX_ENSEMBLES and not entry.capabilities.get("complex", False):
        return (f"real-only solver (capabilities['complex'] is False) on the complex ensemble "
                f"{family['ensemble']!r}: scored 0")
    return None


def plan_entries(grid: Grid, entries: Dict[str, Any], *, versions: bool = True):
    """Split registry entries into variants to run and status rows for the others.

    Returns ``(variants, status_rows)``: ``variants`` maps a path-safe slug to the Variant;
    ``status_rows`` are cell rows (``CELL_COLUMNS``) with status ``unavailable`` or ``not_ranked``
    (``versions=False`` leaves their ``solver_version`` empty: hashing costs time).
    """
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


def status_rows_stage(grid_path, solver_files: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """The status rows of the entries that are not run (for the Snakefile)."""
    _, status = plan_entries(load_grid(grid_path), discover(solver_files))
    return status


# ------------------------------------------------------------------------------------------------
# instances


def generate_family(out_dir, grid: Grid, family: str, *, deltas: Optional[Sequence[float]] = None) -> Path:
    """The slices (one per delta; default every delta of the official grid) of one family, built
    atomically with the pipeline's :func:`~greedybench.pipeline.generate.generate_phase_slice`."""
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


def run_family(variant: Variant, grid: Grid, family: str, family_dir, *, device: Optional[str] = None,
               fail_fast: bool = False, per_problem: bool = False,
               progress: Optional[Callable[[str], None]] = None, instances: Optional[Iterable] = None,
               solve: Callable = solve_instance) -> Tuple[List[dict], List[dict]]:
    """Run one variant on every cell of one family (``grid``'s deltas).

    Returns ``(cells, problems)``: one row per cell (``CELL_COLUMNS``) and, with ``per_problem``,
    the rows of :func:`~greedybench.pipeline.core.solve_instance` (``RESULT_COLUMNS``, experiment
    ``leaderboard``). A batch that raises or breaks the contract becomes a cell with status
    ``error`` (all its problems failed) unless ``fail_fast``, which re-raises the
    :class:`~greedybench.registry.SolverContractError`. The hidden set ``T`` of the latent model is
    withheld; the first batch of the family gets one untimed warm-up call.

    The instances are read from ``family_dir`` by :func:`.integrity.grid_instances` (each checked
    against the cell its place names) unless ``instances`` gives them (``(delta, instance, name,
    sha256)`` tuples, e.g. preloaded or drawn in memory). ``solve`` replaces
    :func:`~greedybench.pipeline.core.solve_instance` (same signature and rows; ``greedybench
    compare`` passes its sandboxed one, :mod:`.sandbox`).
    """
    device = device or grid.device
    fam = grid.families[family]
    base = family_base(variant, grid, family, device)
    reason = not_applicable_reason(variant.entry, fam)
    if reason:
        return [dict(base, status="not_applicable", reason=reason, n_trials=0, n_success=0)], []
    cells, problems = [], []
    warmup = 1
    if instances is None:
        instances = grid_instances(family_dir, grid, family, device=device)
    for delta, inst, source, sha in instances:
        cell, rows = run_cell(variant, grid, family, inst, delta, source=source, sha=sha, base=base,
                              device=device, fail_fast=fail_fast, warmup=warmup, progress=progress,
                              solve=solve)
        warmup = 0
        cells.append(cell)
        if per_problem:
            problems += rows
    return cells, problems


def run_cell(variant: Variant, grid: Grid, family: str, inst, delta: float, *, source: str, sha: str,
             base: Dict[str, Any], device: str, fail_fast: bool = False, warmup: int = 0,
             progress: Optional[Callable[[str], None]] = None,
             solve: Callable = solve_instance) -> Tuple[dict, List[dict]]:
    """One variant on one loaded instance (one cell): ``(cell row, per-problem rows)``; see
    :func:`run_family` (``base`` holds the cell row's solver, family and provenance columns;
    ``source`` and ``sha`` name the instance file and its checksum)."""
    fam = grid.families[family]
    cell = dict(base, N=inst.N, delta=float(delta), rho=inst.s / inst.m, m=inst.m, s=inst.s,
                seed=int(inst.meta["seed"]), n_trials=inst.B, instance_sha256=sha)
    if progress:
        progress(f"{variant.name} {family} delta={delta:g} s={inst.s}")
    try:
        rows = solve(variant, inst, success=grid.success, device=device, dtype=grid.dtype,
                     experiment="leaderboard", family_name=family, family=fam,
                     source=source, hide_hidden_set=True, warmup=warmup)
    except SolverContractError as exc:
        if fail_fast:
            raise
        return dict(cell, status="error", reason=" ".join(str(exc).split()), n_success=0,
                    n_exact_support=0, success_mask="F" * inst.B), []
    return dict(cell, status="ok", reason="", n_success=sum(bool(r["success"]) for r in rows),
                success_mask="".join("S" if r["success"] else "F" for r in rows),
                n_exact_support=sum(bool(r["exact_support"]) for r in rows),
                time_per_problem_s=rows[0]["time_per_problem_s"]), rows


def family_base(variant: Variant, grid: Grid, family: str, device: str) -> Dict[str, Any]:
    """The columns every cell row of one variant on one family shares."""
    fam = grid.families[family]
    return {"grid_version": grid.version, "grid_sha": grid.sha, "solver": variant.name,
            "entry": variant.entry.name, "solver_version": variant.version, "params": variant.params_json,
            "family": family, "ensemble": fam["ensemble"], "signal": fam["signal"],
            "amplitude": fam["amplitude"], **cell_provenance(device, grid.dtype)}


def cells_stage(out_csv, *, grid_path, entry: str, params_json: str, version: str, instances_root,
                solver_files: Sequence[str] = (), device: Optional[str] = None) -> int:
    """Pipeline stage: one variant on every family of the grid -> its cells CSV."""
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
