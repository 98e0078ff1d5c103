"""Recompute the committed leaderboard: does it follow from the solvers?

``results/leaderboard.csv`` is a pure function of ``results/leaderboard_rows.csv.gz``
(:func:`~greedybench.leaderboard.table.compute_leaderboard`), so an edit of the table alone is
caught by recomputing it. An edit of *both* files that keeps them consistent (e.g. one solver's
successes set to 0 in the rows, the table recomputed) is caught only by running the solvers
again. :func:`verify_leaderboard` does that on a seeded sample of cells that changes with the seed:

1. the table equals the table computed from the rows (byte for byte);
2. every row was made on the current grid (``grid_sha``) by the current version of its solver;
3. for every ranked variant, ``per_variant`` cells are drawn (seeded) with probability
   proportional to ``disagreement + floor``: how far the variant's stored successes in that cell
   are from the median of the other variants' (a consistent edit of one solver moves exactly
   these), plus a floor that gives every cell a chance. Each drawn cell's instance is regenerated
   from the grid (its checksum must equal the stored ``instance_sha256``) and the variant is run on
   it through the one solve core; every non-timing column must equal the stored row.

A variant whose optional package is not installed here is reported and skipped, not failed.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..registry import discover
from ..storage import fmt, set_threads
from .grid import Grid, load_grid
from .integrity import grid_instances
from .rows import read_rows
from .run import family_base, generate_family, plan_entries, run_cell
from .table import compute_leaderboard, leaderboard_csv_text

__all__ = ["COMPARED_COLUMNS", "VerifyReport", "draw_cells", "verify_leaderboard"]

#: the cell columns a rerun must reproduce exactly (everything but timing and machine provenance)
COMPARED_COLUMNS = ("solver_version", "grid_sha", "N", "m", "s", "rho", "seed", "n_trials", "n_success",
                    "n_exact_support", "success_mask", "status", "instance_sha256", "device", "dtype")
DISAGREEMENT_FLOOR = 0.05


@dataclass
class VerifyReport:
    seed: int
    problems: List[str] = field(default_factory=list)
    checked: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [f"leaderboard verification, sample seed {self.seed}: "
                 + ("OK" if self.ok else f"{len(self.problems)} problem(s)")]
        lines += [f"  FAIL {p}" for p in self.problems]
        lines += [f"  ok   {c}" for c in self.checked]
        lines += [f"  skip {s}" for s in self.skipped]
        return "\n".join(lines)


def _key(r) -> tuple:
    return (r["family"], round(float(r["delta"]), 9), int(float(r["s"])))


def draw_cells(rows: Sequence[Dict[str, str]], solvers: Sequence[str], per_variant: int,
               seed: int) -> Dict[str, List[tuple]]:
    """``per_variant`` distinct cells ``(family, delta, s)`` per solver, drawn with probability
    proportional to the solver's disagreement with the other solvers' median success count in
    that cell plus :data:`DISAGREEMENT_FLOOR` (a function of ``seed`` and the rows only)."""
    cells: Dict[tuple, Dict[str, int]] = {}
    trials: Dict[tuple, int] = {}
    for r in rows:
        if r.get("status") in ("ok", "error") and r.get("s") not in ("", None):
            cells.setdefault(_key(r), {})[r["solver"]] = int(float(r["n_success"] or 0))
            trials[_key(r)] = max(trials.get(_key(r), 1), int(float(r["n_trials"] or 1)))
    keys = sorted(cells)
    out = {}
    for i, solver in enumerate(sorted(solvers)):
        own = [k for k in keys if solver in cells[k]]
        if not own:
            out[solver] = []
            continue
        w = []
        for k in own:
            others = [v for s, v in cells[k].items() if s != solver]
            d = abs(cells[k][solver] - statistics.median(others)) / trials[k] if others else 0.0
            w.append(d + DISAGREEMENT_FLOOR)
        p = np.asarray(w) / np.sum(w)
        rng = np.random.default_rng([int(seed), i, int(hashlib.sha256(solver.encode()).hexdigest()[:8], 16)])
        pick = rng.choice(len(own), size=min(per_variant, len(own)), replace=False, p=p)
        out[solver] = [own[j] for j in sorted(pick)]
    return out


def verify_leaderboard(rows_path, table_path, *, grid: Optional[Grid] = None, per_variant: int = 1,
                       seed: Optional[int] = None, solvers: Optional[Sequence[str]] = None,
                       progress: Optional[Callable[[str], None]] = None) -> VerifyReport:
    """Check the stored leaderboard against its rows, the grid and a seeded rerun (module doc).

    ``seed=None`` draws a fresh one (reported, so a failure can be replayed); ``solvers`` limits
    the rerun to some variants (the table and version checks always cover all of them).
    """
    grid = grid or load_grid()
    seed = int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)
    rep = VerifyReport(seed=seed)
    rows = read_rows(rows_path)
    want = leaderboard_csv_text(compute_leaderboard(rows, grid), list(grid.families))
    if Path(table_path).read_text() != want:
        rep.problems.append(f"{table_path} is not the table computed from {rows_path}")
    stale_grid = sorted({r["grid_sha"] for r in rows} - {grid.sha})
    if stale_grid:
        rep.problems.append(f"rows made on grid {', '.join(stale_grid)}; the grid is now {grid.sha}")
    entries = discover()
    variants = {v.name: v for v in plan_entries(grid, entries)[0].values()}
    ranked = sorted({r["solver"] for r in rows if r.get("status") in ("ok", "error")})
    for name in ranked:
        if name not in variants:
            e = entries.get(name.split("[")[0])
            if e is not None and e.optional_missing:
                rep.skipped.append(f"{name}: {e.reason}")
            else:
                rep.problems.append(f"{name}: in the stored rows but not a runnable variant now")
    for name, v in variants.items():
        versions = {r["solver_version"] for r in rows if r["solver"] == name}
        if versions != {v.version}:
            rep.problems.append(f"{name}: stored version {sorted(versions) or 'missing'}, the code is now "
                                f"{v.version}: regenerate the leaderboard")
    todo = [s for s in ranked if s in variants and (solvers is None or s in solvers)]
    picks = draw_cells(rows, todo, per_variant, seed)
    stored = {(r["solver"], *_key(r)): r for r in rows if r.get("status") in ("ok", "error")}
    set_threads(grid.threads)
    with tempfile.TemporaryDirectory(prefix="greedybench-verify-") as tmp:
        made: Dict[tuple, Dict[int, tuple]] = {}
        for name in todo:
            v = variants[name]
            for fam, delta, s in picks[name]:
                if (fam, delta) not in made:  # regenerated from the grid, each checked against its cell
                    one = replace(grid, delta=(delta,))
                    d = generate_family(Path(tmp) / f"{fam}_{len(made)}", one, fam, deltas=[delta])
                    made[(fam, delta)] = {int(inst.s): (inst, src, sha)
                                          for _, inst, src, sha in grid_instances(d, one, fam, device=grid.device)}
                inst, src, sha = made[(fam, delta)][s]
                old = stored[(name, fam, delta, s)]
                where = f"{name} {fam} delta={delta:g} s={s}"
                if progress:
                    progress(where)
                cell, _ = run_cell(v, grid, fam, inst, delta, source=src, sha=sha,
                                   base=family_base(v, grid, fam, grid.device), device=grid.device)
                new = {c: fmt(cell.get(c)) for c in COMPARED_COLUMNS}
                diff = [f"{c}: stored {old.get(c)!r}, rerun {new[c]!r}" for c in COMPARED_COLUMNS
                        if str(old.get(c, "")) != new[c]]
                if diff:
                    rep.problems.append(f"{where}: " + "; ".join(diff))
                else:
                    rep.checked.append(f"{where}: {new['n_success']}/{new['n_trials']} as stored")
    return rep
