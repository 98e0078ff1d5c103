"""Soft vs hard figures: the temperature sweep, the reference's Fig. 2 with its bounds, and the
bound-vs-measured scatter. The statistics come from :mod:`greedybench.analysis.soft_vs_hard_study`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .fig_common import LEGEND_FS, TITLE_FS, fmt_list, wrap
from .soft_vs_hard_study import FLOOR, aggregate_soft_vs_hard

__all__ = ["soft_vs_hard_figures", "draw_difference_panels"]

_NEED = {"algorithm", "n", "tau", "geomean", "lo", "hi"}
_YLABEL = r"$\|x^{(n)} - \tilde x^{(n)}\|_2 / \|x^{(n)}\|_2$"


def draw_difference_panels(fig: Figure, t: pd.DataFrame, *, bounds: bool, title_of) -> list:
    """One log-log panel per algorithm: the geometric-mean difference per iteration n with its band,
    the dashed bound where finite, the 1e-12 floor. Returns the algorithms in order."""
    algos = list(dict.fromkeys(t["algorithm"]))
    axes = np.atleast_1d(fig.subplots(1, len(algos), sharey=True))
    for ax, algo in zip(axes, algos):
        g = t[t["algorithm"] == algo]
        ns = sorted(g["n"].unique())
        for col, n in zip(sns.color_palette("viridis", len(ns)), ns):
            c = g[g["n"] == n].sort_values("tau")
            ax.plot(c["tau"], c["geomean"], "o-", color=col, ms=3.5, label=f"n = {n}")
            ax.fill_between(c["tau"], c["lo"], c["hi"], color=col, alpha=0.2, lw=0)
            if bounds and "bound_geomean" in c.columns:
                b = pd.to_numeric(c["bound_geomean"], errors="coerce")
                if np.isfinite(b).any():
                    ax.plot(c["tau"], b, "--", color=col, lw=1.3, label=f"bound, n = {n}")
        ax.axhline(FLOOR, color="grey", lw=0.8, ls=":", label="floor 1e-12 (identical)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"softsort temperature $\tau$")
        ax.set_ylabel(_YLABEL)
        ax.set_title(title_of(algo, g), fontsize=TITLE_FS)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=LEGEND_FS, ncol=2 if bounds else 1)
    return algos


def soft_vs_hard_figures(man, csv, fig2=None):
    """The pipeline's soft-vs-hard table (per-problem rows or geometric means) and its Fig. 2."""
    _fig2(man, fig2)
    fid = "soft_vs_hard"
    if csv is None or not Path(csv).is_file():
        man.skip(fid, "soft_vs_hard", "no soft-vs-hard CSV given" if csv is None else f"{csv} not found")
        return
    t = pd.read_csv(csv)
    if "geomean" not in t.columns and {"tau", "diff"} <= set(t.columns):
        t = aggregate_soft_vs_hard(t)
    if _NEED - set(t.columns):
        man.skip(fid, "soft_vs_hard", f"CSV lacks columns {sorted(_NEED - set(t.columns))}")
        return
    n_alg = t["algorithm"].nunique()
    fig = Figure(figsize=(5.0 * n_alg, 4.6), layout="constrained")
    algos = draw_difference_panels(
        fig, t, bounds=True,
        title_of=lambda a, g: str(a) if "/" in str(a) else f"Soft-{a} vs {a}")
    title = "Difference between soft and hard iterates vs temperature"
    fig.suptitle(wrap(title, 5.0 * n_alg, 11), fontsize=11)
    src = man.source(fid, t)
    cap = (f"Relative difference between the n-th iterate of each hard algorithm and of its "
           f"soft (SoftSort) relaxation on the same (A, y), as a function of the temperature tau "
           f"(reference Fig. 2). Curves: geometric mean over trials (1e-12 added before the log, so "
           f"1e-12 means identical); bands: columns lo-hi of the source; dashed: the computed "
           f"perturbation bound where given. Algorithms: {fmt_list(algos)}; iterations n: "
           f"{fmt_list(sorted(t['n'].unique()))}; tau from {t['tau'].min():.2g} to {t['tau'].max():.2g}.")
    man.add(fid, fig, cap, "soft_vs_hard", [src], title)


def _step_title(algo, g):
    step = g["step"].dropna().unique() if "step" in g.columns else []
    return f"Soft-{algo} vs {algo}" + (f" (step {step[0]:g})" if len(step) else "")


def _fig2(man, csv):
    """Fig. 2 panels from fig2.csv (per-iteration geometric means with the Theorem 1/2 bounds) and
    the bound-vs-measured scatter; nothing (and no skip entry) when not given."""
    if csv is None:
        return
    if not Path(csv).is_file():
        man.skip("fig2", "soft_vs_hard", f"{csv} not found")
        return
    t = pd.read_csv(csv)
    if _NEED - set(t.columns) or t.empty:
        man.skip("fig2", "soft_vs_hard", f"{csv}: no rows" if t.empty else
                 f"{csv} lacks columns {sorted(_NEED - set(t.columns))}")
        return
    has_b = "bound_geomean" in t.columns and np.isfinite(pd.to_numeric(t["bound_geomean"], errors="coerce")).any()
    n_alg = t["algorithm"].nunique()
    fig = Figure(figsize=(5.0 * n_alg, 4.8), layout="constrained")
    algos = draw_difference_panels(fig, t, bounds=has_b, title_of=_step_title)
    first = t.iloc[0]
    setup = ", ".join(f"{k} = {first[k]:g}" for k in ("m", "N", "s", "sigma") if k in t.columns)
    trials = ", ".join(f"{a}: {int(t.loc[t['algorithm'] == a, 'trials'].max())}" for a in algos) \
        if "trials" in t.columns and t["trials"].notna().all() else "?"
    title = "Fig. 2: soft vs hard iterates against the temperature, with the Theorem 1/2 bounds"
    fig.suptitle(wrap(title, 5.0 * n_alg, 11), fontsize=11)
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
           + "; ".join(f"{a}: {fmt_list(sorted(t.loc[t['algorithm'] == a, 'n'].unique()))}" for a in algos)
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
    fig = Figure(figsize=(5.8, 5.4), layout="constrained")
    ax = fig.subplots()
    markers = dict(zip(algos, "osD^v<>"))
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
    ax.legend(fontsize=LEGEND_FS)
    title = "Bound vs measured difference error (Fig. 2 grid)"
    ax.set_title(wrap(title, 5.6), fontsize=TITLE_FS)
    nontriv = d[d["measured_finite_geomean"] > 10 * FLOOR]
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
