"""Batched greedybench.omp against SPAMS, scikit-learn and the batched-OMP package, paired rounds.

Settings (shared Gaussian A with unit-norm columns, s-sparse Gaussian signals, noiseless; the
seeded builder of the asv suite):

    foundation  B = 2000, m = 256,  N = 512,  s = 32   (the suite's OMP speed problem)
    patches     B = 5000, m = 256,  N = 1024, s = 32   (the batched-OMP package's own benchmark,
    audio       B = 5000, m = 512,  N = 2048, s = 64    its three settings)
    faces       B = 1200, m = 8064, N = 1207, s = 30

Protocol: every method runs once untimed (and its supports are compared with greedybench's), then
``--rounds`` rounds; in each round every method runs once, in an order that alternates between
rounds, so that load from other processes hits all methods alike. Each peer's ratio is computed
per round (peer time per problem / greedybench time per problem) and printed as the median with
its range [min, max] over the rounds. Threads: torch.set_num_threads(T) for greedybench and the
torch peer, ``numThreads=T`` for SPAMS, threadpoolctl for scikit-learn's BLAS. Peers that are
slow at these sizes (scikit-learn, the batched-OMP package) run on the first ``--peer-batch``
problems only (time per problem is compared; their per-problem cost does not depend on B).

``--shared-core`` instead measures the busy-neighbour case on this machine: one competing busy
process (``python -c "while True: pass"``, started and killed here) runs while omp, iht and
soft_omp are timed at the default threading (``--threads``) and at one thread, alternating; the
ratio default / one thread must not exceed 1 (no collapse).

    python benchmarks/ratios/omp_vs_peers.py                               # all settings, 1 and 2 threads, both dtypes
    python benchmarks/ratios/omp_vs_peers.py --settings foundation --threads 2 --dtypes float64
    python benchmarks/ratios/omp_vs_peers.py --shared-core

SPAMS is ``spams-bin`` (C++ Batch-OMP on OpenMP, OpenBLAS). Its supports differ from OMP's on a
few problems out of thousands even in float64 (greedybench and scikit-learn agree on all of
them); the printed agreement says how many. In float32 it is called with ``eps=0.0``.
The batched-OMP package is ``orthogonal-matching-pursuit-gpu``
(``run_omp``, algorithms v0 and naive, precompute=True, normalize=False, fit_intercept=False).
Both are in the ``bench`` extra and skipped with a note if missing. greedybench's compiled OMP
kernel needs numba (the ``fast`` extra); the header line says whether it was used (the untimed
first run compiles it or loads it from numba's cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

SETTINGS = {
    "foundation": (2000, 256, 512, 32),
    "patches": (5000, 256, 1024, 32),
    "audio": (5000, 512, 2048, 64),
    "faces": (1200, 8064, 1207, 30),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--peer-batch", type=int, default=400,
                   help="problems given to scikit-learn and the batched-OMP package (default 400)")
    p.add_argument("--skip", nargs="*", default=[], choices=["spams", "sklearn", "peer"])
    p.add_argument("--shared-core", action="store_true", help="the busy-neighbour measurement instead")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def fmt(v):
    return f"{statistics.median(v):6.2f} [{min(v):.2f}, {max(v):.2f}]"


def peer_methods(args, A, Y, s, T, dt):
    """name -> (callable, number of problems it solves); callables return x (b, N) as numpy."""
    import numpy as np
    import torch

    import greedybench as gb
    b = min(args.peer_batch, Y.shape[0])
    methods = {"greedybench": (lambda: gb.omp(A, Y, s).numpy(), Y.shape[0])}
    if "spams" not in args.skip:
        try:
            import spams
        except ImportError:
            print("  spams-bin not installed: SPAMS skipped", file=sys.stderr)
        else:
            D = np.array(A.numpy(), order="F", copy=True)
            X = np.array(Y.numpy().T, order="F", copy=True)
            # eps=0.0: without it spams-bin stops float32 problems early (float64 is unaffected)
            methods["SPAMS omp"] = (lambda: spams.omp(X, D, L=s, eps=0.0, numThreads=T).toarray().T,
                                    Y.shape[0])
    if "sklearn" not in args.skip:
        from sklearn.linear_model import orthogonal_mp_gram
        An, Yn = A.numpy(), Y[:b].numpy()
        methods["sklearn omp_gram"] = (lambda: orthogonal_mp_gram(An.T @ An, An.T @ Yn.T,
                                                                  n_nonzero_coefs=s).T, b)
    if "peer" not in args.skip:
        try:
            from orthogonal_matching_pursuit_gpu import run_omp
        except ImportError:
            print("  orthogonal-matching-pursuit-gpu not installed: skipped", file=sys.stderr)
        else:
            Yb = Y[:b]
            for alg in ("v0", "naive"):
                methods[f"batched-omp {alg}"] = (
                    lambda alg=alg: torch.as_tensor(run_omp(A, Yb, s, precompute=True, tol=None,
                                                            normalize=False, fit_intercept=False,
                                                            alg=alg)).numpy(), b)
    return methods


def ratio_table(args):
    import numpy as np
    import torch
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.common import gaussian_problem

    from greedybench.functional import _omp_compiled
    kernel = ("compiled kernel (numba)" if _omp_compiled.kernel() is not None
              else "torch engines (numba not installed)")
    print(f"greedybench omp: {kernel}; torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"ratio = peer time per problem / greedybench's, median [min, max] over {args.rounds} paired rounds")
    for name in args.settings:
        B, m, N, s = SETTINGS[name]
        for dtype in args.dtypes:
            dt = getattr(torch, dtype)
            A, X, Y = gaussian_problem(B, m, N, s, dtype=dt, seed=args.seed)
            for T in args.threads:
                torch.set_num_threads(T)
                limits = threadpool_limits(T) if threadpool_limits else None
                methods = peer_methods(args, A, Y, s, T, dt)
                ref = None
                agree = {}
                for meth, (f, nb) in methods.items():
                    x = f()
                    ref = x if ref is None else ref
                    agree[meth] = float(np.mean(np.all((x != 0) == (ref[:nb] != 0), axis=1)))
                times = {meth: [] for meth in methods}
                order = list(methods)
                for r in range(args.rounds):
                    for meth in (order if r % 2 == 0 else order[::-1]):
                        f, nb = methods[meth]
                        t0 = time.perf_counter()
                        f()
                        times[meth].append((time.perf_counter() - t0) / nb)
                if limits is not None:
                    limits.unregister()
                gbt = times["greedybench"]
                print(f"\n{name} B={B} m={m} N={N} s={s} {dtype} threads={T}: greedybench "
                      f"{statistics.median(gbt) * B:.3f} s ({1 / statistics.median(gbt):,.0f} problems/s)")
                for meth in methods:
                    if meth == "greedybench":
                        continue
                    ratio = [p / g for p, g in zip(times[meth], gbt)]
                    print(f"  {meth:18s} greedybench faster by {fmt(ratio)}  "
                          f"(same supports on {agree[meth]:.4f})")


def shared_core(args):
    import torch

    import greedybench as gb
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.common import gaussian_problem

    default = max(args.threads)
    B, m, N, s = SETTINGS["foundation"]
    A, X, Y = gaussian_problem(B, m, N, s, dtype=torch.float64, seed=args.seed)
    A1, X1, Y1 = gaussian_problem(1000, 200, 400, 15, dtype=torch.float64, seed=args.seed)
    kernels = {
        "omp (2000x256x512, s=32)": lambda: gb.omp(A, Y, s),
        "iht (2000x256x512, s=32, 30 it.)": lambda: gb.iht(A, Y, s, step=0.6, n_iter=30),
        "soft_omp (1000x200x400, s=15)": lambda: gb.soft_omp(A1, Y1, 15, tau=1e-3),
    }
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        print(f"one busy competing process (pid {busy.pid}) on {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f}; ratio = time at {default} threads / time at 1 thread, "
              f"median [min, max] over {args.rounds} paired rounds (<= 1: no collapse)")
        for name, f in kernels.items():
            t = {1: [], default: []}
            for T in (1, default):
                torch.set_num_threads(T)
                f()
            for r in range(args.rounds):
                for T in ((1, default) if r % 2 == 0 else (default, 1)):
                    torch.set_num_threads(T)
                    t0 = time.perf_counter()
                    f()
                    t[T].append(time.perf_counter() - t0)
            ratio = [a / b for a, b in zip(t[default], t[1])]
            print(f"  {name:34s} {default} threads {statistics.median(t[default]):.3f} s, 1 thread "
                  f"{statistics.median(t[1]):.3f} s, ratio {fmt(ratio)}")
    finally:
        busy.kill()
        busy.wait()
        torch.set_num_threads(default)


def main(argv=None):
    args = parse_args(argv)
    # scikit-learn warns on float32 problems whose last atoms are numerically dependent
    warnings.filterwarnings("ignore", message="Orthogonal matching pursuit ended prematurely")
    # spinning idle OpenMP threads would steal the cores from the ones doing work (set before torch)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.shared_core:
        shared_core(args)
    else:
        ratio_table(args)


if __name__ == "__main__":
    main()
