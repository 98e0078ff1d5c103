"""Trained-net figures (reference Fig. 3): loss curves with baselines, learned weights against the
hidden set, per-sample test errors. Used by the report (``make_figures``) and the paper script."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .fig_common import LEGEND_FS, TITLE_FS, fmt_list, slug, wrap
from .summary import baseline_losses, training_error_summary

__all__ = ["training_figures", "draw_training", "panels", "OFF_AXIS_FACTOR", "DIVERGED_NOTE"]

OFF_AXIS_FACTOR = 30  # a baseline this far above the loss curves is listed in the legend only
DIVERGED_NOTE = ("A baseline far above the curves (marked 'off the axis') did not converge on this operator: "
                 "a fixed-step iteration such as IHT is guaranteed to converge only while its step stays below "
                 "2 / ||A||_2^2 and can diverge beyond. A partial DFT with unit columns has ||A||_2^2 = N/m, so "
                 "the default step 0.65 (tuned for random matrices with unit columns) exceeds that limit once "
                 "N/m > 3; the iht entry's step='norm' (0.98 / ||A||_2^2) stays below it, and the nets learn "
                 "their own step.")


def _truthy(col: pd.Series) -> pd.Series:
    return col.astype(str).str.lower().isin(("true", "1", "1.0"))


def panels(loss: pd.DataFrame, w: pd.DataFrame) -> list:
    """The panels the tables allow: loss (if it has epochs), weights (if any), errors (always)."""
    has_loss = len(loss) > 0 and {"epoch", "train_loss", "val_loss"} <= set(loss.columns)
    has_w = len(w) > 0 and {"index", "weight", "in_hidden_set"} <= set(w.columns)
    return ["loss"] * has_loss + ["weights"] * has_w + ["errors"]


def draw_training(fig: Figure, loss: pd.DataFrame, w: pd.DataFrame, err: pd.DataFrame, baselines: dict):
    """Draw the panels the tables allow (loss if it has epochs, weights if any, errors always) into
    ``fig``; returns ``(letters, k, off_axis)``: the panel letters, |T| and the baselines off the axis."""
    names = panels(loss, w)
    has_loss, has_w = "loss" in names, "weights" in names
    axes = dict(zip(names, np.atleast_1d(fig.subplots(1, len(names)))))
    letters = dict(zip(names, "abc"))
    k, off_axis = 0, []
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
        top = float(curves.max()) * OFF_AXIS_FACTOR if len(curves) else None
        for i, (name, val) in enumerate(baselines.items()):
            if val > 0 and np.isfinite(val):  # one far above the curves: in the legend only
                off = top is not None and val > top
                if off:
                    off_axis.append((name, val))
                ax1.axhline(val, color=f"C{3 + i}", ls="--", lw=1.2,
                            label=f"{name}: {val:.3g}" + (" (off the axis, diverged)" if off else ""))
        ax1.set_yscale("log")
        if top is not None:
            vis = [v for v in baselines.values() if 0 < v <= top] + [float(curves.min())]
            ax1.set_ylim(min(vis) / 2, top)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("loss (MSE, mean ||x_hat - x||^2)")
        ax1.set_title(f"({letters['loss']}) training and validation loss", fontsize=TITLE_FS)
        ax1.legend(fontsize=LEGEND_FS)
        ax1.grid(alpha=0.3, which="both")
    if has_w:  # (b) learned |w| against the hidden set
        ax2 = axes["weights"]
        inT = _truthy(w["in_hidden_set"])
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
        ax2.set_title(wrap(f"({letters['weights']}) learned weights: top-{k} |w| hit {hits}/{k} of T", 5.0),
                      fontsize=TITLE_FS)
        ax2.legend(fontsize=LEGEND_FS)
    # (c) per-sample errors
    ax3 = axes["errors"]
    order = list(dict.fromkeys(err["method"]))
    pos = err["rel_err"] > 0
    floor = max(float(err["rel_err"][pos].min()) if pos.any() else 1e-16, 1e-16)
    e = err.assign(rel_err=err["rel_err"].clip(lower=floor))
    with warnings.catch_warnings():  # seaborn 0.13 passes vert= to matplotlib >= 3.10
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*vert.*")
        sns.boxplot(data=e, x="rel_err", y="method", order=order, ax=ax3, orient="h",
                    log_scale=True, fliersize=2, color="C0")
    ax3.set_xlabel("relative l2 error ||x_hat - x|| / ||x|| (per test sample)")
    ax3.set_ylabel("")
    ax3.set_title(f"({letters['errors']}) test errors", fontsize=TITLE_FS)
    ax3.grid(alpha=0.3, axis="x")
    return letters, k, off_axis


def training_figures(man, training):
    """Fig. 3 panels per trained net. ``training[net]``: ``loss_csv`` (epoch, train_loss, val_loss),
    ``weights_csv`` (index, weight, in_hidden_set), ``errors_csv`` (method, rel_err, optional role =
    net / baseline), optional ``baselines`` ({name: loss}) and ``description``. An empty loss or
    weights table (a net without history or selection weights) leaves its panel out."""
    if not training:
        man.skip("training", "training", "no trained nets given (extras['training'])")
        return
    for net, spec in training.items():
        fid = f"training_{slug(net)}"
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
        baselines = spec.get("baselines")
        base_note = "given with the run"
        if not baselines:
            base_note = "mean of rel_err^2 over the test samples (equals the MSE when ||x|| = 1)"
            baselines = baseline_losses(err)
        n_panels = len(panels(loss, w))
        fig = Figure(figsize=(4.4 * n_panels, 4.6), layout="constrained")
        letters, k, off_axis = draw_training(fig, loss, w, err, baselines)
        title = f"Trained net {net}"
        fig.suptitle(wrap(title, 4.4 * n_panels, 11), fontsize=11)
        summary = training_error_summary(err)
        sources = [man.source(f"{fid}_errors_summary", summary), man.source(f"{fid}_errors", err)]
        parts = []
        if "loss" in letters:
            sources.append(man.source(f"{fid}_loss", loss))
            parts.append(f"({letters['loss']}) training and validation loss per epoch ({len(loss)} epochs), "
                         f"with the best validation epoch and the baselines ({base_note})")
        if "weights" in letters:
            sources.append(man.source(f"{fid}_weights", w))
            parts.append(f"({letters['weights']}) learned |w| per atom against the hidden set T (grey: oracle "
                         f"weights 1_T; dotted: the initial weights; N = {len(w)}, |T| = {k})")
        order = list(dict.fromkeys(err["method"]))
        parts.append(f"({letters['errors']}) per-sample relative l2 errors on {int(summary['n'].max())} test "
                     f"samples for {fmt_list(order)} (medians: "
                     + ", ".join(f"{r['method']} {r['median']:.2g}" for _, r in summary.iterrows()) + ")")
        left = [n for n, key in (("loss history", "loss"), ("selection weights", "weights")) if key not in letters]
        cap = f"{net} (reference Fig. 3): " + "; ".join(parts) + "."
        if left:
            cap += f" Not drawn: {' and '.join(left)} (none recorded for this net)."
        if off_axis:
            cap += (" Off the axis: " + ", ".join(f"{n} {v:.3g}" for n, v in off_axis) + ". " + DIVERGED_NOTE)
        if spec.get("description"):
            cap += " " + str(spec["description"])
        man.add(fid, fig, cap, "training", sources, title)
