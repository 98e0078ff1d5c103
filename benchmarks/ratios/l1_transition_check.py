"""Validation of the phase-transition protocol by the l1 references (issue 14).

At every delta of a grid, the 50 % transition of AMP (minimax threshold) and of basis pursuit
(ADMM) is located with :func:`greedybench.analysis.transition_study.locate_solver_transition`
on Gaussian A with unit-norm columns (noiseless, Gaussian or +-1 nonzeros) and compared with the
computed weak threshold rho_W(delta) (greedybench.analysis.l1.rho_weak). The acceptance rule of
the issue: |rho* - rho_W| <= 0.03 at every delta >= 0.1 for N >= 512.

    python benchmarks/ratios/l1_transition_check.py                     # N = 512, delta 0.1 .. 0.9
    python benchmarks/ratios/l1_transition_check.py --N 256 --deltas 0.3,0.5 --out check.csv

Prints one row per (solver, delta): rho*, its 95 % profile-likelihood interval, rho_W, the
difference, the number of trials and the wall time; ``--out`` writes the same rows as CSV and
``--counts`` every raw (s, successes, trials) count. Default protocol (TransitionProtocol()),
success = relative l2 error <= 1e-3, a fresh A every 10 trials, float64, one thread unless told.
"""

from __future__ import annotations

import sys
from pathlib import Path

import greedybench as gb
from greedybench.analysis.l1 import rho_weak
from greedybench.analysis.transition import TransitionProtocol

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.ratios._transition_cli import locate, parse, transition_parser, write_outputs  # noqa: E402

SOLVERS = {
    "amp": lambda A, Y, s: gb.amp(A, Y),
    "basis_pursuit": lambda A, Y, s: gb.basis_pursuit(A, Y),
}
COLUMNS = ["solver", "N", "delta", "m", "amplitude", "rho_star", "ci_lo", "ci_hi", "rho_W", "diff",
           "within_0.03", "b0", "flag", "s_lo", "s_hi", "n_trials", "seconds"]


def main(argv=None):
    ap = transition_parser(__doc__)
    ap.add_argument("--deltas", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    ap.add_argument("--solvers", default="amp,basis_pursuit")
    ap.add_argument("--amplitude", default="gaussian", choices=["gaussian", "rademacher"])
    args = parse(ap, argv)
    rows, counts = [], []
    print(f"{'solver':>14} {'delta':>5} {'rho*':>7} {'95% interval':>17} {'rho_W':>7} {'diff':>7} "
          f"{'trials':>6} {'s':>6}")
    for name in args.solvers.split(","):
        for d in (float(v) for v in args.deltas.split(",")):
            r, fields = locate(SOLVERS[name], N=args.N, delta=d, seed=args.seed,
                               protocol=TransitionProtocol(), amplitude=args.amplitude,
                               threshold=args.threshold)
            rw = float(rho_weak(d))
            row = {"solver": name, "N": args.N, "delta": d, "amplitude": args.amplitude, **fields,
                   "rho_W": rw, "diff": r.rho_star - rw, "within_0.03": abs(r.rho_star - rw) <= 0.03,
                   "b0": r.b0}
            rows.append(row)
            for c in r.counts.to_dict("records"):
                counts.append({"solver": name, "N": args.N, "delta": d, "m": r.m, **c})
            print(f"{name:>14} {d:5.2f} {r.rho_star:7.4f} [{r.ci_lo:7.4f}, {r.ci_hi:7.4f}] {rw:7.4f} "
                  f"{r.rho_star - rw:+7.4f} {row['n_trials']:6d} {row['seconds']:5.0f}s", flush=True)
    write_outputs(args, COLUMNS, rows, ["solver", "N", "delta", "m", "s", "rho", "successes", "trials",
                                        "stage"], counts)
    bad = [r for r in rows if r["delta"] >= 0.1 and not r["within_0.03"]]
    print(f"{len(rows) - len(bad)}/{len(rows)} within +-0.03 of rho_W")
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
