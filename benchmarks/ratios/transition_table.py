"""rho* at one (N, delta) for several solver variants: the README table of issue 14.

Each variant's 50 % transition is located with the adaptive protocol
(:func:`greedybench.analysis.transition_study.locate_solver_transition`, default
TransitionProtocol) on noiseless problems of one family, through the public solver registry:

    python benchmarks/ratios/transition_table.py                   # N = 512, delta = 0.5
    python benchmarks/ratios/transition_table.py --amplitude rademacher --out table.csv \\
        --solvers "omp,niht,htp,htp[step=normalized],cosamp,cosamp[stop=residual]"

Prints rho*, its 95 % profile-likelihood interval, the 10-90 % width, the trials used and the
wall time of each location (one thread unless told), with rho_W(delta) for reference.
"""

from __future__ import annotations

import argparse
import time

import torch

from greedybench.analysis.l1 import rho_weak
from greedybench.analysis.transition_study import locate_solver_transition
from greedybench.storage import write_csv

DEFAULT = ("omp,niht,htp,htp[step=normalized],cosamp,cosamp[stop=residual],subspace_pursuit,"
           "subspace_pursuit[stop=support],amp,basis_pursuit")
COLUMNS = ["solver", "ensemble", "amplitude", "rule", "threshold", "N", "delta", "m", "rho_star",
           "ci_lo", "ci_hi", "width_10_90", "flag", "s_lo", "s_hi", "n_trials", "seconds", "rho_W"]


def split_specs(text):
    """Comma-separated variant specs; commas inside [...] belong to the spec."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + ([cur.strip()] if cur.strip() else [])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--solvers", default=DEFAULT)
    ap.add_argument("--N", type=int, default=512)
    ap.add_argument("--delta", type=float, default=0.5)
    ap.add_argument("--ensemble", default="gaussian")
    ap.add_argument("--amplitude", default="gaussian")
    ap.add_argument("--rule", default="rel_l2")
    ap.add_argument("--threshold", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--counts", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rw = float(rho_weak(args.delta))
    print(f"N = {args.N}, delta = {args.delta}, {args.ensemble} A, {args.amplitude} nonzeros, "
          f"success {args.rule} <= {args.threshold}; rho_W = {rw:.4f}")
    rows, counts = [], []
    for spec in split_specs(args.solvers):
        t0 = time.perf_counter()
        r = locate_solver_transition(spec, N=args.N, delta=args.delta, seed=args.seed,
                                     ensemble=args.ensemble, amplitude=args.amplitude,
                                     rule=args.rule, threshold=args.threshold)
        dt = time.perf_counter() - t0
        row = {"solver": spec, "ensemble": args.ensemble, "amplitude": args.amplitude,
               "rule": args.rule, "threshold": args.threshold, "N": args.N, "delta": args.delta,
               "m": r.m, "rho_star": r.rho_star, "ci_lo": r.ci_lo, "ci_hi": r.ci_hi,
               "width_10_90": r.width, "flag": r.flag, "s_lo": r.s_lo, "s_hi": r.s_hi,
               "n_trials": int(r.counts["trials"].sum()), "seconds": dt, "rho_W": rw}
        rows.append(row)
        counts += [{"solver": spec, **c} for c in r.counts.to_dict("records")]
        print(f"{spec:>32} {r.rho_star:7.4f} [{r.ci_lo:7.4f}, {r.ci_hi:7.4f}] width {r.width:6.4f} "
              f"{row['n_trials']:5d} trials {dt:6.1f}s {r.flag}", flush=True)
    if args.out:
        write_csv(args.out, COLUMNS, rows)
    if args.counts:
        write_csv(args.counts, ["solver", "s", "rho", "successes", "trials", "stage"], counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
