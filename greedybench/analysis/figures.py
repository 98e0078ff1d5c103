"""Figures, their captions and sidecar CSVs, the summary table and the manifest.

``make_figures`` reads the long results table (one row per problem, docs/architecture.md) and
optional extras, and writes into ``out_dir``:

- ``<figure>.png`` (dpi 110) for each figure drawn, and ``data/<figure>.csv``, the exact rows or
  aggregates it was drawn from;
- ``summary.csv`` (per solver and problem class: rho* at each delta, area under rho*(delta),
  median time per problem where successful, success rate) and ``transitions.csv`` (every fit);
- ``manifest.json``: for each figure its file, caption, source CSVs and the SHA-256 of their
  bytes; for each figure not drawn, the reason.

Matplotlib is used through ``matplotlib.figure.Figure`` only (no pyplot global state), and PNG
metadata is stripped so that the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .l1 import l1_weak_curve, rho_weak
from .phase import success_rates, transition_curve
from ..storage import atomic_write_bytes

__all__ = ["make_figures", "CRITERIA", "write_atomic"]

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
DPI = 110
CRITERIA = {
    "success": "relative l2 error <= threshold",
    "exact_support": "exact support recovery (top-s of |x_hat| = true support)",
    "success_linf": "relative l-inf error <= threshold (GAGA rule)",
}
_PNG_META = {"Software": None}
_L1_STYLE = dict(color="black", ls="--", lw=1.4, label=r"$\ell_1$ weak threshold $\rho_W^{\pm}$")


# ---------------------------------------------------------------------------------------- utils


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (the pipeline's writer: temp file, fsync, rename)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    atomic_write_bytes(path, data)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode("utf-8")


def _slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def _setting(config, name, default=None):
    """Look a setting up in config["analysis"], then at the top level of config."""
    if not isinstance(config, dict):
        return default
    for scope in (config.get("analysis"), config.get("success"), config):
        if isinstance(scope, dict) and scope.get(name) is not None:
            return scope[name]
    return default


def _fmt_list(values, fmt="{:g}", limit=12) -> str:
    vals = [fmt.format(v) if isinstance(v, (int, float, np.floating, np.integer)) else str(v)
            for v in values]
    if len(vals) > limit:
        vals = vals[: limit // 2] + ["..."] + vals[-limit // 2:]
    return ", ".join(vals)


def _save(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_META)
    write_atomic(path, buf.getvalue())


class _Manifest:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.figures: list[dict] = []
        self.skipped: list[dict] = []

    def source(self, name: str, df: pd.DataFrame) -> dict:
        data = _csv_bytes(df)
        rel = Path("data") / f"{name}.csv"
        write_atomic(self.out_dir / rel, data)
        return {"path": rel.as_posix(), "sha256": hashlib.sha256(data).hexdigest(),
                "rows": int(len(df))}

    def add(self, fig_id: str, fig: Figure, caption: str, kind: str, sources: list[dict],
            title: str) -> None:
        rel = f"{fig_id}.png"
        _save(fig, self.out_dir / rel)
        self.figures.append({
            "id": fig_id, "kind": kind, "title": title, "file": rel, "caption": caption,
            "source_csv": sources[0]["path"], "source_sha256": sources[0]["sha256"],
            "source_rows": sources[0]["rows"], "sources": sources,
        })

    def skip(self, fig_id: str, kind: str, reason: str) -> None:
        self.skipped.append({"id": fig_id, "kind": kind, "reason": reason})


# ------------------------------------------------------------------------------------- loading


def _read_table(src) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        return src.copy()
    src = Path(src)
    if src.suffix == ".parquet":
        return pd.read_parquet(src)
    return pd.read_csv(src)


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    need = {"solver", "family", "delta", "rho", "success"}
    missing = need - set(df.columns)
    if missing:
        raise KeyError(f"make_figures: results table lacks columns {sorted(missing)}")
    d = df.copy()
    for col in ("success", "exact_support", "success_linf"):
        if col in d.columns:
            d[col] = d[col].astype(str).str.lower().isin(("true", "1", "1.0")) \
                if d[col].dtype == object else d[col].astype(bool)
    d["delta"] = d["delta"].astype(float).round(6)
    d["rho"] = d["rho"].astype(float).round(6)
    # one problem class per family, or per (family, N) when a family was run at several N
    if "N" in d.columns:
        many = d.groupby("family")["N"].nunique()
        d["problem_class"] = [f"{f} (N={int(n)})" if many.get(f, 1) > 1 else str(f)
                              for f, n in zip(d["family"], d["N"])]
    else:
        d["problem_class"] = d["family"].astype(str)
    if "experiment" in d.columns and d["experiment"].nunique() > 1:  # never pool two experiments
        d["problem_class"] = d["experiment"].astype(str) + ": " + d["problem_class"]
    return d


def _describe(d: pd.DataFrame, config, criterion: str | None = None) -> str:
    """One sentence on exactly what was run, from the rows themselves."""
    parts = [f"solvers: {_fmt_list(sorted(d['solver'].unique()), limit=20)}"]
    for col, label in (("ensemble", "ensemble"), ("signal", "signal")):
        if col in d.columns:
            parts.append(f"{label}: {_fmt_list(sorted(d[col].astype(str).unique()))}")
    if "N" in d.columns:
        parts.append(f"N = {_fmt_list(sorted(d['N'].unique()))}")
    parts.append(f"delta = m/N in {{{_fmt_list(sorted(d['delta'].unique()))}}}")
    parts.append(f"rho = s/m from {d['rho'].min():.3g} to {d['rho'].max():.3g} "
                 f"({d.groupby('delta')['rho'].nunique().max()} values per delta at most)")
    cells = d.groupby(["solver", "problem_class", "delta", "rho"]).size()
    parts.append(f"{cells.min()}" + (f"-{cells.max()}" if cells.max() != cells.min() else "")
                 + " trials per cell")
    if "sigma" in d.columns:
        parts.append(f"noise sigma = {_fmt_list(sorted(d['sigma'].unique()))}")
    if criterion == "success":
        thr = _setting(config, "threshold", None)
        if thr is None and "threshold" in d.columns:
            thr = _fmt_list(sorted(d["threshold"].unique()))
        parts.append(f"success: rel_err <= {thr if thr is not None else '(threshold not recorded)'}")
    elif criterion == "success_linf":
        thr = _setting(config, "linf_threshold", None)
        parts.append(f"success: linf_err <= {thr if thr is not None else '(threshold not recorded)'}")
    elif criterion == "exact_support":
        parts.append("success: exact support recovery")
    for col, label in (("device", "device"), ("dtype", "dtype")):
        if col in d.columns:
            parts.append(f"{label}: {_fmt_list(sorted(d[col].astype(str).unique()))}")
    return "; ".join(parts) + "."


# ------------------------------------------------------------------------------- phase diagrams


def _edges(values: np.ndarray, lo=None, hi=None) -> np.ndarray:
    v = np.asarray(sorted(values), dtype=float)
    if v.size == 1:
        half = 0.025
        return np.array([v[0] - half, v[0] + half])
    mid = 0.5 * (v[1:] + v[:-1])
    first = v[0] - (mid[0] - v[0])
    last = v[-1] + (v[-1] - mid[-1])
    e = np.concatenate([[first], mid, [last]])
    if lo is not None:
        e[0] = max(e[0], lo)
    if hi is not None:
        e[-1] = min(e[-1], hi)
    return e


def _draw_cells(ax, cells: pd.DataFrame, value_col: str, *, cmap=None, norm=None, colors=None):
    """Draw one rectangle per (delta, rho) cell: rho grids may differ between deltas."""
    dx = _edges(cells["delta"].unique(), 0.0, 1.0)
    deltas = np.sort(cells["delta"].unique())
    mesh = None
    for j, delta in enumerate(deltas):
        col = cells[cells["delta"] == delta].sort_values("rho")
        ry = _edges(col["rho"].to_numpy(), 0.0, None)
        if colors is not None:
            for i, c in enumerate(col[value_col]):
                ax.fill_between([dx[j], dx[j + 1]], ry[i], ry[i + 1], color=colors(c), lw=0)
        else:
            mesh = ax.pcolormesh([dx[j], dx[j + 1]], ry, col[value_col].to_numpy()[:, None],
                                 cmap=cmap, norm=norm, shading="flat")
    return mesh


def _draw_curve(ax, curve: pd.DataFrame, color, label, band=True):
    c = curve.sort_values("delta")
    ok = np.isfinite(c["rho_star"].to_numpy())
    ax.plot(c["delta"][ok], c["rho_star"][ok], "o-", color=color, ms=3.5, lw=1.6, label=label)
    if band:
        b = c[np.isfinite(c["ci_lo"]) & np.isfinite(c["ci_hi"])]
        if len(b):
            ax.fill_between(b["delta"], b["ci_lo"], b["ci_hi"], color=color, alpha=0.25, lw=0)
    up = c[c["flag"] == "all_success"]
    dn = c[c["flag"] == "all_failure"]
    if len(up):
        ax.plot(up["delta"], up["rho_star_bound"], "^", color=color, ms=6, mfc="none")
    if len(dn):
        ax.plot(dn["delta"], dn["rho_star_bound"], "v", color=color, ms=6, mfc="none")


def _draw_l1(ax):
    d, r = l1_weak_curve()
    ax.plot(d, r, **_L1_STYLE)


def _solver_colors(solvers):
    import seaborn as sns
    pal = sns.color_palette("tab10" if len(solvers) <= 10 else "husl", len(solvers))
    return {s: pal[i] for i, s in enumerate(sorted(solvers))}


def _phase_figures(man, d, config, criterion, rates, curves, colors):
    from matplotlib.colors import Normalize
    crit_label = CRITERIA[criterion]
    tag = "success" if criterion == "success" else criterion.replace("_", "-")
    for pclass, sub in d.groupby("problem_class", sort=True):
        solvers = sorted(sub["solver"].unique())
        r_cls = rates[rates["problem_class"] == pclass]
        c_cls = curves[curves["problem_class"] == pclass]
        rho_top = float(max(sub["rho"].max() * 1.05, 0.1))
        # (1)/(3) heatmaps, one panel per solver
        ncol = min(3, len(solvers))
        nrow = math.ceil(len(solvers) / ncol)
        fig = Figure(figsize=(4.3 * ncol + 0.8, 3.6 * nrow), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False)
        norm = Normalize(0.0, 1.0)
        mesh = None
        for ax, solver in zip(axes.flat, solvers):
            cells = r_cls[r_cls["solver"] == solver]
            mesh = _draw_cells(ax, cells, "rate", cmap="viridis", norm=norm) or mesh
            _draw_curve(ax, c_cls[c_cls["solver"] == solver], "white", "fitted 50 % (95 % CI)")
            _draw_l1(ax)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, rho_top)
            ax.set_title(solver, fontsize=10)
            ax.set_xlabel(r"$\delta = m/N$ (undersampling, dimensionless)")
            ax.set_ylabel(r"$\rho = s/m$ (sparsity per measurement)")
        for ax in list(axes.flat)[len(solvers):]:
            ax.set_visible(False)
        if mesh is not None:
            fig.colorbar(mesh, ax=axes, label=f"empirical P({criterion})", shrink=0.9)
        axes.flat[0].legend(loc="upper left", fontsize=7, framealpha=0.8)
        title = f"Phase diagram ({crit_label}), {pclass}"
        fig.suptitle(title, fontsize=11)
        fid = f"phase_{tag}_{_slug(pclass)}"
        src = man.source(fid, r_cls)
        fits = man.source(f"{fid}_fits", c_cls)
        cap = (f"Empirical probability of {crit_label} per (delta, rho) cell, one panel per solver, "
               f"problem class {pclass}. White: logistic 50 % point rho*(delta) fitted by maximum "
               f"likelihood per delta, with its bootstrap 95 % band (trials resampled per cell); "
               f"open triangles mark deltas where every cell succeeded (rho* above the grid) or "
               f"failed (below). Dashed: l1 weak threshold rho_W(delta), computed. "
               + _describe(sub, config, criterion))
        man.add(fid, fig, cap, f"phase_{criterion}", [src, fits], title)

        # (2) overlay of all solvers' 50 % curves
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.subplots()
        for solver in solvers:
            _draw_curve(ax, c_cls[c_cls["solver"] == solver], colors[solver], solver)
        _draw_l1(ax)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, rho_top)
        ax.set_xlabel(r"$\delta = m/N$ (undersampling, dimensionless)")
        ax.set_ylabel(r"50 % transition $\rho^* = s/m$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        title = f"50 % phase transitions ({crit_label}), {pclass}"
        ax.set_title(title, fontsize=10)
        fid = f"transitions_{tag}_{_slug(pclass)}"
        src = man.source(fid, c_cls)
        cap = (f"Fitted 50 % transition curves rho*(delta) of every solver for {crit_label}, "
               f"problem class {pclass}, with bootstrap 95 % bands; dashed: l1 weak threshold. "
               "Above a curve the solver fails more often than not. " + _describe(sub, config, criterion))
        man.add(fid, fig, cap, f"transitions_{criterion}", [src], title)


# ---------------------------------------------------------------------------- selection maps


def _selection_maps(man, d, config, colors, min_rate):
    if "time_per_problem_s" not in d.columns:
        man.skip("selection_map", "selection_map", "results table has no time_per_problem_s column")
        return
    group_cols = ["problem_class"] + [c for c in ("device", "dtype") if c in d.columns]
    for key, sub in d.groupby(group_cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = (sub.groupby(["solver", "delta", "rho"])
                 .agg(rate=("success", "mean"), n_trials=("success", "size"),
                      median_time_s=("time_per_problem_s", "median")).reset_index())
        ok = cells[cells["rate"] >= min_rate]
        best = ok.sort_values(["delta", "rho", "median_time_s", "solver"]).groupby(
            ["delta", "rho"], as_index=False).first()
        grid = cells[["delta", "rho"]].drop_duplicates()
        sel = grid.merge(best, on=["delta", "rho"], how="left")
        sel["winner"] = sel["solver"].fillna("(none)")
        sel = sel.drop(columns=["solver"]).sort_values(["delta", "rho"])
        winners = sorted(w for w in sel["winner"].unique() if w != "(none)")
        cmap = dict(colors)
        cmap["(none)"] = (0.88, 0.88, 0.88)
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.subplots()
        _draw_cells(ax, sel, "winner", colors=lambda w: cmap[w])
        _draw_l1(ax)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, float(max(sub["rho"].max() * 1.05, 0.1)))
        ax.set_xlabel(r"$\delta = m/N$ (undersampling, dimensionless)")
        ax.set_ylabel(r"$\rho = s/m$ (sparsity per measurement)")
        handles = [Patch(color=cmap[w], label=w) for w in winners]
        handles.append(Patch(color=cmap["(none)"], label=f"no solver reaches {min_rate:g}"))
        handles.append(Line2D([], [], **_L1_STYLE))
        ax.legend(handles=handles, fontsize=7, loc="upper left")
        label = ", ".join(str(k) for k in key)
        title = f"Algorithm selection map, {label}"
        ax.set_title(title, fontsize=10)
        fid = f"selection_{_slug(label)}"
        src = man.source(fid, sel)
        cap = (f"Fastest reliable solver per (delta, rho) cell ({label}): among the solvers whose "
               f"empirical success rate in the cell is at least {min_rate:g}, the one with the "
               "smallest median time per problem over all trials of the cell (you pay for the "
               "failed trials too); grey where no solver reaches that rate. Times are only "
               "comparable within one device and dtype, hence one map per device. "
               + _describe(sub, config, "success"))
        man.add(fid, fig, cap, "selection_map", [src], title)


# ---------------------------------------------------------------------------------- runtimes


def _runtime_figures(man, timing_csv):
    if timing_csv is None or not Path(timing_csv).is_file():
        why = "no timing CSV given" if timing_csv is None else f"timing CSV {timing_csv} not found"
        man.skip("runtime_vs_N", "runtime", why)
        man.skip("runtime_vs_batch", "runtime", why)
        return
    t = pd.read_csv(timing_csv)
    if "batch" not in t.columns and "batch_size" in t.columns:  # the pipeline's timing table
        t = t.rename(columns={"batch_size": "batch"})
    need = {"solver", "device", "N", "batch", "time_per_problem_s"}
    if need - set(t.columns):
        why = f"timing CSV lacks columns {sorted(need - set(t.columns))}"
        man.skip("runtime_vs_N", "runtime", why)
        man.skip("runtime_vs_batch", "runtime", why)
        return
    if "dtype" not in t.columns:
        t["dtype"] = "?"
    colors = _solver_colors(t["solver"].unique())
    devices = sorted(t["device"].astype(str).unique())
    styles = dict(zip(devices, ["-", "--", ":", "-."] * 4))
    markers = dict(zip(devices, ["o", "s", "^", "D"] * 4))
    keys = ["solver", "device", "dtype"]
    what = (f"solvers: {_fmt_list(sorted(t['solver'].unique()), limit=20)}; devices: "
            f"{_fmt_list(devices)}; dtypes: {_fmt_list(sorted(t['dtype'].astype(str).unique()))}")
    if "threads" in t.columns:
        what += f"; threads: {_fmt_list(sorted(t['threads'].unique()))}"
    if "repeats" in t.columns:
        what += f"; repeats per point: {_fmt_list(sorted(t['repeats'].unique()))}"
    if "m" in t.columns:
        t["delta_t"] = (t["m"] / t["N"]).round(3)
        what += f"; m/N = {_fmt_list(sorted(t['delta_t'].unique()))}"

    for axis, other, fid in (("N", "batch", "runtime_vs_N"), ("batch", "N", "runtime_vs_batch")):
        # at the largest value of the other variable available to each (solver, device, dtype)
        if "sweep" in t.columns and (t["sweep"] == axis).any():
            src_rows = t[t["sweep"] == axis]  # rows timed for this sweep
        else:
            src_rows = t
        top = src_rows.groupby(keys)[other].transform("max")
        sub = src_rows[src_rows[other] == top]
        agg = (sub.groupby(keys + [axis]).agg(time_per_problem_s=("time_per_problem_s", "median"),
                                             **{other: (other, "first")}, rows=(axis, "size"))
               .reset_index().sort_values(keys + [axis]))
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.subplots()
        for (solver, device, dtype), g in agg.groupby(keys):
            ax.plot(g[axis], g["time_per_problem_s"], ls=styles[str(device)],
                    marker=markers[str(device)], color=colors[solver], ms=4,
                    label=f"{solver} ({device}, {dtype})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("problem size N (columns of A)" if axis == "N" else "batch size B (problems per call)")
        ax.set_ylabel("time per problem (s)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2 if agg.groupby(keys).ngroups > 6 else 1)
        title = "Time per problem vs " + ("N" if axis == "N" else "batch size")
        ax.set_title(title, fontsize=10)
        src = man.source(fid, agg)
        cap = (f"{title} (log-log), median over the timing rows of each point, each curve at the "
               f"largest {'batch size' if other == 'batch' else 'N'} timed for that solver, device "
               f"and dtype (column '{other}' of the source CSV). Time per problem = batch wall time "
               f"/ batch size. {what}.")
        man.add(fid, fig, cap, "runtime", [src], title)


# ------------------------------------------------------------------------------ soft vs hard


def _aggregate_soft_vs_hard(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-problem rows (pipeline: pair, tau, diff, bound ...) -> geometric means per tau, as in
    the reference: 10^mean(log10(diff + 1e-12)), band 10^(mean +- std)."""
    r = rows.copy()
    r["algorithm"] = r["pair"] if "pair" in r.columns else r.get("hard_solver", "algorithm")
    if "n" not in r.columns:
        r["n"] = r["n_iter"] if "n_iter" in r.columns else "final"
    r["_l"] = np.log10(r["diff"].astype(float) + 1e-12)
    has_bound = "bound" in r.columns and pd.to_numeric(r["bound"], errors="coerce").notna().any()
    if has_bound:  # geometric mean over the finite bounds only (an infinite one is vacuous)
        b = pd.to_numeric(r["bound"], errors="coerce")
        r["_b"] = np.log10(b.where(np.isfinite(b)) + 1e-12)
    g = r.groupby(["algorithm", "n", "tau"], sort=True)
    out = g["_l"].agg(["mean", "std", "size"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["geomean"] = 10 ** out["mean"]
    out["lo"] = 10 ** (out["mean"] - out["std"])
    out["hi"] = 10 ** (out["mean"] + out["std"])
    out = out.rename(columns={"size": "trials"}).drop(columns=["mean", "std"])
    if has_bound:  # nan where no bound of the group is finite (not drawn)
        out["bound_geomean"] = 10 ** g["_b"].mean().to_numpy()
    return out


def _soft_vs_hard(man, csv, fig2=None):
    _fig2(man, fig2)
    fid = "soft_vs_hard"
    if csv is None or not Path(csv).is_file():
        man.skip(fid, "soft_vs_hard", "no soft-vs-hard CSV given" if csv is None else f"{csv} not found")
        return
    t = pd.read_csv(csv)
    if "geomean" not in t.columns and {"tau", "diff"} <= set(t.columns):
        t = _aggregate_soft_vs_hard(t)
    need = {"algorithm", "n", "tau", "geomean", "lo", "hi"}
    if need - set(t.columns):
        man.skip(fid, "soft_vs_hard", f"CSV lacks columns {sorted(need - set(t.columns))}")
        return
    algos = list(dict.fromkeys(t["algorithm"]))
    fig = Figure(figsize=(5.0 * len(algos), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(algos), sharey=True))
    import seaborn as sns
    for ax, algo in zip(axes, algos):
        g = t[t["algorithm"] == algo]
        ns = sorted(g["n"].unique())
        pal = sns.color_palette("viridis", len(ns))
        for col, n in zip(pal, ns):
            c = g[g["n"] == n].sort_values("tau")
            ax.plot(c["tau"], c["geomean"], "o-", color=col, ms=3.5, label=f"n = {n}")
            ax.fill_between(c["tau"], c["lo"], c["hi"], color=col, alpha=0.2, lw=0)
            if "bound_geomean" in c.columns and np.isfinite(c["bound_geomean"].astype(float)).any():
                ax.plot(c["tau"], c["bound_geomean"], "--", color=col, lw=1.2,
                        label=f"bound, n = {n}")
        ax.axhline(1e-12, color="grey", lw=0.8, ls=":", label="floor 1e-12 (identical)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"softsort temperature $\tau$")
        ax.set_ylabel(r"$\|x^{(n)} - \tilde x^{(n)}\|_2 / \|x^{(n)}\|_2$")
        ax.set_title(str(algo) if "/" in str(algo) else f"Soft-{algo} vs {algo}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    title = "Difference between soft and hard iterates vs temperature"
    fig.suptitle(title, fontsize=11)
    src = man.source(fid, t)
    cap = (f"Relative difference between the n-th iterate of each hard algorithm and of its "
           f"soft (SoftSort) relaxation on the same (A, y), as a function of the temperature tau "
           f"(reference Fig. 2). Curves: geometric mean over trials (1e-12 added before the log, so "
           f"1e-12 means identical); bands: columns lo-hi of the source; dashed: the computed "
           f"perturbation bound where given. Algorithms: {_fmt_list(algos)}; iterations n: "
           f"{_fmt_list(sorted(t['n'].unique()))}; tau from {t['tau'].min():.2g} to {t['tau'].max():.2g}.")
    man.add(fid, fig, cap, "soft_vs_hard", [src], title)



_FIG2_FLOOR = 1e-12


def _fig2(man, csv):
    """Fig. 2 panels from the pipeline's fig2.csv (per-iteration geometric means with the Theorem
    1/2 bounds) and the bound-vs-measured scatter; nothing (and no skip entry) when not given."""
    if csv is None:
        return
    if not Path(csv).is_file():
        man.skip("fig2", "soft_vs_hard", f"{csv} not found")
        return
    t = pd.read_csv(csv)
    need = {"algorithm", "n", "tau", "geomean", "lo", "hi"}
    if need - set(t.columns) or t.empty:
        man.skip("fig2", "soft_vs_hard", f"{csv}: no rows" if t.empty else
                 f"{csv} lacks columns {sorted(need - set(t.columns))}")
        return
    import seaborn as sns
    algos = list(dict.fromkeys(t["algorithm"]))
    has_b = "bound_geomean" in t.columns and np.isfinite(pd.to_numeric(t["bound_geomean"], errors="coerce")).any()
    fig = Figure(figsize=(5.0 * len(algos), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(algos), sharey=True))
    for ax, algo in zip(axes, algos):
        g = t[t["algorithm"] == algo]
        ns = sorted(g["n"].unique())
        for col, n in zip(sns.color_palette("viridis", len(ns)), ns):
            c = g[g["n"] == n].sort_values("tau")
            ax.plot(c["tau"], c["geomean"], "o-", color=col, ms=3.5, label=f"n = {n}")
            ax.fill_between(c["tau"], c["lo"], c["hi"], color=col, alpha=0.2, lw=0)
            if has_b:
                b = pd.to_numeric(c["bound_geomean"], errors="coerce")
                if np.isfinite(b).any():
                    ax.plot(c["tau"], b, "--", color=col, lw=1.3, label=f"bound, n = {n}")
        ax.axhline(_FIG2_FLOOR, color="grey", lw=0.8, ls=":", label="floor 1e-12 (identical)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"softsort temperature $\tau$")
        ax.set_ylabel(r"$\|x^{(n)} - \tilde x^{(n)}\|_2 / \|x^{(n)}\|_2$")
        step = g["step"].dropna().unique() if "step" in g.columns else []
        ax.set_title(f"Soft-{algo} vs {algo}" + (f" (step {step[0]:g})" if len(step) else ""), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    first = t.iloc[0]
    setup = ", ".join(f"{k} = {first[k]:g}" for k in ("m", "N", "s", "sigma") if k in t.columns)
    trials = ", ".join(f"{a}: {int(t.loc[t['algorithm'] == a, 'trials'].max())}" for a in algos) \
        if "trials" in t.columns else "?"
    title = "Fig. 2: soft vs hard iterates against the temperature, with the Theorem 1/2 bounds"
    fig.suptitle(title, fontsize=11)
    src = man.source("fig2", t)
    bound_txt = "no bounds computed (soft_vs_hard.bounds: false)."
    if has_b:
        viol = int(pd.to_numeric(t["violations"], errors="coerce").fillna(0).sum())
        bound_txt = (f"Dashed: geometric mean of the Theorem 1 (OMP) / Theorem 2 (IHT) bound divided by "
                     f"||x^n||, over the trials where it is finite (finite for "
                     f"{100 * float(pd.to_numeric(t['frac_finite']).mean()):.0f} % of all (trial, n, tau); "
                     f"missing where no trial's bound is finite); violations (bound < measured): {viol}.")
    cap = (f"Difference error ||x^n - x~^n|| / ||x^n|| between the n-th hard iterate and the soft (SoftSort) "
           f"one on the same (A, y), against tau (reference Fig. 2), log-log. Curves: geometric mean over "
           f"trials (1e-12 added before the log: 1e-12 means identical); bands: 10^(mean +- std of log10). "
           f"{bound_txt} Setup: family {first.get('family', '?')}, {setup}; trials {trials}; iterations "
           + "; ".join(f"{a}: {_fmt_list(sorted(t.loc[t['algorithm'] == a, 'n'].unique()))}" for a in algos)
           + f"; tau from {t['tau'].min():.2g} to {t['tau'].max():.2g}.")
    man.add("fig2", fig, cap, "soft_vs_hard", [src], title)
    if has_b:
        _fig2_scatter(man, t, algos, src)
    else:
        man.skip("fig2_bounds", "soft_vs_hard", "fig2.csv has no finite bound (soft_vs_hard.bounds: false?)")


def _fig2_scatter(man, t, algos, src):
    d = t.copy()
    for k in ("bound_geomean", "measured_finite_geomean", "tightness", "violations"):
        d[k] = pd.to_numeric(d[k], errors="coerce")
    d = d[np.isfinite(d["bound_geomean"]) & np.isfinite(d["measured_finite_geomean"])]
    if d.empty:
        man.skip("fig2_bounds", "soft_vs_hard", "no (n, tau) with a finite bound")
        return
    fig = Figure(figsize=(5.6, 5.0), layout="constrained")
    ax = fig.subplots()
    markers = dict(zip(algos, "osD^v<>"))
    import seaborn as sns
    for algo in algos:
        g = d[d["algorithm"] == algo]
        ns = sorted(t.loc[t["algorithm"] == algo, "n"].unique())
        for col, n in zip(sns.color_palette("viridis", len(ns)), ns):
            c = g[g["n"] == n]
            if len(c):
                ax.scatter(c["measured_finite_geomean"], c["bound_geomean"], marker=markers[algo], color=col,
                           s=22, edgecolor="k", lw=0.3, label=f"{algo}, n = {n}")
    lo = min(d["measured_finite_geomean"].min(), d["bound_geomean"].min()) / 2
    hi = max(d["measured_finite_geomean"].max(), d["bound_geomean"].max()) * 2
    ax.plot([lo, hi], [lo, hi], color="k", lw=1.0, label="bound = measured")
    ax.fill_between([lo, hi], [lo / 1e3, hi / 1e3], [lo, hi], color="red", alpha=0.08, lw=0,
                    label="violation region")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured ||x^n - x~^n|| / ||x^n|| (geo. mean, finite-bound trials)")
    ax.set_ylabel("bound / ||x^n|| (geometric mean)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    title = "Bound vs measured difference error (Fig. 2 grid)"
    ax.set_title(title, fontsize=10)
    nontriv = d[d["measured_finite_geomean"] > 10 * _FIG2_FLOOR]
    parts = []
    for algo in algos:
        r = nontriv.loc[nontriv["algorithm"] == algo, "tightness"].dropna()
        if len(r):
            parts.append(f"{algo}: median {r.median():.3g} (range {r.min():.3g} - {r.max():.3g}, {len(r)} points)")
        else:
            parts.append(f"{algo}: no point above the 1e-12 floor with a finite bound")
    viol = int(d["violations"].fillna(0).sum())
    cap = (f"Each point is one (algorithm, n, tau) of the Fig. 2 grid with at least one finite bound: x the "
           f"measured difference error, y the bound divided by ||x^n||, both geometric means over the trials "
           f"whose bound is finite. Above the diagonal means valid; violations (a trial whose finite bound "
           f"is below its measured error by more than rounding): {viol}. Tightness ratio (geometric mean over "
           f"those trials of (bound + 1e-12) / (measured + 1e-12)), over the points whose measured error is "
           f"above 1e-11: " + "; ".join(parts) + f". {len(d)} of {len(t)} grid points have a finite bound.")
    man.add("fig2_bounds", fig, cap, "soft_vs_hard", [src], title)


# ---------------------------------------------------------------------------------- training


def _training(man, training):
    """Fig. 3 panels per trained net. ``training[net]``: ``loss_csv`` (epoch, train_loss, val_loss),
    ``weights_csv`` (index, weight, in_hidden_set), ``errors_csv`` (method, rel_err, optional role =
    net / baseline), optional ``baselines`` ({name: loss}) and ``description``. An empty loss or
    weights table (a net without history or selection weights) leaves its panel out."""
    if not training:
        man.skip("training", "training", "no trained nets given (extras['training'])")
        return
    import seaborn as sns
    for net, spec in training.items():
        fid = f"training_{_slug(net)}"
        paths = {k: spec.get(k) for k in ("loss_csv", "weights_csv", "errors_csv")}
        missing = [k for k, p in paths.items() if p is None or not Path(p).is_file()]
        if missing:
            man.skip(fid, "training", f"{net}: missing {', '.join(missing)}")
            continue
        loss = pd.read_csv(paths["loss_csv"])
        w = pd.read_csv(paths["weights_csv"])
        err = pd.read_csv(paths["errors_csv"])
        if err.empty:
            man.skip(fid, "training", f"{net}: no test errors in {paths['errors_csv']}")
            continue
        has_loss = len(loss) > 0 and {"epoch", "train_loss", "val_loss"} <= set(loss.columns)
        has_w = len(w) > 0 and {"index", "weight", "in_hidden_set"} <= set(w.columns)
        panels = ["loss"] * has_loss + ["weights"] * has_w + ["errors"]
        fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
        axes = dict(zip(panels, np.atleast_1d(fig.subplots(1, len(panels)))))
        letters = dict(zip(panels, "abc"))
        baselines = spec.get("baselines")
        base_note = "given with the run"
        if not baselines:  # mean squared relative error of the plain algorithms (= MSE if ||x|| = 1)
            base_note = "mean of rel_err^2 over the test samples (equals the MSE when ||x|| = 1)"
            if "role" in err.columns:
                names = list(dict.fromkeys(err.loc[err["role"] == "baseline", "method"]))
            else:
                names = [m for m in err["method"].unique() if str(m).lower() in ("omp", "iht")]
            baselines = {m: float((err.loc[err["method"] == m, "rel_err"] ** 2).mean()) for m in names}
        k = 0
        if has_loss:  # (a) loss curves with baselines
            ax1 = axes["loss"]
            ax1.plot(loss["epoch"], loss["train_loss"], lw=1.0, label="train")
            ax1.plot(loss["epoch"], loss["val_loss"], lw=1.0, label="validation")
            if loss["val_loss"].notna().any():
                best = loss.loc[loss["val_loss"].idxmin()]
                ax1.axhline(best["val_loss"], color="C2", ls=":", lw=1.2,
                            label=f"best net (epoch {int(best['epoch'])}): {best['val_loss']:.3g}")
            curves = pd.concat([loss["train_loss"], loss["val_loss"]]).dropna()
            curves = curves[curves > 0]
            top = float(curves.max()) * 30 if len(curves) else None
            for i, (name, val) in enumerate(baselines.items()):
                if val > 0 and np.isfinite(val):  # one far above the curves: in the legend only
                    off = top is not None and val > top
                    ax1.axhline(val, color=f"C{3 + i}", ls="--", lw=1.2,
                                label=f"{name}: {val:.3g}" + (" (off the axis)" if off else ""))
            ax1.set_yscale("log")
            if top is not None:
                vis = [v for v in baselines.values() if 0 < v <= top] + [float(curves.min())]
                ax1.set_ylim(min(vis) / 2, top)
            ax1.set_xlabel("epoch")
            ax1.set_ylabel("loss (MSE, mean ||x_hat - x||^2)")
            ax1.set_title(f"({letters['loss']}) training and validation loss", fontsize=10)
            ax1.legend(fontsize=7)
            ax1.grid(alpha=0.3, which="both")
        if has_w:  # (b) learned |w| against the hidden set
            ax2 = axes["weights"]
            inT = w["in_hidden_set"].astype(str).str.lower().isin(("true", "1", "1.0"))
            ax2.vlines(w["index"][inT], 0, 1, color="0.75", lw=2.5, label="oracle weights 1_T")
            for mask, col, lab in ((~inT, "C0", "learned |w|, outside T"), (inT, "C3", "learned |w|, in T")):
                ax2.vlines(w["index"][mask], 0, w["weight"][mask].abs(), color=col, lw=0.9)
                ax2.plot(w["index"][mask], w["weight"][mask].abs(), "o", color=col, ms=2.5, label=lab)
            ax2.axhline(1.0, color="0.5", ls=":", lw=0.8, label="initial weights (ones)")
            ax2.set_xlabel("atom index i")
            ax2.set_ylabel("|w_i| (dimensionless)")
            k = int(inT.sum())
            top = set(w.loc[w["weight"].abs().nlargest(k).index, "index"]) if k else set()
            hits = len(top & set(w["index"][inT]))
            ax2.set_title(f"({letters['weights']}) learned weights: top-{k} |w| hit {hits}/{k} of T", fontsize=10)
            ax2.legend(fontsize=7)
        # (c) per-sample errors
        ax3 = axes["errors"]
        order = list(dict.fromkeys(err["method"]))
        floor = max(float(err["rel_err"][err["rel_err"] > 0].min()) if (err["rel_err"] > 0).any() else 1e-16, 1e-16)
        e = err.assign(rel_err=err["rel_err"].clip(lower=floor))
        with warnings.catch_warnings():  # seaborn 0.13 passes vert= to matplotlib >= 3.10
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*vert.*")
            sns.boxplot(data=e, x="rel_err", y="method", order=order, ax=ax3, orient="h",
                        log_scale=True, fliersize=2, color="C0")
        ax3.set_xlabel("relative l2 error ||x_hat - x|| / ||x|| (per test sample)")
        ax3.set_ylabel("")
        ax3.set_title(f"({letters['errors']}) test errors", fontsize=10)
        ax3.grid(alpha=0.3, axis="x")
        title = f"Trained net {net}"
        fig.suptitle(title, fontsize=11)
        summary = (err.groupby("method", sort=False)["rel_err"]
                   .agg(n="size", median="median", mean="mean",
                        frac_below_1e_2=lambda v: float((v < 1e-2).mean())).reset_index())
        sources = [man.source(f"{fid}_errors_summary", summary), man.source(f"{fid}_errors", err)]
        parts = []
        if has_loss:
            sources.append(man.source(f"{fid}_loss", loss))
            parts.append(f"({letters['loss']}) training and validation loss per epoch ({len(loss)} epochs), "
                         f"with the best validation epoch and the baselines ({base_note})")
        if has_w:
            sources.append(man.source(f"{fid}_weights", w))
            parts.append(f"({letters['weights']}) learned |w| per atom against the hidden set T (grey: oracle "
                         f"weights 1_T; dotted: the initial weights; N = {len(w)}, |T| = {k})")
        parts.append(f"({letters['errors']}) per-sample relative l2 errors on {int(summary['n'].max())} test "
                     f"samples for {_fmt_list(order)} (medians: "
                     + ", ".join(f"{r['method']} {r['median']:.2g}" for _, r in summary.iterrows()) + ")")
        left = [n for n, ok in (("loss history", has_loss), ("selection weights", has_w)) if not ok]
        cap = f"{net} (reference Fig. 3): " + "; ".join(parts) + "."
        if left:
            cap += f" Not drawn: {' and '.join(left)} (none recorded for this net)."
        if spec.get("description"):
            cap += " " + str(spec["description"])
        man.add(fid, fig, cap, "training", sources, title)


# ------------------------------------------------------------------------------------ summary


def _summary(d, curves, config) -> pd.DataFrame:
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
        for crit in ("success", "exact_support"):
            c = curves[(curves["criterion"] == crit) & (curves["solver"] == solver)
                       & (curves["problem_class"] == pclass)].sort_values("delta")
            if c.empty:
                continue
            sfx = "" if crit == "success" else f"_{crit}"
            fin = c[np.isfinite(c["rho_star"])]
            if len(fin) >= 2:
                dl = fin["delta"].to_numpy()
                row[f"auc_rho_star{sfx}"] = float(_trapezoid(fin["rho_star"], dl))
                row[f"auc_l1{sfx}"] = float(_trapezoid(rho_weak(dl), dl))
                row[f"auc_ratio_l1{sfx}"] = row[f"auc_rho_star{sfx}"] / row[f"auc_l1{sfx}"]
                row[f"auc_delta_range{sfx}"] = f"{dl.min():g}-{dl.max():g}"
            else:
                row[f"auc_rho_star{sfx}"] = np.nan
            row[f"n_deltas_degenerate{sfx}"] = int((~np.isfinite(c["rho_star"])).sum())
            if crit == "success":
                for _, r in c.iterrows():
                    row[f"rho_star@{r['delta']:g}"] = r["rho_star"]
        rows.append(row)
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------- entry point


def make_figures(results_csv, out_dir, config=None, *, extras=None) -> dict:
    """Draw every figure the inputs allow; write the PNGs, their sidecar CSVs, ``summary.csv``,
    ``transitions.csv`` and ``manifest.json`` into ``out_dir``, and return the manifest.

    Parameters
    ----------
    results_csv : path (.csv or .parquet) or DataFrame
        The long results table (docs/architecture.md). Needs solver, family, delta, rho, success;
        uses N, exact_support, success_linf, time_per_problem_s, device, dtype ... when present.
    out_dir : path
    config : dict, optional
        The run's configuration (parsed YAML). Read: ``analysis.threshold`` (or ``threshold``)
        for captions, ``analysis.n_boot`` (200), ``analysis.seed`` (0),
        ``analysis.selection_min_rate`` (0.5), ``analysis.ci_level`` (0.95).
    extras : dict, optional
        ``timing_csv`` (runtime figures; alias ``timing``; columns solver, device, dtype, N, m,
        batch or batch_size, time_per_problem_s, repeats, threads, optional sweep),
        ``soft_vs_hard_csv`` (Fig. 2 panels; alias ``soft_vs_hard``; columns algorithm, n, tau,
        geomean, lo, hi, optional bound_geomean, or the pipeline's per-problem rows with pair,
        tau, diff, bound, which are aggregated to geometric means), ``fig2_csv`` (alias ``fig2``;
        the pipeline's tables/fig2.csv: algorithm, n, tau, geomean, lo, hi and, with bounds,
        bound_geomean, frac_finite, violations, measured_finite_geomean, tightness -> the Fig. 2
        panels and the bound-vs-measured scatter), ``training``
        (``{net: {"loss_csv", "weights_csv", "errors_csv", "baselines": {name: loss}}}``, Fig. 3
        panels). A missing or unreadable extra is not drawn; the manifest says why.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extras = dict(extras or {})
    n_boot = int(_setting(config, "n_boot", 200))
    seed = int(_setting(config, "seed", 0))
    level = float(_setting(config, "ci_level", 0.95))
    min_rate = float(_setting(config, "selection_min_rate", 0.5))

    raw = _read_table(results_csv)
    d = _prepare(raw)
    man = _Manifest(out_dir)
    colors = _solver_colors(d["solver"].unique())

    all_curves = []
    for criterion in CRITERIA:
        if criterion not in d.columns:
            man.skip(f"phase_{criterion}", f"phase_{criterion}",
                     f"results table has no {criterion!r} column")
            continue
        rates = success_rates(d, criterion=criterion, by=("solver", "problem_class"))
        curves = []
        for (solver, pclass), cells in rates.groupby(["solver", "problem_class"], sort=True):
            c = transition_curve(cells, n_boot=n_boot, seed=seed, level=level)
            c.insert(0, "problem_class", pclass)
            c.insert(0, "solver", solver)
            curves.append(c)
        curves = pd.concat(curves, ignore_index=True)
        curves.insert(0, "criterion", criterion)
        all_curves.append(curves)
        _phase_figures(man, d, config, criterion, rates, curves, colors)
    curves = pd.concat(all_curves, ignore_index=True)

    _selection_maps(man, d, config, colors, min_rate)
    # the Snakemake rule names its inputs "timing" and "soft_vs_hard": accept both spellings
    _runtime_figures(man, extras.get("timing_csv", extras.get("timing")))
    _soft_vs_hard(man, extras.get("soft_vs_hard_csv", extras.get("soft_vs_hard")),
                  fig2=extras.get("fig2_csv", extras.get("fig2")))
    _training(man, extras.get("training"))

    summary = _summary(d, curves, config)
    write_atomic(out_dir / "summary.csv", _csv_bytes(summary))
    write_atomic(out_dir / "transitions.csv", _csv_bytes(curves))
    raw_bytes = _csv_bytes(raw)
    src_name = str(results_csv) if not isinstance(results_csv, pd.DataFrame) else "(DataFrame)"
    manifest = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "out_dir": str(out_dir.resolve()),
        "results": {"path": src_name, "rows": int(len(raw)),
                    "sha256": hashlib.sha256(raw_bytes).hexdigest()},
        "settings": {"n_boot": n_boot, "seed": seed, "ci_level": level,
                     "selection_min_rate": min_rate, "dpi": DPI},
        "summary_csv": "summary.csv",
        "transitions_csv": "transitions.csv",
        "figures": man.figures,
        "skipped": man.skipped,
        "extras": {k: str(v) for k, v in extras.items() if k != "training"},
    }
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
