"""IHT throughput against torch.matmul on the same shapes (GFLOP/s and their ratio).

IHT does two GEMMs per iteration (A x: B x N by N x m, and A^H r: B x m by m x N), counted as
4 m N B real flops; the reference is the same two GEMMs done with bare ``torch.matmul``. The ratio
IHT / matmul is the fraction of the GEMM-only speed that the whole iteration (residual, gradient
step, top-k, gather, scatter) keeps. Target: >= 0.5.

IHT starts from x = 0: the first ~10-20 iterations change most supports (full top-s selection
every iteration), later ones mostly confirm them (cheap check), so the ratio is reported for a
short run (10 iterations) and a typical one (50); the solver entry runs 300.

Usage: python benchmarks/ratios/iht_gflops.py [--threads 2] [--repeats 7] [--n-iter 10,50]
Timings are medians over repeats (wall clock, one warm-up call first); state the machine and the
thread count with the numbers. On CUDA fp32 TF32 is left off (torch default).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import greedybench as gb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import gaussian_problem  # noqa: E402  (the asv suite's seeded builder)

SHAPES = [(2000, 256, 512, 32), (1000, 200, 400, 15)]  # (B, m, N, s)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _interleaved_medians(fns, repeats, device):
    """Median wall time of each callable, the repeats interleaved (fair under shared-CPU noise)."""
    for fn in fns:
        fn()
    _sync(device)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def problem(B, m, N, s, dtype, device, seed=0):
    A, _, Y = gaussian_problem(B, m, N, s, dtype=torch.float64, seed=seed)
    return A.to(device, dtype), Y.to(device, dtype)


def measure(B, m, N, s, dtype, device, n_iter, repeats):
    A, Y = problem(B, m, N, s, dtype, device)
    X = torch.randn(B, N, dtype=dtype, device=device)
    At = A.mT

    def gemms():
        for _ in range(n_iter):
            R = torch.matmul(X, At)
            torch.matmul(R, A)

    def run_iht():
        gb.iht(A, Y, s, step=0.65, n_iter=n_iter)

    flops = 4.0 * m * N * B * n_iter
    t_mm, t_iht = _interleaved_medians([gemms, run_iht], repeats, device)
    return flops / t_mm / 1e9, flops / t_iht / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n-iter", default="10,50", help="comma-separated iteration counts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtypes", default="float64,float32")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"median of {args.repeats} interleaved repeats")
    print(f"{'B':>6} {'m':>5} {'N':>5} {'s':>4} {'dtype':>8} {'n_iter':>6} {'matmul GF/s':>12} "
          f"{'iht GF/s':>10} {'ratio':>6}")
    for n_iter in (int(v) for v in args.n_iter.split(",")):
        for dt in args.dtypes.split(","):
            for B, m, N, s in SHAPES:
                mm, it = measure(B, m, N, s, getattr(torch, dt), device, n_iter, args.repeats)
                print(f"{B:>6} {m:>5} {N:>5} {s:>4} {dt:>8} {n_iter:>6} {mm:>12.1f} {it:>10.1f} "
                      f"{it / mm:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
