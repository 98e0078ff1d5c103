"""Figures of the adaptive transition study (greedybench.pipeline.transitions):

- ``transition_curves_<family>``: rho*(delta) with its 95 % interval per solver, one panel per N,
  with the computed l1 weak curve rho_W(delta) and the measured AMP / basis-pursuit points on the
  same axes;
- ``transition_finite_size``: rho* against N at the finite-size delta, one panel per family.

Sources: the table ``tables/transitions.csv`` (one row per location) and every raw
(s, successes, trials) count of ``tables/transition_counts.csv``, both downloadable from the
report. Every caption states the success criterion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .fig_common import LEGEND_FS, TITLE_FS, draw_l1, solver_colors
from .l1 import rho_weak

__all__ = ["transition_figures", "criterion_text", "L1_REFERENCES"]

#: entries drawn as the measured l1 reference (markers, no line)
L1_REFERENCES = ("amp", "basis_pursuit")


def criterion_text(rule: str, threshold: float) -> str:
    if rule == "rel_l2":
        return f"success = relative l2 error ||x_hat - x||_2 / ||x||_2 <= {threshold:g}"
    if rule == "linf":
        return f"success = relative l-infinity error max|x_hat - x| / max|x| <= {threshold:g}"
    return "success = the s largest entries of x_hat are the true support"


def _criteria(t: pd.DataFrame) -> str:
    pairs = t[["rule", "threshold"]].drop_duplicates().itertuples(index=False)
    return "; ".join(criterion_text(r, float(th)) for r, th in pairs)


#: the y axis of every transition panel ends here; rho* above it is drawn at the edge
Y_TOP = 1.0


def _points(g: pd.DataFrame):
    """(y, yerr, open) for drawing rows of the table: rho* clipped to the axis, error bars to the
    interval (a one-sided interval, ci_lo = 0 or ci_hi = inf, runs to the axis edge) and a mask
    of the locations whose rho* lies outside the s range tried (flag extrapolated)."""
    rho = g["rho_star"].to_numpy(float)
    y = np.minimum(rho, Y_TOP)
    lo = np.clip(y - np.minimum(g["ci_lo"].to_numpy(float), Y_TOP), 0, None)
    hi = np.clip(np.minimum(g["ci_hi"].to_numpy(float), Y_TOP) - y, 0, None)
    return y, np.nan_to_num(np.vstack([lo, hi])), (g["flag"] == "extrapolated").to_numpy()


def _draw(ax, g: pd.DataFrame, color, label, reference: bool, x: str = "delta"):
    g = g.sort_values(x)
    y, yerr, open_ = _points(g)
    if reference:
        ax.errorbar(g[x], y, yerr=yerr, fmt="D--" if x == "N" else "D", ms=5, mfc="none",
                    color=color, capsize=2, lw=1, label=label)
    else:
        ax.errorbar(g[x], y, yerr=yerr, fmt="-o", ms=3, color=color, capsize=2, lw=1.2, label=label)
    if open_.any():   # outside the data: the point is the fit's extrapolation
        ax.plot(g[x].to_numpy()[open_], y[open_], "o", ms=6, mfc="white", color=color, zorder=3,
                clip_on=False)   # whole at the top edge


EXTRAPOLATED_NOTE = ("White-filled circles: rho* outside the range of s tried (flag extrapolated "
                     "in the table), the fit's extrapolation with a one-sided interval drawn to the "
                     "axis edge; rho* above 1 is drawn at 1.")


def _extrapolated_note(t: pd.DataFrame) -> str:
    return EXTRAPOLATED_NOTE + " " if (t["flag"] == "extrapolated").any() else ""


def transition_figures(man, table_csv, counts_csv=None, finite_size_delta: float = 0.5):
    """Draw the study's figures into ``man`` (fig_common.Manifest) from the merged tables."""
    ids = ["transition_curves", "transition_finite_size"]
    if table_csv is None or not Path(table_csv).is_file():
        why = "no transition table given" if table_csv is None else f"{table_csv} not found"
        for i in ids:
            man.skip(i, i, why)
        return
    t = pd.read_csv(table_csv)
    if t.empty:
        for i in ids:
            man.skip(i, i, "the transition table is empty")
        return
    sources = [man.source("transitions", t)]
    if counts_csv is not None and Path(counts_csv).is_file():
        sources.append(man.source("transition_counts", pd.read_csv(counts_csv)))
    colors = solver_colors(t["solver"].unique())
    crit = _criteria(t)
    counts_note = ("; every raw (s, successes, trials) count is in transition_counts.csv"
                   if len(sources) > 1 else "")

    for fam, tf in t.groupby("family", sort=True):
        curves = tf.groupby("N").filter(lambda g: g["delta"].nunique() > 1)
        if curves.empty:
            man.skip(f"transition_curves_{fam}", "transition_curves", f"{fam}: no N with several deltas")
            continue
        Ns = sorted(curves["N"].unique())
        fig = Figure(figsize=(4.2 * len(Ns) + 1.8, 4.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(Ns), sharey=True))
        for ax, N in zip(axes, Ns):
            gN = curves[curves["N"] == N]
            for solver, g in gN.groupby("solver", sort=True):
                ref = str(g["entry"].iloc[0]) in L1_REFERENCES
                _draw(ax, g, colors[solver], solver, ref)
            draw_l1(ax)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("delta = m / N")
            ax.set_title(f"N = {N}", fontsize=TITLE_FS)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("rho* = s* / m (50 % success)")
        handles, labels = axes[-1].get_legend_handles_labels()
        seen = dict(zip(labels, handles))
        for ax in axes[:-1]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(lab, h)
        fig.legend(list(seen.values()), list(seen.keys()), loc="outside right upper",
                   fontsize=LEGEND_FS)
        fig.suptitle(f"Adaptive transitions, family {fam}", fontsize=TITLE_FS)
        ens = tf[["ensemble", "amplitude"]].iloc[0]
        l1_note = ("measured AMP and basis-pursuit points as open diamonds beside "
                   if tf["entry"].isin(L1_REFERENCES).any() else "")
        caption = (f"Family {fam} ({ens['ensemble']} A, {ens['amplitude']} nonzeros, noiseless): the "
                   f"50 % point rho*(delta) of each solver located adaptively (bisection bracket, "
                   f"dense sampling, logistic maximum likelihood) with its 95 % profile-likelihood "
                   f"interval, one panel per N; {l1_note}the computed l1 weak curve rho_W(delta) "
                   f"(dashed). {_extrapolated_note(tf)}{crit}{counts_note}.")
        man.add(f"transition_curves_{fam}", fig, caption, "transition_curves", sources,
                f"Transition curves - {fam}")

    fs = t[np.isclose(t["delta"], finite_size_delta)]
    if fs.empty or fs["N"].nunique() < 2:
        man.skip("transition_finite_size", "transition_finite_size",
                 f"fewer than two N at delta = {finite_size_delta:g}")
        return
    fams = sorted(fs["family"].unique())
    fig = Figure(figsize=(4.0 * len(fams) + 1.8, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(fams), sharey=True))
    rw = float(rho_weak(finite_size_delta))
    for ax, fam in zip(axes, fams):
        for solver, g in fs[fs["family"] == fam].groupby("solver", sort=True):
            _draw(ax, g, colors[solver], solver, str(g["entry"].iloc[0]) in L1_REFERENCES, x="N")
        ax.axhline(rw, color="k", ls=":", lw=1, label=f"rho_W({finite_size_delta:g}) = {rw:.3f}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N")
        ax.set_title(fam, fontsize=TITLE_FS)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("rho*")
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside right upper", fontsize=LEGEND_FS)
    caption = (f"Finite-size trend: rho* with its 95 % profile-likelihood interval against N at "
               f"delta = {finite_size_delta:g}, per family, with rho_W({finite_size_delta:g}) "
               f"(dotted; the N -> infinity l1 limit). {_extrapolated_note(fs)}{crit}{counts_note}.")
    man.add("transition_finite_size", fig, caption, "transition_finite_size", sources,
            "Transitions against N")
