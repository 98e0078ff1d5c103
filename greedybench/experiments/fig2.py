"""Reproduce Fig. 2 of Deep greedy unfolding (reference 5.1 / 5.2): soft vs hard difference vs tau.

The maths (instances, the sweep, the summaries, the reference numbers) live in
:mod:`greedybench.analysis.soft_vs_hard_study`, shared with the pipeline's fig2 stage; the figure is
drawn by the report's own Fig. 2 panels (:mod:`greedybench.analysis.fig_soft_vs_hard`). This module
is the command-line entry point only.

Usage::

    python -m greedybench.experiments.fig2 --out DIR [--trials N] [--seed S] [--threads K]

writes DIR/fig2.csv (tau, algorithm, n, geomean, lo, hi and the setup), DIR/fig2.png, DIR/fig2.svg
and DIR/fig2_comparison.csv (all atomically, through greedybench.storage), and prints the comparison
with the reference tables.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import pandas as pd
import torch

from ..analysis.soft_vs_hard_study import (
    COMPARE_TAUS, FLOOR, IHT_ITERS, IHT_STEP, M, N, OMP_ITERS, REF_IHT, REF_OMP, S, SIGMA, TAUS, compare,
    difference_errors, make_instances, run_study, study_rows, summarise)
from ..storage import atomic_write_bytes, write_csv

__all__ = ["main", "plot", "CSV_COLUMNS", "COMPARISON_COLUMNS",
           # re-exported from greedybench.analysis.soft_vs_hard_study, where they live
           "COMPARE_TAUS", "FLOOR", "IHT_ITERS", "IHT_STEP", "M", "N", "OMP_ITERS", "REF_IHT", "REF_OMP", "S",
           "SIGMA", "TAUS", "compare", "difference_errors", "make_instances", "run_study", "study_rows", "summarise"]

CSV_COLUMNS = ("tau", "algorithm", "n", "geomean", "lo", "hi", "trials", "m", "N", "s", "sigma", "step")
COMPARISON_COLUMNS = ("check", "algorithm", "n", "tau", "ours", "reference", "ratio", "ok")


def plot(rows: list, path: str) -> None:
    """Draw the Fig. 2 panels of ``study_rows`` into ``path`` (.png) and its .svg twin, atomically."""
    from matplotlib.figure import Figure  # matplotlib is slow to import: only when drawing

    from ..analysis.fig_soft_vs_hard import draw_difference_panels

    t = pd.DataFrame(rows)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    draw_difference_panels(fig, t, bounds=False, title_of=lambda a, g: f"Soft-{a} vs {a}"
                           + (f" (step {IHT_STEP:g})" if a == "IHT" else ""))
    fig.suptitle(f"Fig. 2: Gaussian {M}x{N}, s = {S}, sigma = {SIGMA:g}; band: 10^(mean +- std log10)")
    root, _ = os.path.splitext(path)
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=130, metadata={"Software": None} if ext == "png" else {"Date": None})
        atomic_write_bytes(f"{root}.{ext}", buf.getvalue())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="greedybench fig2", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials for both algorithms (default: 50 for OMP, 100 for IHT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()

    trials = {"OMP": args.trials or 50, "IHT": args.trials or 100}
    results = run_study(trials["OMP"], trials["IHT"], seed=args.seed)
    rows = study_rows(results, trials)
    write_csv(os.path.join(args.out, "fig2.csv"), CSV_COLUMNS, rows)
    plot(rows, os.path.join(args.out, "fig2.png"))
    checks = compare(results)
    write_csv(os.path.join(args.out, "fig2_comparison.csv"), COMPARISON_COLUMNS, checks)

    print(f"Fig. 2 reproduction: {trials['OMP']} OMP / {trials['IHT']} IHT trials, "
          f"{len(TAUS)} temperatures, {time.perf_counter() - t0:.1f} s")
    print(f"{'check':6s} {'alg':4s} {'n':>3s} {'tau':>8s} {'ours':>10s} {'reference':>10s} {'ratio':>8s}  ok")
    for r in checks:
        print(f"{r['check']:6s} {r['algorithm']:4s} {r['n']:3d} {r['tau']:8.0e} {r['ours']:10.3g} "
              f"{r['reference']:10.3g} {r['ratio']:8.3g}  {'yes' if r['ok'] else 'NO'}")
    n_ok = sum(r["ok"] for r in checks)
    print(f"{n_ok}/{len(checks)} checks within target (ratio in [1/3, 3]; floor <= 2e-12)")
    return {"results": results, "comparison": checks}


if __name__ == "__main__":
    main()
