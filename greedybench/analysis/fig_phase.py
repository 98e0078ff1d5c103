"""Phase diagrams (one panel per solver) and the overlay of every solver's fitted 50 % curve."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .fig_common import (CRITERIA, LEGEND_FS, TITLE_FS, draw_cells, draw_curve, draw_l1, slug,
                         wrap)
from .summary import describe, fittable

__all__ = ["phase_figures"]

_XLABEL = r"$\delta = m/N$ (undersampling, dimensionless)"


def _n_cells(sub) -> int:
    return int(sub.groupby(["delta", "rho"]).ngroups)


def _point_hover(ax, curve, solver, rho_top) -> list:
    """Hover boxes (about a marker wide) around each fitted point: rho* with its band at that delta."""
    out = []
    for _, r in curve.iterrows():
        if not np.isfinite(r["rho_star"]):
            continue
        band = (f" [{r['ci_lo']:.3g}, {r['ci_hi']:.3g}]" if np.isfinite(r["ci_lo"]) and np.isfinite(r["ci_hi"])
                else "")
        out.append((ax, r["delta"] - 0.012, r["delta"] + 0.012, r["rho_star"] - 0.015 * rho_top,
                    r["rho_star"] + 0.015 * rho_top,
                    f"{solver}: rho* = {r['rho_star']:.3g}{band} at delta {r['delta']:g} ({int(r['n_trials'])} trials)"))
    return out


def phase_figures(man, d, config, criterion, rates, curves, colors):
    """Per problem class: the phase diagram (heatmap per solver with its fit) and the overlay of the
    fitted curves. A problem class whose cells allow no fitted 50 % point (e.g. a single cell, or
    columns that all succeed or all fail) gets no overlay: the manifest says why."""
    crit_label = CRITERIA[criterion]
    tag = "success" if criterion == "success" else criterion.replace("_", "-")
    for pclass, sub in d.groupby("problem_class", sort=True):
        solvers = sorted(sub["solver"].unique())
        r_cls = rates[rates["problem_class"] == pclass]
        c_cls = curves[curves["problem_class"] == pclass]
        rho_top = float(max(sub["rho"].max() * 1.05, 0.1))
        n_cells = _n_cells(sub)
        # (1)/(3) heatmaps, one panel per solver
        ncol = min(3, len(solvers))
        nrow = math.ceil(len(solvers) / ncol)
        width = 4.3 * ncol + 0.8
        fig = Figure(figsize=(width, 3.6 * nrow + 0.9), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False)
        norm = Normalize(0.0, 1.0)
        mesh = None
        hover = []
        for ax, solver in zip(axes.flat, solvers):
            cells = r_cls[r_cls["solver"] == solver]
            mesh = draw_cells(ax, cells, "rate", cmap="viridis", norm=norm, hover=hover,
                              label=lambda r, s=solver: (f"{s}: {int(r['n_success'])} of {int(r['n_trials'])} "
                                                         f"succeeded at delta {r['delta']:g}, rho {r['rho']:.3g}")
                              ) or mesh
            draw_curve(ax, c_cls[c_cls["solver"] == solver], "white", "fitted 50 % (95 % CI)", outline=True)
            draw_l1(ax)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, rho_top)
            ax.set_title(wrap(solver, width / ncol), fontsize=TITLE_FS)
            ax.set_xlabel(_XLABEL)
            ax.set_ylabel(r"$\rho = s/m$ (sparsity per measurement)")
        for ax in list(axes.flat)[len(solvers):]:
            ax.set_visible(False)
        if mesh is not None:
            fig.colorbar(mesh, ax=axes, label=f"empirical P({criterion})", shrink=0.9)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=LEGEND_FS,
                   framealpha=0.9)
        title = f"Phase diagram ({crit_label}), {pclass}"
        fig.suptitle(wrap(title, width, 11), fontsize=11)
        fid = f"phase_{tag}_{slug(pclass)}"
        src = man.source(fid, r_cls)
        fits = man.source(f"{fid}_fits", c_cls)
        few = (f" No 50 % point could be fitted ({n_cells} (delta, rho) cell{'s' if n_cells != 1 else ''}): "
               "a fit needs two or more rho values at one delta whose outcomes are neither all successes "
               "nor all failures." if not fittable(c_cls) else "")
        cap = (f"Empirical probability of {crit_label} per (delta, rho) cell, one panel per solver, "
               f"problem class {pclass}. White (dark outline): logistic 50 % point rho*(delta) fitted by "
               f"maximum likelihood per delta, with its bootstrap 95 % band (trials resampled per cell); "
               f"open triangles mark deltas where every cell succeeded (rho* above the grid) or "
               f"failed (below). Dashed: l1 weak threshold rho_W(delta), computed.{few} "
               + describe(sub, config, criterion))
        man.add(fid, fig, cap, f"phase_{criterion}", [src, fits], title, hover=hover)

        # (2) overlay of all solvers' 50 % curves
        fid = f"transitions_{tag}_{slug(pclass)}"
        title = f"50 % phase transitions ({crit_label}), {pclass}"
        if not fittable(c_cls):
            flags = ", ".join(sorted(c_cls["flag"].astype(str).unique()))
            man.skip(fid, f"transitions_{criterion}",
                     f"{title}: no 50 % point could be fitted ({n_cells} (delta, rho) "
                     f"cell{'s' if n_cells != 1 else ''}; fit flags: {flags}); the phase diagram shows the cells")
            continue
        fig = Figure(figsize=(6.4, 5.2), layout="constrained")
        ax = fig.subplots()
        hover = []
        for solver in solvers:
            draw_curve(ax, c_cls[c_cls["solver"] == solver], colors[solver], solver)
            hover += _point_hover(ax, c_cls[c_cls["solver"] == solver], solver, rho_top)
        draw_l1(ax)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, rho_top)
        ax.set_xlabel(_XLABEL)
        ax.set_ylabel(r"50 % transition $\rho^* = s/m$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LEGEND_FS, loc="upper left")
        ax.set_title(wrap(title, 6.2), fontsize=TITLE_FS)
        src = man.source(fid, c_cls)
        n_fit = int(np.isfinite(c_cls["rho_star"].to_numpy(dtype=float)).sum())
        cap = (f"Fitted 50 % transition curves rho*(delta) of every solver for {crit_label}, "
               f"problem class {pclass}, with bootstrap 95 % bands ({n_fit} fitted (solver, delta) points); "
               "dashed: l1 weak threshold. Above a curve the solver fails more often than not. "
               + describe(sub, config, criterion))
        man.add(fid, fig, cap, f"transitions_{criterion}", [src], title, hover=hover)
