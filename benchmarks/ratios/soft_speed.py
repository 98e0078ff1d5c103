"""Speed ratios of the soft solvers on one machine (B = 1000, m = 200, N = 400, float64, CPU).

Prints
1. soft_omp GFLOP/s (15 iterations, flops counted: the two products A^H r and A p per iteration,
   4 B m N) against torch.matmul on the same shapes (30 products r @ A, p @ A^T);
2. soft_iht time / iht time (s = 15, 30 iterations, step 0.6);
3. soft_omp and soft_iht against a per-problem Python loop of the same algorithm (the authors'
   one-sample-at-a-time form: B~ = A P~^T and a fresh least squares every iteration, full SoftSort
   rows; for Soft-OMP also a leaner loop that keeps the columns), timed on a few problems and
   extrapolated to B, and the ceiling: the loop against the batched GEMMs at matmul's rate;
4. peak memory of softsort k = 1 at B = 64, N = 2^16 (ru_maxrss increase of a fresh process).

Timing: warm-up excluded, wall clock; the two sides of each ratio are timed alternately and the
ratio is printed from the best times and as the median (and range) of the paired rounds; threads
pinned with --threads (default 1: on a small shared machine multi-threaded MKL stalls under
contention).

    python benchmarks/ratios/soft_speed.py [--threads K] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

import greedybench as gb

B, M, N, S = 1000, 200, 400, 15


def timeit_paired(fa, fb, repeats):
    """Time fa and fb alternately (warm-up excluded): (min a, min b, median a/b, min a/b, max a/b).

    Alternating keeps a drift of the machine's speed (this VM's matmul rate moves by 15% between
    runs) out of the ratio: each round's two timings see the same state."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for f, ts in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
    r = [a / b for a, b in zip(ta, tb)]
    return min(ta), min(tb), statistics.median(r), min(r), max(r)


def timeit(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def soft_omp_loop_authors(A, y, n_iter, tau):
    """Per-problem Soft-OMP exactly as reference 3.1 writes it (the authors' form): every
    iteration recomputes B~ = A P~^T from the stacked rows, solves with torch.linalg.lstsq's
    default driver, forms x~ = P~^T z~ and the residual y - A x~."""
    xs = []
    for b in range(y.shape[0]):
        r, rows = y[b], []
        for _ in range(n_iter):
            rows.append(torch.softmax((A.conj().T @ r).abs() / tau, dim=0))
            P = torch.stack(rows)                                       # (n, N)
            Bt = A @ P.T                                                # (m, n)
            z = torch.linalg.lstsq(Bt, y[b].unsqueeze(-1)).solution.squeeze(-1)
            x = P.T @ z
            r = y[b] - A @ x
        xs.append(x)
    return torch.stack(xs)


def soft_omp_loop(A, y, n_iter, tau):
    """Per-problem Soft-OMP, a leaner loop than the authors': the soft columns A p are kept
    between iterations (one GEMV each) and the residual is y - B~ z~."""
    xs = []
    for b in range(y.shape[0]):
        r, cols, rows = y[b], [], []
        for _ in range(n_iter):
            p = torch.softmax((A.T @ r).abs() / tau, dim=0)
            rows.append(p)
            cols.append(A @ p)
            Bt = torch.stack(cols, 1)
            z = torch.linalg.lstsq(Bt, y[b].unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
            r = y[b] - Bt @ z
        xs.append(torch.stack(rows, 1) @ z)
    return torch.stack(xs)


def soft_iht_loop(A, y, s, tau, step, n_iter):
    """Per-problem Soft-IHT (reference 3.2 as written): top-s SoftSort rows, column sums."""
    xs = []
    for b in range(y.shape[0]):
        x = torch.zeros(A.shape[1], dtype=A.dtype)
        for _ in range(n_iter):
            u = x + step * (A.T @ (y[b] - A @ x))
            q = gb.softsort(u.abs().unsqueeze(0), tau, s)[0].sum(0)
            x = q * u
        xs.append(x)
    return torch.stack(xs)


def peak_memory_softsort():
    code = (
        "import resource, torch, greedybench as gb\n"
        "v = torch.rand(64, 2**16)\n"
        "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "P = gb.softsort(v, 1e-3, 1)\n"
        "r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((r1 - r0) / 1024, tuple(P.shape))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--loop-problems", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(M, N, generator=g, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=0)
    y = torch.randn(B, M, generator=g, dtype=torch.float64)
    P = torch.rand(B, N, generator=g, dtype=torch.float64)
    tau, n_omp, n_iht, step = 1e-3, 15, 30, 0.6
    print(f"B={B} m={M} N={N} float64, torch {torch.__version__}, threads {torch.get_num_threads()}")

    # 1. soft_omp vs matmul
    def gemms():
        for _ in range(n_omp):
            y @ A
            P @ A.mT
    flops_iter = 4 * B * M * N
    t_mm, t_so, r_med, r_lo, r_hi = timeit_paired(gemms, lambda: gb.soft_omp(A, y, n_omp, tau=tau),
                                                  args.repeats)
    gf_mm, gf_so = n_omp * flops_iter / t_mm / 1e9, n_omp * flops_iter / t_so / 1e9
    print(f"[1] flops per soft_omp iteration counted: 4 B m N = {flops_iter / 1e6:.0f} MFLOP")
    print(f"    matmul  : {gf_mm:6.1f} GFLOP/s ({t_mm * 1e3:.1f} ms for {2 * n_omp} products)")
    print(f"    soft_omp: {gf_so:6.1f} GFLOP/s ({t_so * 1e3:.1f} ms, {n_omp} iterations)")
    print(f"    ratio soft_omp / matmul GFLOP/s = {gf_so / gf_mm:.2f} (best times); "
          f"{r_med:.2f} median of {args.repeats} paired rounds, range {r_lo:.2f}-{r_hi:.2f} (target >= 0.5)")

    # 2. soft_iht vs iht
    t_si, t_hi, r_med, r_lo, r_hi = timeit_paired(
        lambda: gb.soft_iht(A, y, S, tau=tau, step=step, n_iter=n_iht),
        lambda: gb.iht(A, y, S, step=step, n_iter=n_iht), args.repeats)
    print(f"[2] soft_iht {t_si * 1e3:.1f} ms / iht {t_hi * 1e3:.1f} ms = {t_si / t_hi:.2f} (best times); "
          f"{r_med:.2f} median of {args.repeats} paired rounds, range {r_lo:.2f}-{r_hi:.2f} (target <= 2)")
    from greedybench.functional.softiht import _iht_kernel
    t_hk, _ = timeit(lambda: _iht_kernel(A, y.unsqueeze(1), S, None, step, n_iht, None, hard=True),
                     args.repeats)
    print(f"    soft_iht / hard IHT (same kernel, hard top-s mask) = {t_si / t_hk:.2f}")

    # 3. against a per-problem Python loop of the same algorithm
    k = args.loop_problems
    t_la, _ = timeit(lambda: soft_omp_loop_authors(A, y[:k], n_omp, tau), 2)
    t_lo, _ = timeit(lambda: soft_omp_loop(A, y[:k], n_omp, tau), 2)
    t_li, _ = timeit(lambda: soft_iht_loop(A, y[:k], S, tau, step, n_iht), 2)
    x_b = gb.soft_omp(A, y[:k], n_omp, tau=tau)
    x_a, x_l = soft_omp_loop_authors(A, y[:k], n_omp, tau), soft_omp_loop(A, y[:k], n_omp, tau)
    print(f"[3] per-problem loop, {k} problems timed, extrapolated to B={B} (target >= 100x):")
    print(f"    soft_omp: authors' form {t_la / k * B:.2f} s vs batched {t_so:.3f} s -> {t_la / k * B / t_so:.0f}x"
          f" (max |x_batched - x_loop| = {float((x_b - x_a).abs().max()):.1e})")
    print(f"              lean loop     {t_lo / k * B:.2f} s -> {t_lo / k * B / t_so:.0f}x"
          f" (max |x_batched - x_loop| = {float((x_b - x_l).abs().max()):.1e})")
    print(f"    soft_iht: loop {t_li / k * B:.2f} s vs batched {t_si:.3f} s -> {t_li / k * B / t_si:.0f}x")
    # the most any batched kernel could gain: its counted GEMM flops at matmul's rate, nothing else
    best_so = n_omp * flops_iter / (gf_mm * 1e9)
    best_si = n_iht * flops_iter / (gf_mm * 1e9)
    print(f"    ceiling on this machine (batched = its GEMMs at matmul's {gf_mm:.0f} GFLOP/s, no other work):"
          f" soft_omp {t_la / k * B / best_so:.0f}x (authors' form), soft_iht {t_li / k * B / best_si:.0f}x")

    # 4. softsort k = 1 memory
    mb, shape = peak_memory_softsort().split(" ", 1)
    print(f"[4] softsort(v, 1e-3, k=1), B=64, N=2^16 float32: peak RSS increase {float(mb):.1f} MiB "
          f"(output {shape}: 16 MiB; full N x N rows would be {64 * 2**32 * 4 / 2**40:.0f} TiB)")


if __name__ == "__main__":
    main()
