"""The leaderboard table: per solver the area under rho*(delta) of every family
(:func:`greedybench.analysis.score.area_under_transition`, the one scoring rule) with its paired
bootstrap interval, the mean and its interval, the median time per successful problem, the status;
the shared rank (:mod:`greedybench.analysis.ranking`); and the aggregate stage that writes
``results/leaderboard_rows.csv.gz`` and ``results/leaderboard.csv`` from the cell files."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..analysis.ranking import percentile_interval, resample_index, resampled_counts, shared_ranks
from ..analysis.score import area_under_transition, column_values_batch, transition_areas
from ..storage import csv_text, write_csv
from .grid import Grid, LeaderboardError, load_grid
from .rows import PROVENANCE_KEYS, cell_provenance, read_rows, write_rows

__all__ = ["HEAD_COLUMNS", "TAIL_COLUMNS", "TIMING_COLUMNS", "RANKED_STATUSES", "family_score",
           "family_replicates", "compute_leaderboard", "leaderboard_columns", "leaderboard_csv_text", "write_leaderboard",
           "leaderboard_stage"]

#: columns of results/leaderboard.csv around the auc_<family> columns
HEAD_COLUMNS = ("rank", "solver", "entry")
TAIL_COLUMNS = ("auc_mean", "auc_mean_lo", "auc_mean_hi", "median_time_success_s", "success_rate", "n_problems", "status",
                "status_detail", "solver_version", "grid_version", "grid_sha", "device", "dtype",
                "threads", "machine", "torch_version", "greedybench_version", "git_commit")
#: columns that depend on the machine's speed only (CI compares everything else exactly)
TIMING_COLUMNS = ("median_time_success_s",)
RANKED_STATUSES = ("ok", "partial", "errors")
_STATUS_ORDER = {"ok": 0, "partial": 1, "errors": 2, "failed": 3, "not_ranked": 4, "unavailable": 5}
AUC_DECIMALS = 4


def _num(v) -> float:
    if v is None or v == "":
        return float("nan")
    return float(v)


def family_score(cells: Sequence[Dict[str, Any]],
                 deltas: Sequence[float]) -> Tuple[float, List[Tuple[float, float, str]]]:
    """Area under rho*(delta) of one solver on one family: the cells grouped into delta columns
    (realised rho = s/m, successes, trials; a failed batch counts as ``n_trials`` failures) and
    scored by :func:`greedybench.analysis.score.area_under_transition` (the rule for degenerate
    and missing columns is there). Returns ``(area, [(delta, v, flag), ...])``.
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


def _mask(c: Dict[str, Any]) -> np.ndarray:
    m = str(c.get("success_mask") or "")
    n = int(float(c["n_trials"]))
    if len(m) != n or set(m) - {"S", "F"}:
        raise LeaderboardError(f"cell {c.get('solver')} {c.get('family')} delta={c.get('delta')} s={c.get('s')}: "
                               f"success_mask {m[:20]!r} does not hold one S/F per problem (n_trials = {n}); "
                               "the rows were written by another version: regenerate them")
    if m.count("S") != int(float(c.get("n_success") or 0)):
        raise LeaderboardError(f"cell {c.get('solver')} {c.get('family')} delta={c.get('delta')} s={c.get('s')}: "
                               f"success_mask has {m.count('S')} successes but n_success = {c.get('n_success')}")
    return np.frombuffer(m.encode(), dtype=np.uint8) == ord("S")


def family_replicates(cells: Sequence[Dict[str, Any]], deltas: Sequence[float], family: str, *,
                      n_boot: int, seed: int, _cache: Dict | None = None) -> np.ndarray:
    """Bootstrap replicates ``(n_boot,)`` of :func:`family_score`: the problems of every cell are
    resampled (``success_mask``) with draws that depend only on ``seed`` and the cell's
    ``(family, delta, s)`` (:func:`greedybench.analysis.ranking.resample_index`), so replicates of
    different solvers are paired; each replicate is scored by the same rule
    (:func:`greedybench.analysis.score.column_values_batch`)."""
    cache = {} if _cache is None else _cache
    by = {}
    for c in cells:
        by.setdefault(round(float(c["delta"]), 9), []).append(c)
    ds = sorted(float(x) for x in deltas)
    values = np.zeros((n_boot, len(ds)))
    for j, d in enumerate(ds):
        col = sorted((c for c in by.get(round(d, 9), []) if int(float(c["n_trials"] or 0)) > 0),
                     key=lambda c: int(float(c["s"])))
        if not col:
            continue
        kb = np.empty((n_boot, len(col)))
        for i, c in enumerate(col):
            n = int(float(c["n_trials"]))
            key = (family, repr(round(d, 9)), int(float(c["s"])), n)
            if key not in cache:
                cache[key] = resample_index(n, n_boot, seed, key)
            kb[:, i] = resampled_counts(_mask(c), cache[key])
        values[:, j] = column_values_batch([float(c["s"]) / float(c["m"]) for c in col], kb,
                                           [int(float(c["n_trials"])) for c in col])
    return transition_areas(ds, values)


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
    fam = [c for f in families for c in (f"auc_{f}", f"auc_{f}_lo", f"auc_{f}_hi")]
    return list(HEAD_COLUMNS) + fam + list(TAIL_COLUMNS)


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

    Intervals: ``auc_<family>_lo/hi`` and ``auc_mean_lo/hi`` are the percentile intervals (level
    ``grid.bootstrap["level"]``) of :func:`family_replicates` (``n_boot`` paired replicates).

    Rank (shared): among ranked statuses (ok, partial, errors), 1 + the number of solvers whose
    ``auc_mean`` is significantly larger on the same problems (the paired replicates' difference
    interval lies above 0: :func:`greedybench.analysis.ranking.shared_ranks`). Rows are ordered by
    rank, then ``auc_mean`` (descending), ``median_time_success_s`` (3 significant digits,
    ascending, none = last) and name. Unranked rows follow (by status, then name) with an empty
    rank.
    """
    fams = list(grid.families)
    deltas = [float(d) for d in grid.delta]
    dkeys = {round(d, 9) for d in deltas}
    n_boot, level, boot_seed = int(grid.bootstrap["n_boot"]), float(grid.bootstrap["level"]), int(grid.bootstrap["seed"])
    draws: Dict = {}
    replicates: Dict[str, np.ndarray] = {}
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
        notes, aucs, times, reps = [], [], [], []
        n_total = n_succ = n_err_cells = n_cells = 0
        first_err = ""
        for f in fams:
            fr = [r for r in rs if r.get("family") == f]
            na = [r for r in fr if r.get("status") == "not_applicable"]
            cells = [r for r in fr if r.get("status") in ("ok", "error") and round(float(r["delta"]), 9) in dkeys]
            if na:
                aucs.append(0.0)
                reps.append(np.zeros(n_boot))
                notes.append(f"{f}: not applicable ({' '.join(str(na[0].get('reason', '')).split())})")
                continue
            if not cells:
                aucs.append(0.0)
                reps.append(np.zeros(n_boot))
                notes.append(f"{f}: no results (scored 0)")
                continue
            area, _ = family_score(cells, deltas)
            aucs.append(area)
            reps.append(family_replicates(cells, deltas, f, n_boot=n_boot, seed=boot_seed, _cache=draws))
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
        for f, a, r in zip(fams, aucs, reps):
            lo, hi = percentile_interval(r, level)
            rec.update({f"auc_{f}": _f4(a), f"auc_{f}_lo": _f4(lo), f"auc_{f}_hi": _f4(hi)})
        mean_reps = np.mean(reps, axis=0) if reps else np.zeros(n_boot)
        lo, hi = percentile_interval(mean_reps, level)
        tmed = _weighted_median(times)
        rec.update(auc_mean=_f4(mean), auc_mean_lo=_f4(lo), auc_mean_hi=_f4(hi), median_time_success_s=_fsci(tmed),
                   success_rate=_f4(n_succ / n_total) if n_total else "", n_problems=str(n_total),
                   status=status, status_detail="; ".join(notes))
        tkey = float(_fsci(tmed)) if math.isfinite(tmed) else math.inf
        rec["_sort"] = (-float(rec["auc_mean"]), tkey, solver) if status in RANKED_STATUSES else None
        if rec["_sort"] is not None:
            replicates[solver] = mean_reps
        out.append(rec)
    ranks = shared_ranks(replicates, level)
    ranked = sorted((r for r in out if r["_sort"] is not None), key=lambda r: (ranks[r["solver"]], r["_sort"]))
    rest = sorted((r for r in out if r["_sort"] is None),
                  key=lambda r: (_STATUS_ORDER.get(r["status"], 9), r["solver"]))
    for r in ranked:
        r["rank"] = str(ranks[r["solver"]])
    for r in rest:
        r["rank"] = ""
    cols = leaderboard_columns(fams)
    return [{c: r.get(c, "") for c in cols} for r in ranked + rest]


def leaderboard_csv_text(table: Sequence[Dict[str, str]], families: Sequence[str]) -> str:
    """The table in the one CSV format (its cells are already text: fixed decimals)."""
    return csv_text(leaderboard_columns(families), table)


def write_leaderboard(path, table: Sequence[Dict[str, str]], families: Sequence[str]) -> None:
    write_csv(path, leaderboard_columns(families), table)


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
    prov = cell_provenance(grid.device, grid.dtype)
    for r in status_rows:
        rows.append({**prov, **r})
    write_rows(out_rows, rows)
    # the table is computed from the rows exactly as written (strings), as the CI check does
    table = compute_leaderboard(read_rows(out_rows), grid)
    write_leaderboard(out_csv, table, list(grid.families))
    return len(table)
