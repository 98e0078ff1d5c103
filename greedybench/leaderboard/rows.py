"""Leaderboard cell rows: the columns, their provenance, and the rows files (plain or gzip).

A cell row is the aggregation of the per-problem rows of one instance
(:func:`greedybench.pipeline.core.solve_instance`): one per (solver, family, delta, rho) cell,
with ``success_mask`` = one character per problem in the instance's order (``S`` success, ``F``
failure; letters, so that no spreadsheet reads it as a number), which the paired bootstrap of the
scores resamples (:mod:`greedybench.analysis.ranking`); status rows (entries not run) leave the cell keys empty. Cells are written in the one CSV format
(:func:`greedybench.storage.csv_text`: floats with repr).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List

from ..storage import machine, provenance, read_csv, write_csv_sorted
from .grid import LeaderboardError

__all__ = ["CELL_COLUMNS", "CELL_STATUSES", "PROVENANCE_KEYS", "cell_provenance", "write_rows", "read_rows"]

CELL_COLUMNS = (
    "grid_version", "grid_sha", "solver", "entry", "solver_version", "params", "family", "ensemble",
    "signal", "amplitude", "N", "delta", "rho", "m", "s", "seed", "n_trials", "n_success",
    "n_exact_support", "success_mask", "status", "reason", "time_per_problem_s", "instance_sha256", "device",
    "dtype", "threads", "machine", "torch_version", "numpy_version", "greedybench_version",
    "git_commit",
)
#: cell statuses: ok / error (the batch raised or broke the contract: all its problems failed),
#: not_applicable (family the entry cannot run), unavailable (entry does not load), not_ranked
CELL_STATUSES = ("ok", "error", "not_applicable", "unavailable", "not_ranked")
PROVENANCE_KEYS = ("device", "dtype", "threads", "machine", "torch_version", "numpy_version",
                   "greedybench_version", "git_commit")


def cell_provenance(device: str, dtype: str) -> Dict[str, Any]:
    """The provenance columns of a cell row: :func:`greedybench.storage.provenance` with the
    machine (CPU model and core count) in place of the host name."""
    p = provenance(device, dtype)
    return dict({k: p[k] for k in PROVENANCE_KEYS if k in p}, machine=machine())


def _row_key(r):
    def n(k):
        v = r.get(k, "")
        return (0, float(v), "") if v not in ("", None) else (1, 0.0, "")
    return (str(r.get("solver", "")), str(r.get("family", "")), n("delta"), n("rho"), n("s"))


def write_rows(path, rows: Iterable[Dict[str, Any]]) -> None:
    """All cells, sorted, as CSV; ``.gz`` is gzip with a zero mtime (same rows, same bytes)."""
    write_csv_sorted(path, CELL_COLUMNS, rows, _row_key)


def read_rows(path) -> List[Dict[str, str]]:
    """Rows of a cells file (plain or ``.gz``)."""
    rows = read_csv(path)
    if rows and set(rows[0]) != set(CELL_COLUMNS):
        raise LeaderboardError(f"{path}: columns differ from greedybench.leaderboard.CELL_COLUMNS; "
                               "it was written by another version: regenerate it")
    return rows
