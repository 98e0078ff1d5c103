"""What the rho*-locating scripts share (transition_table.py, l1_transition_check.py): their
common command-line options, one timed location with the row fields it gives, and the CSV outputs.
"""

from __future__ import annotations

import argparse
import time

import torch

from greedybench.analysis.transition_study import locate_solver_transition
from greedybench.storage import write_csv


def transition_parser(doc: str) -> argparse.ArgumentParser:
    """A parser (described by the first paragraph of ``doc``) with the options both scripts take:
    --N, --threshold (success: error <= threshold), --seed, --threads, --out, --counts."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--N", type=int, default=512)
    ap.add_argument("--threshold", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="CSV of the printed rows")
    ap.add_argument("--counts", default=None, help="CSV of every raw (s, successes, trials) count")
    return ap


def parse(ap: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """The parsed arguments, with torch's intra-op threads set to --threads."""
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def locate(solver, **kwargs):
    """(result, fields): :func:`locate_solver_transition` and the row fields every script reports
    (m, rho_star, ci_lo, ci_hi, flag, s_lo, s_hi, n_trials, seconds of wall time)."""
    t0 = time.perf_counter()
    r = locate_solver_transition(solver, **kwargs)
    fields = {"m": r.m, "rho_star": r.rho_star, "ci_lo": r.ci_lo, "ci_hi": r.ci_hi, "flag": r.flag,
              "s_lo": r.s_lo, "s_hi": r.s_hi, "n_trials": int(r.counts["trials"].sum()),
              "seconds": time.perf_counter() - t0}
    return r, fields


def write_outputs(args: argparse.Namespace, columns, rows, count_columns, counts) -> None:
    """The rows to --out and the raw counts to --counts, where given (greedybench's CSV format)."""
    if args.out:
        write_csv(args.out, columns, rows)
    if args.counts:
        write_csv(args.counts, count_columns, counts)
