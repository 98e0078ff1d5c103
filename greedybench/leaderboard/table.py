"""The leaderboard table: per solver the area under rho*(delta) of every family
(:func:`greedybench.analysis.score.area_under_transition`, the one scoring rule), the mean, the
median time per successful problem, the status; the rank; and the aggregate stage that writes
``results/leaderboard_rows.csv.gz`` and ``results/leaderboard.csv`` from the cell files."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from ..analysis.score import area_under_transition
from ..storage import csv_text, write_csv
from .grid import Grid, LeaderboardError, load_grid
from .rows import PROVENANCE_KEYS, cell_provenance, read_rows, write_rows

__all__ = ["HEAD_COLUMNS", "TAIL_COLUMNS", "TIMING_COLUMNS", "RANKED_STATUSES", "family_score",
           "compute_leaderboard", "leaderboard_columns", "leaderboard_csv_text", "write_leaderboard",
           "leaderboard_stage"]

#: columns of results/leaderboard.csv around the auc_<family> columns
HEAD_COLUMNS = ("rank", "solver", "entry")
TAIL_COLUMNS = ("auc_mean", "median_time_success_s", "success_rate", "n_problems", "status",
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
