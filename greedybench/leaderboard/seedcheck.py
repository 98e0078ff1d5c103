"""``greedybench compare --seed``: the solver (and omp, for reference) on fresh instances of the
same grid, drawn in memory with another seed, and whether the fresh score agrees with the stored
one within its interval.

The stored instances are public files made from a public seed, so a solver file could read them
(or rebuild them) and score well on them only; instances drawn with a seed the solver cannot know
(``--seed random``, drawn here and printed after the solver's process ended) and never written to
disk expose that: the score on them disagrees with the stored one.

Agreement (:func:`seed_agreement`, the one place that decides it): when the stored table has an
interval for the score (``auc_mean_lo`` / ``auc_mean_hi``, grid version 2; only valid on the full
grid) the fresh score's bootstrap interval must overlap it; otherwise both scores are bootstrapped
here over problems (each cell's n problems resampled with replacement, the leaderboard's own
bootstrap :func:`.table.family_replicates`; ``n_boot`` resamples, fixed seeds) and the 99 %
percentile interval of the difference fresh - stored must contain 0. 99 %, not 95 %: an honest
solver should rarely be told that it disagrees (about 1 run in 100), while a solver that wins by
reading the public instances loses almost all of its score on fresh ones.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..datasets import make_instance
from ..pipeline.generate import DTYPES, FAMILY_KEYS
from .grid import Grid
from .table import family_replicates, family_score

__all__ = ["draw_seed", "fresh_grid", "fresh_instances", "auc_of", "bootstrap_auc", "table_interval",
           "seed_agreement"]


def draw_seed() -> int:
    """A seed nobody can guess (63 random bits from the OS)."""
    return secrets.randbits(63)


def fresh_grid(grid: Grid, seed: int) -> Grid:
    """``grid`` with another instance seed (same cells, families, deltas, scoring)."""
    return replace(grid, seed=int(seed))


def fresh_instances(grid: Grid, family: str, *, device: str = "cpu") -> List[Tuple]:
    """``(delta, instance, name, "")`` of every cell of ``family``, drawn in memory with ``grid.seed``
    exactly as the stored ones are (the pipeline's generator arguments), never written to disk."""
    fam = grid.families[family]
    kw = {k: fam[k] for k in FAMILY_KEYS if fam.get(k) is not None}
    out = []
    for delta in grid.delta:
        for rho, m, s in grid.cells(delta):
            inst = make_instance(m=int(m), N=grid.N, s=int(s), batch=grid.trials, seed=grid.seed,
                                 sigma=float(grid.sigma), dtype=DTYPES[grid.dtype], **kw)
            if device != "cpu":
                inst = inst.to(device)
            out.append((float(delta), inst, f"rho{float(rho)!r} (fresh seed, in memory)", ""))
    return out


def _cells_by_family(cells: Sequence[Dict[str, Any]], grid: Grid):
    fams = {}
    for f in grid.families:
        rows = [c for c in cells if c.get("family") == f and c.get("status") in ("ok", "error")]
        fams[f] = rows
    return fams


def auc_of(cells: Sequence[Dict[str, Any]], grid: Grid) -> float:
    """Mean over ``grid``'s families of the area under rho*(delta) (:func:`.table.family_score`); a
    family without run cells (not applicable) counts 0, as in the table."""
    fams = _cells_by_family(cells, grid)
    return float(np.mean([family_score(rows, grid.delta)[0] if rows else 0.0 for rows in fams.values()]))


def bootstrap_auc(cells: Sequence[Dict[str, Any]], grid: Grid, *, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap replicates of ``auc_of``: the problems of every cell resampled with
    replacement (:func:`.table.family_replicates`, the leaderboard's own bootstrap, vectorised);
    a family without run cells counts 0."""
    fams = _cells_by_family(cells, grid)
    reps = [family_replicates(rows, grid.delta, f, n_boot=n_boot, seed=seed) if rows else np.zeros(n_boot)
            for f, rows in fams.items()]
    return np.mean(reps, axis=0)


def table_interval(row: Optional[Dict[str, str]], grid: Grid) -> Optional[Tuple[float, float]]:
    """``(auc_mean_lo, auc_mean_hi)`` of a stored table row when it has them and ``grid`` is the full
    grid (the table's intervals are for the full-grid score), else None."""
    if row is None or not grid.is_full:
        return None
    try:
        return float(row["auc_mean_lo"]), float(row["auc_mean_hi"])
    except (KeyError, TypeError, ValueError):
        return None


def seed_agreement(stored_cells: Sequence[Dict[str, Any]], fresh_cells: Sequence[Dict[str, Any]], grid: Grid, *,
                   interval: Optional[Tuple[float, float]] = None, n_boot: int = 200, level: float = 0.99,
                   rng_seed: int = 0) -> Dict[str, Any]:
    """Does the score on fresh instances agree with the stored one within the interval?

    Returns ``{"stored", "fresh", "diff", "lo", "hi", "agree", "method"}``: with ``interval`` (the
    stored score's, from the table), ``lo``/``hi`` are the fresh score's bootstrap interval and
    ``agree`` is their overlap; otherwise ``lo``/``hi`` bound fresh - stored and ``agree`` is
    ``lo <= 0 <= hi``.
    """
    a, b = auc_of(stored_cells, grid), auc_of(fresh_cells, grid)
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    bf = bootstrap_auc(fresh_cells, grid, n_boot=n_boot, seed=rng_seed)
    if interval is not None:
        lo, hi = (float(v) for v in np.percentile(bf, q))
        agree = lo <= interval[1] and interval[0] <= hi
        method = (f"fresh score's {level:.0%} bootstrap interval [{lo:.4f}, {hi:.4f}] against the stored interval "
                  f"[{interval[0]:.4f}, {interval[1]:.4f}]: they {'overlap' if agree else 'do not overlap'}")
    else:
        bs = bootstrap_auc(stored_cells, grid, n_boot=n_boot, seed=rng_seed + 1)
        lo, hi = (float(v) for v in np.percentile(bf - bs, q))
        agree = lo <= 0 <= hi
        method = (f"difference fresh - stored {b - a:+.4f}, {level:.0%} bootstrap interval over problems "
                  f"[{lo:+.4f}, {hi:+.4f}] ({n_boot} resamples): {'contains' if agree else 'excludes'} 0")
    return {"stored": a, "fresh": b, "diff": b - a, "lo": lo, "hi": hi, "agree": bool(agree), "method": method}
