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

import sys
from pathlib import Path

from greedybench.analysis.l1 import rho_weak

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.ratios._transition_cli import locate, parse, transition_parser, write_outputs  # noqa: E402

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
    ap = transition_parser(__doc__)
    ap.add_argument("--solvers", default=DEFAULT)
    ap.add_argument("--delta", type=float, default=0.5)
    ap.add_argument("--ensemble", default="gaussian")
    ap.add_argument("--amplitude", default="gaussian")
    ap.add_argument("--rule", default="rel_l2")
    args = parse(ap, argv)
    rw = float(rho_weak(args.delta))
    print(f"N = {args.N}, delta = {args.delta}, {args.ensemble} A, {args.amplitude} nonzeros, "
          f"success {args.rule} <= {args.threshold}; rho_W = {rw:.4f}")
    rows, counts = [], []
    for spec in split_specs(args.solvers):
        r, fields = locate(spec, N=args.N, delta=args.delta, seed=args.seed, ensemble=args.ensemble,
                           amplitude=args.amplitude, rule=args.rule, threshold=args.threshold)
        row = {"solver": spec, "ensemble": args.ensemble, "amplitude": args.amplitude,
               "rule": args.rule, "threshold": args.threshold, "N": args.N, "delta": args.delta,
               **fields, "width_10_90": r.width, "rho_W": rw}
        rows.append(row)
        counts += [{"solver": spec, **c} for c in r.counts.to_dict("records")]
        print(f"{spec:>32} {r.rho_star:7.4f} [{r.ci_lo:7.4f}, {r.ci_hi:7.4f}] width {r.width:6.4f} "
              f"{row['n_trials']:5d} trials {row['seconds']:6.1f}s {r.flag}", flush=True)
    write_outputs(args, COLUMNS, rows, ["solver", "s", "rho", "successes", "trials", "stage"], counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
