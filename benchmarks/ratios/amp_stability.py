"""AMP's finite-N instability at large delta, and the residual damping that removes it (issue 14).

For each delta, K Gaussian sensing matrices (unit-norm columns), each shared by B noiseless
problems at rho = ``--inside`` * rho_W(delta) (far inside the l1 transition, where AMP must
recover every problem) and at rho = ``--near`` * rho_W(delta), are solved by ``greedybench.amp``
with ``damping=1`` (the undamped iteration of Donoho, Maleki & Montanari) and with the default
damping. Prints per (delta, rho, damping): failures (relative l2 error > 1e-2), divergences (error
> 1), matrices with at least one failure, and the median and 90th percentile of the iterations
used (iterations until the problem stopped, n_iter if it never did).

    python benchmarks/ratios/amp_stability.py                           # N = 128, delta 0.1 .. 0.95
    python benchmarks/ratios/amp_stability.py --N 512 --matrices 15 --deltas 0.8,0.95

Iteration counts and failures are deterministic (seeded); no wall-clock numbers.
"""

from __future__ import annotations

import argparse
import inspect

import torch

import greedybench as gb
from greedybench.analysis.l1 import rho_weak
from greedybench.datasets import make_instance

DEFAULT_DAMPING = inspect.signature(gb.amp).parameters["damping"].default


def iterations(path: torch.Tensor) -> torch.Tensor:
    """Iterations used per problem: the last t with x^t != x^(t-1) (path (B, n_iter + 1, N))."""
    moved = (path[:, 1:] != path[:, :-1]).any(-1)                       # (B, n_iter)
    t = torch.arange(1, moved.shape[1] + 1).expand_as(moved)
    return (t * moved).amax(-1)


def measure(N, delta, rho, damping, matrices, batch, n_iter, seed):
    m = int(round(delta * N))
    s = max(1, int(round(rho * m)))
    fails = divs = bad_A = 0
    its = []
    for k in range(matrices):
        inst = make_instance(ensemble="gaussian", signal="uniform", amplitude="gaussian", m=m, N=N,
                             s=s, batch=batch, seed=seed + k, shared_A=True, dtype=torch.float64)
        path = gb.amp(inst.A, inst.Y, n_iter=n_iter, damping=damping, return_path=True)
        err = (path[:, -1] - inst.X).norm(dim=-1) / inst.X.norm(dim=-1)
        fails += int((err > 1e-2).sum())
        divs += int((err > 1).sum())
        bad_A += int((err > 1e-2).any())
        its.append(iterations(path))
    its = torch.cat(its).double()
    return {"fail": fails, "div": divs, "bad_A": bad_A, "n": matrices * batch,
            "it50": float(its.median()), "it90": float(its.quantile(0.9))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--N", type=int, default=128)
    ap.add_argument("--deltas", default="0.1,0.3,0.5,0.65,0.8,0.95")
    ap.add_argument("--inside", type=float, default=0.65, help="rho / rho_W far inside")
    ap.add_argument("--near", type=float, default=0.95, help="rho / rho_W near the transition")
    ap.add_argument("--matrices", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--n-iter", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"N = {args.N}, {args.matrices} matrices x {args.batch} problems per cell, "
          f"n_iter = {args.n_iter}, failure = relative l2 error > 1e-2")
    print(f"{'delta':>5} {'rho':>6} {'damping':>7} {'failures':>9} {'err>1':>6} {'bad A':>6} "
          f"{'iters p50':>9} {'p90':>6}")
    for delta in (float(v) for v in args.deltas.split(",")):
        for frac in (args.inside, args.near):
            rho = frac * float(rho_weak(delta))
            for damping in (1.0, DEFAULT_DAMPING):
                r = measure(args.N, delta, rho, damping, args.matrices, args.batch, args.n_iter,
                            args.seed)
                print(f"{delta:5.2f} {rho:6.3f} {damping:7.2f} {r['fail']:4d}/{r['n']:<4d} "
                      f"{r['div']:6d} {r['bad_A']:6d} {r['it50']:9.0f} {r['it90']:6.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
