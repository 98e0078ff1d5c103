"""The computations behind the figures and the report's summary table, without any drawing.

- :func:`prepare`: the long results table with one ``problem_class`` per curve;
- :func:`transition_fits`: success rates per cell and the fitted 50 % curve per solver, problem class
  and criterion (:mod:`greedybench.analysis.phase`);
- :func:`summary_table`: one row per solver and problem class; its area under rho*(delta) is the
  leaderboard's rule (:mod:`greedybench.analysis.score`), so the report and the leaderboard cannot
  disagree about the same counts;
- :func:`selection_table`: the fastest reliable candidate per (delta, rho) cell; oracle entries
  (references that know the hidden support) are never candidates;
- :func:`runtime_points`, :func:`training_error_summary`: the aggregates the runtime and training
  figures draw.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .l1 import rho_weak
from .phase import success_rates, transition_curve
from .score import area_under_transition

__all__ = ["setting", "fmt_list", "read_table", "prepare", "describe", "transition_fits", "summary_table", "is_reference",
           "selection_table", "runtime_points", "training_error_summary", "fittable"]

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
_ORACLE = re.compile(r"(^|_)oracle$")


def setting(config, name, default=None):
    """Look a setting up in config["analysis"], config["success"], then the top level of config."""
    if not isinstance(config, dict):
        return default
    for scope in (config.get("analysis"), config.get("success"), config):
        if isinstance(scope, dict) and scope.get(name) is not None:
            return scope[name]
    return default


def fmt_list(values, fmt="{:g}", limit=12) -> str:
    vals = [fmt.format(v) if isinstance(v, (int, float, np.floating, np.integer)) else str(v)
            for v in values]
    if len(vals) > limit:
        vals = vals[: limit // 2] + ["..."] + vals[-limit // 2:]
    return ", ".join(vals)


def read_table(src) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        return src.copy()
    src = Path(src)
    if src.suffix == ".parquet":
        return pd.read_parquet(src)
    return pd.read_csv(src)


def _as_bool(col: pd.Series) -> pd.Series:
    if col.dtype == object:
        return col.astype(str).str.lower().isin(("true", "1", "1.0"))
    return col.astype(bool)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans parsed, delta and rho rounded to 6 decimals, and ``problem_class``: the family, or
    (family, N) when a family was run at several N, prefixed by the experiment when there are several
    (two experiments are never pooled)."""
    need = {"solver", "family", "delta", "rho", "success"}
    missing = need - set(df.columns)
    if missing:
        raise KeyError(f"make_figures: results table lacks columns {sorted(missing)}")
    d = df.copy()
    for col in ("success", "exact_support", "success_linf"):
        if col in d.columns:
            d[col] = _as_bool(d[col])
    d["delta"] = d["delta"].astype(float).round(6)
    d["rho"] = d["rho"].astype(float).round(6)
    if "N" in d.columns:
        many = d.groupby("family")["N"].nunique()
        d["problem_class"] = [f"{f} (N={int(n)})" if many.get(f, 1) > 1 else str(f)
                              for f, n in zip(d["family"], d["N"])]
    else:
        d["problem_class"] = d["family"].astype(str)
    if "experiment" in d.columns and d["experiment"].nunique() > 1:
        d["problem_class"] = d["experiment"].astype(str) + ": " + d["problem_class"]
    return d


def describe(d: pd.DataFrame, config, criterion: str | None = None) -> str:
    """One sentence on exactly what was run, from the rows themselves."""
    parts = [f"solvers: {fmt_list(sorted(d['solver'].unique()), limit=20)}"]
    for col, label in (("ensemble", "ensemble"), ("signal", "signal")):
        if col in d.columns:
            parts.append(f"{label}: {fmt_list(sorted(d[col].astype(str).unique()))}")
    if "N" in d.columns:
        parts.append(f"N = {fmt_list(sorted(d['N'].unique()))}")
    parts.append(f"delta = m/N in {{{fmt_list(sorted(d['delta'].unique()))}}}")
    parts.append(f"rho = s/m from {d['rho'].min():.3g} to {d['rho'].max():.3g} "
                 f"({d.groupby('delta')['rho'].nunique().max()} values per delta at most)")
    cells = d.groupby(["solver", "problem_class", "delta", "rho"]).size()
    parts.append(f"{cells.min()}" + (f"-{cells.max()}" if cells.max() != cells.min() else "")
                 + " trials per cell")
    if "sigma" in d.columns:
        parts.append(f"noise sigma = {fmt_list(sorted(d['sigma'].unique()))}")
    if criterion == "success":
        thr = setting(config, "threshold", None)
        if thr is None and "threshold" in d.columns:
            thr = fmt_list(sorted(d["threshold"].unique()))
        parts.append(f"success: rel_err <= {thr if thr is not None else '(threshold not recorded)'}")
    elif criterion == "success_linf":
        thr = setting(config, "linf_threshold", None)
        parts.append(f"success: linf_err <= {thr if thr is not None else '(threshold not recorded)'}")
    elif criterion == "exact_support":
        parts.append("success: exact support recovery")
    for col, label in (("device", "device"), ("dtype", "dtype")):
        if col in d.columns:
            parts.append(f"{label}: {fmt_list(sorted(d[col].astype(str).unique()))}")
    return "; ".join(parts) + "."


# ----------------------------------------------------------------------------- transitions


def transition_fits(d: pd.DataFrame, criterion: str, *, n_boot: int, seed: int, level: float):
    """``(rates, curves)`` of one criterion: cells per (solver, problem_class, delta, rho) and one
    fitted row per (solver, problem_class, delta) with a leading ``criterion`` column."""
    rates = success_rates(d, criterion=criterion, by=("solver", "problem_class"))
    curves = []
    for (solver, pclass), cells in rates.groupby(["solver", "problem_class"], sort=True):
        c = transition_curve(cells, n_boot=n_boot, seed=seed, level=level)
        c.insert(0, "problem_class", pclass)
        c.insert(0, "solver", solver)
        curves.append(c)
    curves = pd.concat(curves, ignore_index=True)
    curves.insert(0, "criterion", criterion)
    return rates, curves


def fittable(curves: pd.DataFrame) -> bool:
    """Whether a set of curves holds a fitted 50 % point rho* at some delta (one-sided bounds of
    all-success / all-failure columns alone make no transition curve: the phase diagram shows them)."""
    return bool(np.isfinite(curves["rho_star"].to_numpy(dtype=float)).any())


def _area(cells: pd.DataFrame, deltas) -> tuple[float, list]:
    """The leaderboard's area (score.area_under_transition) from success_rates cells of one curve;
    a delta of ``deltas`` without cells counts as 0, as on the leaderboard's grid."""
    by = dict(tuple(cells.groupby("delta", sort=True)))
    cols = []
    for delta in deltas:
        c = by.get(delta)
        if c is None:
            cols.append((float(delta), [], [], []))
        else:
            # the realised s/m as on the leaderboard (the cell's rho is rounded to 6 decimals)
            rho = (c["s"] / c["m"]) if {"s", "m"} <= set(c.columns) else c["rho"]
            cols.append((float(delta), rho.tolist(), c["n_success"].astype(int).tolist(),
                         c["n_trials"].astype(int).tolist()))
    return area_under_transition(cols)


def summary_table(d: pd.DataFrame, rates: dict, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per solver and problem class (``rates``: criterion -> success_rates cells).

    ``auc_rho_star``: area under rho*(delta) by the leaderboard's rule (score.py) over the deltas of
    the problem class; ``auc_l1`` the area under the l1 weak threshold over the same deltas and
    ``auc_ratio_l1`` their ratio; ``n_deltas_degenerate`` the deltas without a fitted rho* (counted
    by the rule as the largest rho tried or 0); ``rho_star@delta`` the fitted 50 % points.
    """
    rows = []
    for (solver, pclass), sub in d.groupby(["solver", "problem_class"], sort=True):
        row = {"solver": solver, "problem_class": pclass, "family": sub["family"].iloc[0],
               "N": int(sub["N"].median()) if "N" in sub.columns else np.nan,
               "n_trials": int(len(sub)), "success_rate": float(sub["success"].mean())}
        if "exact_support" in sub.columns:
            row["exact_support_rate"] = float(sub["exact_support"].mean())
        if "time_per_problem_s" in sub.columns:
            ok = sub.loc[sub["success"], "time_per_problem_s"]
            row["median_time_success_s"] = float(ok.median()) if len(ok) else np.nan
            row["median_time_s"] = float(sub["time_per_problem_s"].median())
        deltas = np.sort(d.loc[d["problem_class"] == pclass, "delta"].unique())
        for crit in ("success", "exact_support"):
            if crit not in rates:
                continue
            r = rates[crit]
            cells = r[(r["solver"] == solver) & (r["problem_class"] == pclass)]
            c = curves[(curves["criterion"] == crit) & (curves["solver"] == solver)
                       & (curves["problem_class"] == pclass)].sort_values("delta")
            if cells.empty:
                continue
            sfx = "" if crit == "success" else f"_{crit}"
            area, _ = _area(cells, deltas)
            row[f"auc_rho_star{sfx}"] = area
            if len(deltas) >= 2:
                row[f"auc_l1{sfx}"] = float(_trapezoid(rho_weak(deltas), deltas))
                row[f"auc_ratio_l1{sfx}"] = area / row[f"auc_l1{sfx}"]
                row[f"auc_delta_range{sfx}"] = f"{deltas.min():g}-{deltas.max():g}"
            row[f"n_deltas_degenerate{sfx}"] = int((~np.isfinite(c["rho_star"])).sum())
            if crit == "success":
                for _, rr in c.iterrows():
                    row[f"rho_star@{rr['delta']:g}"] = rr["rho_star"]
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ selection


def is_reference(solver: str, entry: str | None = None, flag=None) -> bool:
    """Oracle entries (name ``*_oracle``, or flagged) know the hidden support: references to
    compare with, never candidates of a selection map."""
    if flag is not None and str(flag).lower() in ("true", "1", "1.0"):
        return True
    names = [str(solver).split("[", 1)[0]] + ([str(entry)] if entry is not None else [])
    return any(_ORACLE.search(n) for n in names)


def selection_table(sub: pd.DataFrame, min_rate: float) -> tuple[pd.DataFrame, list]:
    """Fastest reliable candidate per (delta, rho) cell of ``sub`` (one problem class, device, dtype).

    Among the solvers whose success rate in the cell is at least ``min_rate``, the one with the
    smallest median time per problem over all trials of the cell; ``(none)`` where none reaches it.
    Returns ``(table, excluded)``: one row per cell (delta, rho, winner, rate, n_trials,
    median_time_s) and the sorted names of the oracle entries left out.
    """
    ent = sub["entry"] if "entry" in sub.columns else pd.Series(None, index=sub.index)
    flag = sub["oracle"] if "oracle" in sub.columns else pd.Series(None, index=sub.index)
    ref = np.array([is_reference(s, e, f) for s, e, f in zip(sub["solver"], ent, flag)], dtype=bool)
    excluded = sorted(sub.loc[ref, "solver"].astype(str).unique())
    cells = (sub.groupby(["solver", "delta", "rho"])
             .agg(rate=("success", "mean"), n_trials=("success", "size"),
                  median_time_s=("time_per_problem_s", "median")).reset_index())
    grid = cells[["delta", "rho"]].drop_duplicates()
    cand = cells[~cells["solver"].isin(excluded)]
    ok = cand[cand["rate"] >= min_rate]
    best = ok.sort_values(["delta", "rho", "median_time_s", "solver"]).groupby(
        ["delta", "rho"], as_index=False).first()
    sel = grid.merge(best, on=["delta", "rho"], how="left")
    sel["winner"] = sel["solver"].fillna("(none)")
    sel = sel.drop(columns=["solver"]).sort_values(["delta", "rho"])
    return sel, excluded


# ------------------------------------------------------------------------------- runtimes


def runtime_points(t: pd.DataFrame, axis: str, other: str) -> pd.DataFrame:
    """Median time per problem against ``axis`` (N or batch) per (solver, device, dtype), at the
    largest value of ``other`` available to each (rows of the matching ``sweep`` when present)."""
    keys = ["solver", "device", "dtype"]
    src_rows = t[t["sweep"] == axis] if "sweep" in t.columns and (t["sweep"] == axis).any() else t
    top = src_rows.groupby(keys)[other].transform("max")
    sub = src_rows[src_rows[other] == top]
    return (sub.groupby(keys + [axis]).agg(time_per_problem_s=("time_per_problem_s", "median"),
                                           **{other: (other, "first")}, rows=(axis, "size"))
            .reset_index().sort_values(keys + [axis]))


# ------------------------------------------------------------------------------- training


def training_error_summary(err: pd.DataFrame) -> pd.DataFrame:
    """Per method: n, median, mean relative error and the fraction below 1e-2."""
    return (err.groupby("method", sort=False)["rel_err"]
            .agg(n="size", median="median", mean="mean",
                 frac_below_1e_2=lambda v: float((v < 1e-2).mean())).reset_index())


def baseline_losses(err: pd.DataFrame) -> dict:
    """Mean of rel_err^2 of the plain algorithms (role ``baseline``, else the methods named omp/iht):
    the loss of a baseline that has no training history (equals the MSE when ||x|| = 1)."""
    if "role" in err.columns:
        names = list(dict.fromkeys(err.loc[err["role"] == "baseline", "method"]))
    else:
        names = [m for m in err["method"].unique() if str(m).lower() in ("omp", "iht")]
    return {m: float((err.loc[err["method"] == m, "rel_err"] ** 2).mean()) for m in names}
