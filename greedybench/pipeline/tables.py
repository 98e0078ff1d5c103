"""Table columns (results, timing, soft-vs-hard, Fig. 2) and the merge stage.

Rows are merged as text (cells are never re-parsed and re-formatted), sorted by a fixed key, and
written atomically, so two runs of the same config on CPU give byte-identical tables except the
timing columns (``time_per_problem_s`` and, in timing.csv, ``median_s``/``iqr_s``/``min_s``) and
``host``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from greedybench.analysis.metrics import METRIC_COLUMNS

from ..storage import read_csv, write_csv

__all__ = ["RESULT_COLUMNS", "IDENTITY_COLUMNS", "PROVENANCE_COLUMNS", "TIMING_ONLY_COLUMNS",
           "TIMING_COLUMNS", "SOFT_COLUMNS", "FIG2_COLUMNS", "merge_tables", "merge_stage", "sort_key",
           "RESULT_SORT", "TIMING_SORT", "SOFT_SORT", "TABLE_VERSION"]

IDENTITY_COLUMNS = ("experiment", "solver", "entry", "solver_version", "params", "family", "ensemble",
                    "signal", "amplitude", "m", "N", "s", "delta", "rho", "sigma", "seed", "problem")
PROVENANCE_COLUMNS = ("device", "dtype", "torch_version", "numpy_version", "greedybench_version",
                      "git_commit", "threads", "host")
RESULT_COLUMNS = IDENTITY_COLUMNS + tuple(METRIC_COLUMNS) + ("n_iter", "time_per_problem_s",
                                                             "batch_size") + PROVENANCE_COLUMNS
TIMING_COLUMNS = (
    "solver", "entry", "solver_version", "params", "family", "ensemble", "signal", "amplitude",
    "sweep", "m", "N", "s", "batch_size", "warmup", "repeats", "median_s", "iqr_s", "min_s",
    "time_per_problem_s") + PROVENANCE_COLUMNS
SOFT_COLUMNS = ("pair", "soft_solver", "hard_solver", "soft_version", "hard_version", "tau",
                "family", "ensemble", "signal", "amplitude", "m", "N", "s", "sigma", "seed", "problem",
                "rel_err_soft", "rel_err_hard", "diff", "bound", "device", "dtype", "torch_version",
                "numpy_version", "greedybench_version", "git_commit", "threads", "host")
FIG2_COLUMNS = ("algorithm", "soft_solver", "hard_solver", "n", "tau", "trials", "geomean", "lo", "hi",
                "bound_geomean", "bound_lo", "bound_hi", "frac_finite", "violations",
                "measured_finite_geomean", "tightness", "family", "m", "N", "s", "sigma", "step", "seed",
                "soft_version", "hard_version", "device", "dtype", "torch_version", "numpy_version",
                "greedybench_version", "git_commit", "threads", "host")
#: bump when columns or metric definitions change: the solve jobs carry it in params and rerun
TABLE_VERSION = 1
#: columns allowed to differ between two runs of the same config
TIMING_ONLY_COLUMNS = ("time_per_problem_s", "median_s", "iqr_s", "min_s", "host")

RESULT_SORT = ("experiment", "family", "solver", "N", "m", "s", "seed", "problem")
TIMING_SORT = ("solver", "sweep", "N", "batch_size")
SOFT_SORT = ("pair", "tau", "problem")
_NUMERIC = {"N", "m", "s", "seed", "problem", "batch_size", "tau"}


def sort_key(keys: Sequence[str]):
    """Sort key of text rows by ``keys`` (numeric columns compared as numbers, empty last)."""
    def key(row):
        out = []
        for k in keys:
            v = row.get(k, "")
            out.append((0, float(v), "") if k in _NUMERIC and v not in ("", None) else (1, 0.0, str(v)))
        return out
    return key


def merge_tables(out_csv, inputs: Iterable, *, columns: Sequence[str] = RESULT_COLUMNS,
                 sort: Sequence[str] = RESULT_SORT) -> int:
    """Concatenate per-job CSVs (same columns), sort, write atomically; returns the row count."""
    rows = []
    for path in inputs:
        part = read_csv(path)
        if part and list(part[0]) != list(columns):
            missing = sorted(set(columns) - set(part[0]))
            extra = sorted(set(part[0]) - set(columns))
            raise ValueError(f"{path}: columns differ from the table's (missing {missing}, extra {extra}); "
                             "rerun the job that wrote it")
        rows += part
    rows.sort(key=sort_key(sort))
    write_csv(out_csv, columns, rows)
    return len(rows)


def merge_stage(out_csv, inputs: Iterable, *, kind: str) -> int:
    """Merge the per-job tables of one kind: ``results`` or ``timing``."""
    if kind == "results":
        return merge_tables(out_csv, inputs)
    if kind == "timing":
        return merge_tables(out_csv, inputs, columns=TIMING_COLUMNS, sort=TIMING_SORT)
    raise ValueError(f"merge_stage: kind must be 'results' or 'timing'; got {kind!r}")
