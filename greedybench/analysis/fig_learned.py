"""Learned-solver figures: the LISTA benchmark B1 (NMSE per layer, one panel per SNR, with the LASSO
floor; the nets' training curves) and the trained greedy nets' phase transitions on the latent-support
family (rho*(delta) against the untrained and oracle-weighted solvers, and the fraction of the
oracle's gain recovered). The tables come from ``learned_study``; this module only draws.

When a study's outputs are absent the figure is not drawn and the manifest's skip entry carries
the command that makes them (``command``), which the report prints as the section's one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker as mticker
from matplotlib.figure import Figure

from .fig_common import LEGEND_FS, TITLE_FS, fmt_list
from .learned_study import (b1_curves, b1_layer_table, b1_training_curves, gain_table,
                            lasso_floor, latent_curves, read_b1, read_latent, snr_order, snr_text)

__all__ = ["learned_figures", "b1_styles", "draw_b1_nmse", "draw_b1_training", "draw_latent", "B1_COMMAND",
           "LATENT_COMMAND", "KIND_B1", "KIND_LATENT"]

KIND_B1 = "learned_b1"
KIND_LATENT = "learned_transitions"
B1_COMMAND = "snakemake --cores 2 b1_ci"      # CI scale, about a minute; `b1`: the full size, hours
LATENT_COMMAND = "snakemake --cores 2 latent_transition"
_ROLE_STYLE = {"plain (untrained)": dict(color="0.45", marker="s", ls="--"),
               "oracle weights 1_T": dict(color="C3", marker="^", ls=":"),
               "trained net": dict(color="C0", marker="o", ls="-")}


_LEARNED_COLORS = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9", "C7"]
_BASE_DASHES = [(0, (4, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2))]


def _family(method: str) -> str:
    """The algorithm of an untrained reference: 'ista-16' -> 'ista', 'omp-oracle-k' -> 'omp'."""
    return method.split("-")[0] if not method.startswith("soft-") else method


def b1_styles(curves: pd.DataFrame) -> dict:
    """method -> line style: learned methods solid with markers in distinct tab10 colours; untrained
    references dashed, one Dark2 colour per algorithm, its variants told apart by the dash pattern."""
    learned = list(dict.fromkeys(curves.loc[curves["learned"], "method"]))
    base = list(dict.fromkeys(curves.loc[~curves["learned"], "method"]))
    fams = list(dict.fromkeys(_family(m) for m in base))
    dark = sns.color_palette("Dark2", 8)
    pal = (dark[:6] + [dark[7], dark[6]]) * (1 + len(fams) // 8)   # grey before brown: AMP apart from FISTA
    out = {m: dict(color=_LEARNED_COLORS[i % len(_LEARNED_COLORS)], ls="-", lw=1.6, marker="o", ms=2.5)
           for i, m in enumerate(learned)}
    seen: dict = {}
    for m in base:
        f = _family(m)
        k = seen[f] = seen.get(f, -1) + 1
        out[m] = dict(color=pal[fams.index(f)], ls=_BASE_DASHES[k % len(_BASE_DASHES)], lw=1.2, marker=None)
    return out


def _log_ticks(ax, lo: float, hi: float):
    """Plain-number ticks on a log x axis over [lo, hi] (no 10^k labels)."""
    ticks = [t for t in (1, 2, 4, 8, 16, 32, 100, 300, 1000, 3000, 10000, 30000) if lo / 1.05 <= t <= hi * 1.05]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_xlim(lo / 1.15, hi * 1.15)


def _snr_line(ax, snr: str, **kw):
    """The -SNR level where noisy recovery saturates (finite SNR only)."""
    if snr != "inf":
        ax.axhline(-float(snr), color="0.55", ls=(0, (1, 3)), lw=1.0, **kw)


def draw_b1_nmse(fig: Figure, curves: pd.DataFrame, floor: pd.DataFrame, depth: int):
    """One panel per SNR: NMSE (dB) per iteration / layer (log x) of every method (learned: solid
    with markers; untrained: dashed), the LASSO floor (black dash-dot) and the net depth (dotted)."""
    snrs = snr_order(curves["snr_db"])
    axes = np.atleast_1d(fig.subplots(1, len(snrs), sharey=True))
    styles = b1_styles(curves)
    handles = {}
    for ax, snr, letter in zip(axes, snrs, "abcdefgh"):
        c = curves[curves["snr_db"] == snr]
        for m, g in c.groupby("method", sort=False):
            learned = bool(g["learned"].iloc[0])
            (h,) = ax.plot(g["iteration"], g["nmse_db"], **styles[m], label=m + ("" if learned else " (untrained)"))
            handles.setdefault(h.get_label(), h)
        f = floor[floor["snr_db"] == snr]
        if len(f):
            v = float(f["nmse_db"].iloc[0])
            h = ax.axhline(v, color="black", ls="-.", lw=1.3,
                           label=f"LASSO floor: FISTA, {int(f['iterations'].iloc[0])} iterations")
            handles.setdefault("lasso", h)
            ax.annotate(f"{v:.1f} dB", (1.0, v), xycoords=("axes fraction", "data"), xytext=(-2, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8)
        h = ax.axvline(depth, color="0.3", ls=":", lw=1.0, label=f"net depth {depth}")
        handles.setdefault("depth", h)
        if snr != "inf":
            _snr_line(ax, snr, label="-SNR (noise level)")
            handles.setdefault("snr", ax.get_lines()[-1])
        ax.set_xscale("log")
        _log_ticks(ax, 1, float(curves["iteration"].max()))
        ax.set_xlabel("iteration / layer k (log scale)")
        ax.set_title(f"({letter}) {snr_text(snr)}", fontsize=TITLE_FS)
        ax.grid(alpha=0.3, which="both")
    # exact noiseless recovery (OMP) falls to -100 dB and below: the axis stops 20 dB under the
    # learned methods and the floor, and the caption says which curves continue below it
    refs = list(curves.loc[curves["learned"], "nmse_db"]) + list(floor["nmse_db"])
    bottom = max(float(curves["nmse_db"].min()), (min(refs) if refs else float(curves["nmse_db"].min())) - 20.0)
    for ax in axes:
        ax.set_ylim(bottom - 2.0, None)
    axes[0].set_ylabel("NMSE at iteration k (dB, ratio of sums)")
    for ax in axes[1:]:
        ax.tick_params(labelleft=True)
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncol=4, fontsize=LEGEND_FS,
               frameon=False)
    return axes


def draw_b1_training(fig: Figure, tc: pd.DataFrame, styles: dict):
    """Per SNR (columns): validation NMSE (dB) of the best-so-far check against the training step
    (top) and the running training loss (bottom, log)."""
    snrs = snr_order(tc["snr_db"])
    axes = np.atleast_2d(fig.subplots(2, len(snrs), sharex="col", squeeze=False))
    handles = {}
    for j, snr in enumerate(snrs):
        top, bot = axes[0, j], axes[1, j]
        for m, g in tc[tc["snr_db"] == snr].groupby("method", sort=False):
            color = styles.get(m, {}).get("color")
            (h,) = top.plot(g["step"], g["val_nmse_db"], color=color, lw=1.3, marker="o", ms=2,
                            label=f"{m} ({int(g['step'].max())} steps)")
            handles.setdefault(m, h)
            tl = g[np.isfinite(g["train_loss"].astype(float)) & (g["train_loss"].astype(float) > 0)]
            if len(tl):
                bot.plot(tl["step"], tl["train_loss"], color=color, lw=1.3)
        _snr_line(top, snr)
        top.set_title(f"({'abcdefgh'[j]}) {snr_text(snr)}: validation", fontsize=TITLE_FS)
        top.set_ylabel("validation NMSE at the last layer (dB)")
        bot.set_title(f"({'abcdefgh'[len(snrs) + j]}) {snr_text(snr)}: training loss", fontsize=TITLE_FS)
        bot.set_yscale("log")
        bot.set_ylabel("training loss (sum over layers of\nmean ||x_k - x||^2, running mean)")
        bot.set_xlabel("training step (batches, log scale)")
        for ax in (top, bot):
            ax.set_xscale("log")
            ax.grid(alpha=0.3, which="both")
        bot.yaxis.set_major_locator(mticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        bot.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        bot.yaxis.set_minor_formatter(mticker.NullFormatter())
        _log_ticks(bot, float(tc["step"].min()), float(tc["step"].max()))
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncol=5, fontsize=LEGEND_FS,
               frameon=False)
    return axes


def draw_latent(fig: Figure, curves: pd.DataFrame, gains: pd.DataFrame):
    """(a, b) rho*(delta) with intervals per family: plain, oracle-weighted and trained net, points
    offset a little in delta so that the intervals do not overlap; (c) the fraction of the oracle's
    gain recovered per delta with its interval, between the references 0 (no gain) and 1 (the oracle)."""
    fams = list(dict.fromkeys(curves["family"]))
    axes = fig.subplots(1, len(fams) + 1)
    for ax in axes[1:len(fams)]:
        ax.sharey(axes[0])
    deltas = np.sort(curves["delta"].unique())
    span = float(deltas.max() - deltas.min()) if len(deltas) > 1 else 0.5
    off = 0.025 * span
    for ax, fam, letter in zip(axes, fams, "abc"):
        c = curves[curves["family"] == fam]
        for i, (role, st) in enumerate(_ROLE_STYLE.items()):
            g = c[c["role"] == role].sort_values("delta")
            if not len(g):
                continue
            x = g["delta"] + (i - 1) * off
            ax.errorbar(x, g["rho_star"], yerr=[g["rho_star"] - g["lo"], g["hi"] - g["rho_star"]],
                        color=st["color"], marker=st["marker"], ls=st["ls"], lw=1.3, ms=5, capsize=3,
                        label=f"{fam.upper()}, {role}")
        ax.set_xlabel("delta = m / N")
        ax.set_ylabel("rho* = s / m at 50 % success")
        ax.set_title(f"({letter}) {fam.upper()} family: rho*(delta), 95 % intervals", fontsize=TITLE_FS)
        ax.legend(fontsize=LEGEND_FS, loc="best")
        ax.grid(alpha=0.3)
        ax.set_xlim(deltas.min() - 0.15 * span, deltas.max() + 0.15 * span)
    ax = axes[-1]
    for i, fam in enumerate(fams):
        g = gains[gains["family"] == fam].sort_values("delta")
        if not len(g):
            continue
        x = g["delta"] + (i - 0.5) * off
        ax.errorbar(x, g["fraction"], yerr=[g["fraction"] - g["lo"], g["hi"] - g["fraction"]],
                    color=("C0", "C2", "C4")[i % 3], marker="oD^"[i % 3], ls="-", lw=1.3, ms=5, capsize=3,
                    label=f"{fam.upper()}-Net")
    ax.axhline(1.0, color="C3", ls=":", lw=1.2, label="1: all of the oracle's gain")
    ax.axhline(0.0, color="0.45", ls="--", lw=1.2, label="0: no gain over the untrained solver")
    ax.set_xlabel("delta = m / N")
    ax.set_ylabel("(rho*_net - rho*_plain) / (rho*_oracle - rho*_plain)")
    ax.set_title(f"({'abc'[len(fams)]}) fraction of the oracle's gain recovered", fontsize=TITLE_FS)
    ax.set_xlim(deltas.min() - 0.15 * span, deltas.max() + 0.15 * span)
    low = float(np.nanmin(np.r_[gains["lo"].to_numpy(dtype=float), 0.0])) if len(gains) else 0.0
    ax.set_ylim(min(-0.15, low - 0.1), 1.15)
    ax.legend(fontsize=LEGEND_FS, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.grid(alpha=0.3)
    return axes


def _b1_setup(run: dict) -> str:
    c = run.get("config") or {}
    if not c:
        return ""
    return (f"Task B1 ({c.get('scale')} scale): m = {c.get('m')}, N = {c.get('N')}, Gaussian A with unit-norm "
            f"columns, x = Bernoulli({c.get('p')}) x N(0, 1), depth {c.get('depth')}, {c.get('n_test')} test and "
            f"{c.get('n_val')} validation samples, seed {c.get('seed')}; every learned method trained for "
            f"{c.get('steps')} steps of batch {c.get('batch')} (validation every {c.get('val_every')} steps, "
            f"best validated state kept). ")


def _b1_figures(man, folder):
    t, reason = read_b1(folder)
    if t is None:
        for fid in ("learned_b1_nmse", "learned_b1_training"):
            man.skip(fid, KIND_B1, f"no B1 outputs ({reason})", command=B1_COMMAND)
        return
    curves = b1_curves(t["layers"], t["results"])
    floor = lasso_floor(curves)
    depth = int((t["run"].get("config") or {}).get("depth") or curves.loc[curves["learned"], "iteration"].max())
    table = b1_layer_table(curves, depth)
    snrs = snr_order(curves["snr_db"])
    width = 5.0 * len(snrs)
    fig = Figure(figsize=(width, 6.4), layout="constrained")
    axes = draw_b1_nmse(fig, curves, floor, depth)
    bottom = axes[0].get_ylim()[0]
    below = curves[curves["nmse_db"] < bottom].groupby(["method", "snr_db"], sort=False)["nmse_db"].min()
    fig.suptitle(f"B1: NMSE per iteration, m = {t['run'].get('config', {}).get('m', '?')}, "
                 f"N = {t['run'].get('config', {}).get('N', '?')}", fontsize=11)
    nums = []
    for snr in snrs:
        g = table[(table["snr_db"] == snr) & table["learned"]].sort_values("nmse_db_depth")
        f = floor[floor["snr_db"] == snr]
        nums.append(f"{snr_text(snr)}: " + ", ".join(f"{r.method} {r.nmse_db_depth:.1f}" for r in g.itertuples())
                    + (f"; LASSO floor {float(f['nmse_db'].iloc[0]):.1f}" if len(f) else ""))
    lasso = str(floor["method"].iloc[0]) if len(floor) else None
    no_floor = "" if lasso else " No LASSO floor: no FISTA run of 100 or more iterations."
    c = t["run"].get("config") or {}
    refs = (f"ISTA / FISTA at {depth} and {c['long_iters']} iterations, OMP / IHT with the oracle k and "
            f"k = {c['k_fixed']}, Soft-OMP, Soft-IHT" + (", AMP" if (table["method"] == "amp").any() else "")
            if {"long_iters", "k_fixed"} <= set(c)
            else fmt_list(table.loc[~table["learned"], "method"].unique()))
    cut = ("" if below.empty else " Below the axis (not shown): " + ", ".join(
        f"{m} ({snr_text(sn)}) down to {v:.0f} dB" for (m, sn), v in below.items()) + ".")
    cap = (_b1_setup(t["run"]) + "NMSE = 10 log10(sum ||x_k - x||^2 / sum ||x||^2) over the test set after "
           "iteration (layer) k, one panel per SNR; learned methods solid with markers, untrained references "
           f"dashed ({refs}). Black dash-dot: the LASSO floor ({lasso} at its last iteration); grey dotted "
           f"vertical: the nets' depth; grey dotted horizontal: -SNR. Layer-{depth} NMSE (dB) of the learned "
           "methods: " + "; ".join(nums) + "." + no_floor + cut)
    sources = [man.source("learned_b1_layer_table", table), man.source("learned_b1_nmse_curves", curves),
               man.source("learned_b1_lasso_floor", floor)]
    man.add("learned_b1_nmse", fig, cap, KIND_B1, sources, "B1: NMSE (dB) per layer")

    tc = b1_training_curves(t["training"])
    if tc.empty:
        man.skip("learned_b1_training", KIND_B1, f"{folder}/b1_training.csv has no rows (no net trained)")
        return
    fig = Figure(figsize=(width, 8.0), layout="constrained")
    draw_b1_training(fig, tc, b1_styles(curves))
    fig.suptitle("B1: training curves of the learned methods", fontsize=11)
    last = tc.groupby(["snr_db", "method"], sort=False).agg(steps=("step", "max"), best=("val_nmse_db", "min"))
    best = "; ".join(f"{snr_text(s)}: " + ", ".join(f"{m} {r.best:.1f} ({int(r.steps)} steps)"
                                                   for (s2, m), r in last.iterrows() if s2 == s)
                     for s in snr_order(tc["snr_db"]))
    cap = (_b1_setup(t["run"]) + "Top: validation NMSE (dB) at the last layer at each validation step; bottom: the "
           "running mean (factor 0.95) of the training loss, the sum over layers of the batch mean of "
           "||x_k - x||^2 (ALISTA under the paper's layer-wise schedule records no training loss). Best "
           f"validation NMSE (dB): {best}.")
    man.add("learned_b1_training", fig, cap, KIND_B1, [man.source("learned_b1_training_curves", tc)],
            "B1: training curves")


def _latent_figures(man, folder):
    t, reason = read_latent(folder)
    if t is None:
        man.skip("learned_latent_transition", KIND_LATENT, f"no latent-transition outputs ({reason})",
                 command=LATENT_COMMAND)
        return
    curves, gains = latent_curves(t["fits"]), gain_table(t["fits"])
    fig = Figure(figsize=(12.5, 5.4), layout="constrained")
    draw_latent(fig, curves, gains)
    c = t["run"].get("config") or {}
    setup = (f"Latent-support family ({c.get('scale')} scale): N = {c.get('N')}, Gaussian A with unit columns per "
             f"delta, supports of s atoms drawn from a hidden set T of 2s indices, noiseless; rho grid "
             f"{fmt_list(c.get('rhos') or [])}, {c.get('n_test')} held-out problems per cell, success = relative "
             f"l2 error <= {c.get('threshold')}; each net trained per cell for {c.get('steps')} steps "
             f"(seed {c.get('seed')}). " if c else "")
    fr = "; ".join(f"{r.family.upper()}-Net at delta {r.delta:g}: {r.fraction:.2f} [{r.lo:.2f}, {r.hi:.2f}]"
                   for r in gains.itertuples())
    cap = (setup + "rho*(delta) by logistic maximum likelihood with 95 % bootstrap intervals, for the untrained "
           "solver (OMP with s atoms, IHT), the same solver with the oracle weights 1_T (knows T) and the trained "
           "net at the same iteration count; (c) the fraction of the oracle's gain the net recovers, with a "
           "percentile interval from independent bootstrap samples of the three fits. " + (fr + "." if fr else ""))
    sources = [man.source("learned_latent_rho_star", curves), man.source("learned_latent_gain", gains)]
    if len(t["cells"]):
        sources.append(man.source("learned_latent_cells", t["cells"]))
    man.add("learned_latent_transition", fig, cap, KIND_LATENT, sources,
            "Trained nets' phase transitions (latent supports)")


def learned_figures(man, b1=None, latent=None):
    """Draw the B1 figures from the folder ``b1`` and the latent-transition figure from the folder
    ``latent`` (study output folders); a folder not given or without its tables is recorded as
    skipped with the command that makes it."""
    if b1 is None:
        for fid in ("learned_b1_nmse", "learned_b1_training"):
            man.skip(fid, KIND_B1, "no B1 outputs in results/studies/b1 or results/studies/b1_ci (the full "
                     "size: target b1, hours)", command=B1_COMMAND)
    else:
        _b1_figures(man, Path(b1))
    if latent is None:
        man.skip("learned_latent_transition", KIND_LATENT,
                 "no latent-transition outputs in results/studies/latent_transition", command=LATENT_COMMAND)
    else:
        _latent_figures(man, Path(latent))
