"""Batched greedybench.omp against scikit-learn and the peer torch package, on one machine.

The problem of the OMP speed issue: B identical-shape problems, shared Gaussian A (m x N) with
unit-norm columns, s-sparse Gaussian signals, noiseless, float64. Every method gets the same
(A, Y); supports are checked to agree before timing. Timing protocol: one warm-up call per method
(excluded), then ``--repeats`` rounds; each round times every method once, interleaved, so that
load from other processes hits all methods alike; the table shows the median (and min/max).

    python benchmarks/ratios/omp_vs_peers.py                       # B=2000 m=256 N=512 s=32, 2 threads
    python benchmarks/ratios/omp_vs_peers.py --device cuda --B 20000

scikit-learn runs on the CPU only; with ``--device cuda`` it still runs (on the host) unless
``--skip-sklearn``. The peer is ``orthogonal_matching_pursuit_gpu.run_omp`` (algorithms 'v0' and
'naive', precompute=True, normalize=False, fit_intercept=False); it is skipped if not installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--B", type=int, default=2000)
    p.add_argument("--m", type=int, default=256)
    p.add_argument("--N", type=int, default=512)
    p.add_argument("--s", type=int, default=32)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-sklearn", action="store_true")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--omp-wait-policy", default=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                   choices=["PASSIVE", "ACTIVE"],
                   help="OpenMP wait policy of torch's thread pool (set before torch is imported). "
                        "PASSIVE (default) keeps idle OpenMP threads from spinning, which on a shared "
                        "2-core machine otherwise steals the cores from the threads doing work")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    if "torch" in sys.modules:  # pragma: no cover
        print("note: torch was imported before main(); OMP_WAIT_POLICY may not apply", file=sys.stderr)
    import numpy as np
    import torch

    import greedybench as gb

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.common import gaussian_problem  # the asv suite's seeded builder
    from greedybench.functional.omp import _omp

    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:  # pragma: no cover
        pass
    dev = torch.device(args.device)
    dt = getattr(torch, args.dtype)
    B, m, N, s = args.B, args.m, args.N, args.s

    A, X, Y = gaussian_problem(B, m, N, s, dtype=torch.float64, seed=args.seed)
    A_np, Y_np = A.numpy(), Y.numpy()
    A_d, Y_d = A.to(dev, dt), Y.to(dev, dt)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    methods = {}  # name -> callable returning x (B, N) as numpy float64
    methods["greedybench omp"] = lambda: gb.omp(A_d, Y_d, s)
    methods["greedybench omp (residual engine)"] = lambda: _omp(A_d, Y_d, s, engine="residual")
    if not args.skip_sklearn:
        from sklearn.linear_model import orthogonal_mp, orthogonal_mp_gram
        methods["sklearn orthogonal_mp_gram"] = lambda: orthogonal_mp_gram(
            A_np.T @ A_np, A_np.T @ Y_np.T, n_nonzero_coefs=s).T
        methods["sklearn orthogonal_mp"] = lambda: orthogonal_mp(A_np, Y_np.T, n_nonzero_coefs=s).T
    if not args.skip_peer:
        try:
            from orthogonal_matching_pursuit_gpu import run_omp
        except ImportError:
            print("peer orthogonal_matching_pursuit_gpu not installed: skipped", file=sys.stderr)
        else:
            for alg in ("v0", "naive"):
                methods[f"peer run_omp {alg}"] = (lambda alg=alg: run_omp(
                    A_d, Y_d, s, precompute=True, tol=None, normalize=False, fit_intercept=False, alg=alg))

    def as_np(out):
        if isinstance(out, torch.Tensor):
            return out.detach().to("cpu", torch.float64).numpy()
        return np.asarray(out, dtype=np.float64)

    # correctness first: every method must find the same supports (and values close)
    results = {}
    for name, f in methods.items():
        x = as_np(f())
        sync()
        results[name] = x
    ref = results["greedybench omp"]
    atol = 1e-8 if dt == torch.float64 else 1e-3
    import sklearn
    print(f"OMP B={B} m={m} N={N} s={s} {args.dtype} device={dev} threads={args.threads} "
          f"OMP_WAIT_POLICY={args.omp_wait_policy} torch {torch.__version__} "
          f"sklearn {sklearn.__version__} numpy {np.__version__} load average {os.getloadavg()[0]:.1f}")
    rel = np.linalg.norm(ref - X.numpy(), axis=1) / np.linalg.norm(X.numpy(), axis=1)
    thr = 1e-6 if dt == torch.float64 else 1e-3
    print(f"greedybench recovers {np.mean(rel < thr):.4f} of the problems (rel. error < {thr:g})")
    for name, x in results.items():
        same = np.mean(np.all((x != 0) == (ref != 0), axis=1))
        close = np.abs(x - ref).max()
        print(f"  {name:36s} same support as greedybench: {same:.4f}  max |x - x_gb| = {close:.2e}")
        if same < 0.999 or close > atol * max(1.0, np.abs(ref).max()):
            print(f"  WARNING: {name} disagrees with greedybench", file=sys.stderr)

    times = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name, f in methods.items():
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            times[name].append(time.perf_counter() - t0)

    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"{'method':38s} {'median s':>9s} {'min s':>8s} {'max s':>8s} {'problems/s':>11s}")
    for name, v in times.items():
        print(f"{name:38s} {med[name]:9.4f} {min(v):8.4f} {max(v):8.4f} {B / med[name]:11.0f}")
    gbt = med["greedybench omp"]
    print()
    for label, key in [("vs sklearn gram (orthogonal_mp_gram, G included)", "sklearn orthogonal_mp_gram"),
                       ("vs sklearn orthogonal_mp", "sklearn orthogonal_mp"),
                       ("vs peer run_omp v0", "peer run_omp v0"),
                       ("vs peer run_omp naive", "peer run_omp naive")]:
        if key in med:
            print(f"greedybench {label:50s} {med[key] / gbt:6.2f}x faster")
    peers = [med[k] for k in ("peer run_omp v0", "peer run_omp naive") if k in med]
    if peers:
        print(f"greedybench vs best peer {'':42s} {min(peers) / gbt:6.2f}x faster")


if __name__ == "__main__":
    main()
