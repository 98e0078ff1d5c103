"""Runtime figures: time per problem against N and against the batch size."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .fig_common import LEGEND_FS, TITLE_FS, fmt_list, solver_colors
from .summary import runtime_points

__all__ = ["runtime_figures"]


def runtime_figures(man, timing_csv):
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
    colors = solver_colors(t["solver"].unique())
    devices = sorted(t["device"].astype(str).unique())
    styles = dict(zip(devices, ["-", "--", ":", "-."] * 4))
    markers = dict(zip(devices, ["o", "s", "^", "D"] * 4))
    keys = ["solver", "device", "dtype"]
    what = (f"solvers: {fmt_list(sorted(t['solver'].unique()), limit=20)}; devices: "
            f"{fmt_list(devices)}; dtypes: {fmt_list(sorted(t['dtype'].astype(str).unique()))}")
    if "threads" in t.columns:
        what += f"; threads: {fmt_list(sorted(t['threads'].unique()))}"
    if "repeats" in t.columns:
        what += f"; repeats per point: {fmt_list(sorted(t['repeats'].unique()))}"
    if "m" in t.columns:
        t["delta_t"] = (t["m"] / t["N"]).round(3)
        what += f"; m/N = {fmt_list(sorted(t['delta_t'].unique()))}"

    for axis, other, fid in (("N", "batch", "runtime_vs_N"), ("batch", "N", "runtime_vs_batch")):
        agg = runtime_points(t, axis, other)
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
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
        ax.legend(fontsize=LEGEND_FS, ncol=2 if agg.groupby(keys).ngroups > 6 else 1)
        title = "Time per problem vs " + ("N" if axis == "N" else "batch size")
        ax.set_title(title, fontsize=TITLE_FS)
        src = man.source(fid, agg)
        cap = (f"{title} (log-log), median over the timing rows of each point, each curve at the "
               f"largest {'batch size' if other == 'batch' else 'N'} timed for that solver, device "
               f"and dtype (column '{other}' of the source CSV). Time per problem = batch wall time "
               f"/ batch size. {what}.")
        man.add(fid, fig, cap, "runtime", [src], title)
