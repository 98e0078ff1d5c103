"""Runtime scaling of every untrained solver: time per problem against N and against batch size,
alone and beside a competing process on the same cores (issue 14, item 4).

Problems: Gaussian A (m, N) with unit-norm columns shared by the batch, delta = m / N = 0.5,
rho = s / m = 0.2 (inside every solver's transition), Gaussian nonzeros, noiseless, float64; each
solver is its registry entry's first variant (the study's defaults). Two sweeps:

- N in ``--Ns`` (default 256 .. 2048) at batch ``--batch-for-N`` (16);
- batch in ``--batches`` (default 1 .. 1024) at N = ``--N-for-batch`` (256).

"Shared" runs the same call while a second process multiplies 512 x 512 matrices on one thread
(a solve job beside a timing job, as in the pipeline); "alone" pauses that process (SIGSTOP).
The two conditions alternate within each round (paired rounds keep the machine's drift out of the
ratio). Printed per point: time per problem alone (median and range over rounds), shared, and the
ratio shared / alone (median and range). A point whose single call takes longer than
``--max-call-s`` alone ends that solver's sweep (reported as skipped). Threads: 1 per process.

    python benchmarks/ratios/runtime_scaling.py                      # every untrained solver
    python benchmarks/ratios/runtime_scaling.py --solvers omp,amp --rounds 5 --out scaling.csv

On a machine shared with other users "alone" means "without our competitor": the load average
is printed before and after; report ranges, not single numbers.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import time

import torch

from greedybench.analysis.transition_study import variant_solver
from greedybench.datasets import make_instance
from greedybench.registry import discover
from greedybench.storage import write_csv

COLUMNS = ["sweep", "solver", "N", "m", "s", "batch", "alone_s", "alone_lo", "alone_hi",
           "shared_s", "shared_lo", "shared_hi", "ratio", "ratio_lo", "ratio_hi", "rounds"]
COMPETITOR = ("import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\n"
              "while True:\n    a = torch.tanh(a @ a)\n")


def untrained_solvers():
    """Registry entries that need neither training nor the oracle's hidden support."""
    return sorted(n for n, e in discover([]).items() if not e.trained and not n.endswith("_oracle"))


def problem(N, batch, seed=0):
    m = int(round(0.5 * N))
    s = max(1, int(round(0.2 * m)))
    inst = make_instance(ensemble="gaussian", signal="uniform", amplitude="gaussian", m=m, N=N,
                         s=s, batch=batch, seed=seed, shared_A=True, dtype=torch.float64)
    return inst.A, inst.Y, m, s


def once(solve, A, Y, s):
    t = time.perf_counter()
    solve(A, Y, s)
    return time.perf_counter() - t


def measure(solve, A, Y, s, competitor, rounds):
    """Paired rounds: (alone times, shared times), each a list of per-call seconds."""
    alone, shared = [], []
    for _ in range(rounds):
        os.kill(competitor.pid, signal.SIGSTOP)
        alone.append(once(solve, A, Y, s))
        os.kill(competitor.pid, signal.SIGCONT)
        time.sleep(0.05)                                   # let it take its core back
        shared.append(once(solve, A, Y, s))
    os.kill(competitor.pid, signal.SIGSTOP)
    return alone, shared


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--solvers", default=",".join(untrained_solvers()))
    ap.add_argument("--Ns", default="256,512,1024,2048")
    ap.add_argument("--batch-for-N", type=int, default=16)
    ap.add_argument("--batches", default="1,16,128,1024")
    ap.add_argument("--N-for-batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-call-s", type=float, default=20.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    points = [("N", N, args.batch_for_N) for N in map(int, args.Ns.split(","))]
    points += [("batch", args.N_for_batch, b) for b in map(int, args.batches.split(","))]
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs; time per problem in ms, "
          f"median [min, max] of {args.rounds} paired rounds")
    print(f"{'solver':>17} {'sweep':>5} {'N':>5} {'B':>5} {'alone':>26} {'shared':>26} "
          f"{'shared/alone':>20}")
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
    rows = []
    try:
        os.kill(competitor.pid, signal.SIGSTOP)
        for name in args.solvers.split(","):
            solve = variant_solver(name)
            skip = set()
            for sweep, N, B in points:
                if sweep in skip:
                    print(f"{name:>17} {sweep:>5} {N:5d} {B:5d} skipped (a smaller point took "
                          f"> {args.max_call_s} s)", flush=True)
                    continue
                A, Y, m, s = problem(N, B)
                first = once(solve, A, Y, s)                    # warm-up, also the cost probe
                rounds = args.rounds if first <= args.max_call_s else 1
                alone, shared = measure(solve, A, Y, s, competitor, rounds)
                if min(alone) > args.max_call_s:
                    skip.add(sweep)
                ratio = [b / a for a, b in zip(alone, shared)]
                pa = [1e3 * t / B for t in alone]
                ps = [1e3 * t / B for t in shared]
                row = {"sweep": sweep, "solver": name, "N": N, "m": m, "s": s, "batch": B,
                       "alone_s": statistics.median(pa) / 1e3, "alone_lo": min(pa) / 1e3,
                       "alone_hi": max(pa) / 1e3, "shared_s": statistics.median(ps) / 1e3,
                       "shared_lo": min(ps) / 1e3, "shared_hi": max(ps) / 1e3,
                       "ratio": statistics.median(ratio), "ratio_lo": min(ratio),
                       "ratio_hi": max(ratio), "rounds": rounds}
                rows.append(row)
                print(f"{name:>17} {sweep:>5} {N:5d} {B:5d} "
                      f"{statistics.median(pa):9.3f} [{min(pa):7.3f}, {max(pa):7.3f}] "
                      f"{statistics.median(ps):9.3f} [{min(ps):7.3f}, {max(ps):7.3f}] "
                      f"{row['ratio']:6.2f} [{min(ratio):5.2f}, {max(ratio):5.2f}]", flush=True)
            for sweep, key in (("N", "N"), ("batch", "batch")):
                pts = [r for r in rows if r["solver"] == name and r["sweep"] == sweep]
                if len(pts) >= 2:
                    a, b = pts[0], pts[-1]
                    slope = (math.log(b["alone_s"] / a["alone_s"])
                             / math.log(b[key] / a[key]))
                    print(f"{name:>17} {sweep:>5} growth of time per problem: "
                          f"{key}^{slope:.2f} from {a[key]} to {b[key]}", flush=True)
    finally:
        os.kill(competitor.pid, signal.SIGCONT)
        competitor.kill()
        competitor.wait()
    print(f"load average {os.getloadavg()}")
    if args.out:
        write_csv(args.out, COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
