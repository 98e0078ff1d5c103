"""Algorithm selection maps: the fastest reliable candidate per (delta, rho) cell."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .fig_common import L1_STYLE, TITLE_FS, draw_cells, draw_l1, fmt_list, outside_legend, slug, wrap
from .summary import describe, selection_table

__all__ = ["selection_maps"]


def _label(r) -> str:
    where = f"delta {r['delta']:g}, rho {r['rho']:.3g}"
    if r["winner"] == "(none)":
        return f"{where}: no candidate reaches the success rate"
    return (f"{where}: {r['winner']} (success rate {r['rate']:.2f} over {int(r['n_trials'])} trials, "
            f"median {r['median_time_s']:.3g} s per problem)")


def selection_maps(man, d, config, colors, min_rate):
    """One map per problem class, device and dtype (times compare only within one device)."""
    if "time_per_problem_s" not in d.columns:
        man.skip("selection_map", "selection_map", "results table has no time_per_problem_s column")
        return
    group_cols = ["problem_class"] + [c for c in ("device", "dtype") if c in d.columns]
    for key, sub in d.groupby(group_cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(str(k) for k in key)
        fid = f"selection_{slug(label)}"
        title = f"Algorithm selection map, {label}"
        sel, excluded = selection_table(sub, min_rate)
        if sub["solver"].nunique() == len(excluded):
            man.skip(fid, "selection_map", f"{title}: only oracle entries ({fmt_list(excluded)}), "
                                           "which are references, not candidates")
            continue
        winners = sorted(w for w in sel["winner"].unique() if w != "(none)")
        cmap = dict(colors)
        cmap["(none)"] = (0.88, 0.88, 0.88)
        fig = Figure(figsize=(6.4, 5.6), layout="constrained")
        ax = fig.subplots()
        hover = []
        draw_cells(ax, sel, "winner", colors=lambda w: cmap[w], hover=hover, label=_label)
        draw_l1(ax)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, float(max(sub["rho"].max() * 1.05, 0.1)))
        ax.set_xlabel(r"$\delta = m/N$ (undersampling, dimensionless)")
        ax.set_ylabel(r"$\rho = s/m$ (sparsity per measurement)")
        handles = [Patch(color=cmap[w], label=w) for w in winners]
        handles.append(Patch(color=cmap["(none)"], label=f"no solver reaches {min_rate:g}"))
        handles.append(Line2D([], [], **L1_STYLE))
        outside_legend(fig, ax, handles)
        ax.set_title(wrap(title, 6.2), fontsize=TITLE_FS)
        src = man.source(fid, sel)
        ref = (f" Oracle entries ({fmt_list(excluded)}) know the hidden support: they are references, "
               "not candidates, and are left out." if excluded else "")
        cap = (f"Fastest reliable solver per (delta, rho) cell ({label}): among the solvers whose "
               f"empirical success rate in the cell is at least {min_rate:g}, the one with the "
               "smallest median time per problem over all trials of the cell (you pay for the "
               "failed trials too); grey where no solver reaches that rate. Times are only "
               f"comparable within one device and dtype, hence one map per device.{ref} "
               + describe(sub, config, "success"))
        man.add(fid, fig, cap, "selection_map", [src], title, hover=hover)
