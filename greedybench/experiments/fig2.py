"""Reproduce Fig. 2 of Deep greedy unfolding (reference 5.1 / 5.2): soft vs hard difference vs tau.

For OMP (n = 5, 15, 30; 50 trials) and IHT (n = 1, 10, 30, step 0.6; 100 trials) on the 200 x 400
Gaussian setup, the difference error ||x^n - x~^n|| / ||x^n|| between the hard iterate and the
soft one at temperature tau, for tau = 10^-10 .. 10^1.5 in half decades. Curves are geometric
means over trials (1e-12 added before the log, so 1e-12 means identical); bands are
10^(mean +- std of log10).

Instances follow the authors' generator: a fresh A per trial (i.i.d. N(0, 1), unit-norm columns),
a support of s = 15 indices drawn WITH replacement from {1, .., N-1} (randint; duplicates give a
support of size <= s, a duplicate index keeps the last of its values), N(0, 1) values, ||x|| = 1,
noise sigma * g / sqrt(m) with sigma = 1e-3; float64. All trials run as one batch with
per-problem A, and all temperatures at once (the soft kernels take a (B, T) grid of problems).

Usage::

    python -m greedybench.experiments.fig2 --out DIR [--trials N] [--seed S] [--threads K]

writes DIR/fig2.csv (tau, algorithm, n, geomean, lo, hi), DIR/fig2.png and
DIR/fig2_comparison.csv, and prints the comparison with the reference tables.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import time

import torch

from ..functional.soft import _iht_kernel, _omp_kernel

M, N, S, SIGMA = 200, 400, 15, 1e-3
TAUS = [10.0 ** (-10 + 0.5 * i) for i in range(24)]
FLOOR = 1e-12
OMP_ITERS, IHT_ITERS, IHT_STEP = (5, 15, 30), (1, 10, 30), 0.6

# reference 5.2, geometric means of the stored results [DATA]
REF_OMP = {  # tau -> {n: value}
    1e-7: {5: 1e-12, 15: 1.3e-12, 30: 1.3e-7}, 1e-6: {5: 1e-12, 15: 3.9e-12, 30: 3.1e-4},
    1e-5: {5: 1.7e-12, 15: 2.6e-11, 30: 7.7e-4}, 1e-4: {5: 2.7e-12, 15: 9.8e-11, 30: 1.2e-3},
    10 ** -3.5: {5: 1.9e-11, 15: 3.7e-9, 30: 1.1e-3}, 1e-3: {5: 4.0e-8, 15: 1.0e-6, 30: 1.1e-3},
    10 ** -2.5: {5: 6.2e-5, 15: 9.7e-4, 30: 2.1e-3}, 1e-2: {5: 3.9e-2, 15: 2.3e-2, 30: 2.0e-2},
    10 ** -1.5: {5: 0.24, 15: 0.12, 30: 0.12}, 0.1: {5: 0.39, 15: 0.40, 30: 0.40},
    1.0: {5: 1.0, 15: 0.96, 30: 0.99},
}
REF_IHT = {
    1e-6: {1: 1.4e-12, 10: 1.6e-12, 30: 8.0e-12}, 1e-5: {1: 8.3e-12, 10: 7.9e-11, 30: 1.9e-10},
    10 ** -4.5: {1: 5.6e-10, 10: 5.5e-8, 30: 5.1e-9}, 1e-4: {1: 6.5e-6, 10: 4.6e-5, 30: 1.6e-7},
    10 ** -3.5: {1: 5.5e-3, 10: 1.0e-3, 30: 2.6e-6}, 1e-3: {1: 4.6e-2, 10: 4.6e-3, 30: 1.8e-4},
    10 ** -2.5: {1: 0.11, 10: 1.8e-2, 30: 1.4e-2}, 1e-2: {1: 0.23, 10: 9.1e-2, 30: 9.3e-2},
    0.1: {1: 0.92, 10: 0.95, 30: 0.95},
}
COMPARE_TAUS = (1e-4, 1e-3, 1e-2)


def make_instances(trials: int, generator: torch.Generator, dtype=torch.float64):
    """A (B, m, N) with unit-norm columns, y (B, m), x (B, N) as in reference 5.1 (Fig. 2)."""
    A = torch.randn(trials, M, N, generator=generator, dtype=dtype)
    A = A / torch.linalg.vector_norm(A, dim=1, keepdim=True)
    support = torch.randint(1, N, (trials, S), generator=generator)
    values = torch.randn(trials, S, generator=generator, dtype=dtype)
    x = torch.zeros(trials, N, dtype=dtype)
    for j in range(S):                    # in order, so a repeated index keeps its last value
        x.scatter_(1, support[:, j:j + 1], values[:, j:j + 1])
    x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
    noise = SIGMA * torch.randn(trials, M, generator=generator, dtype=dtype) / math.sqrt(M)
    y = (A @ x.unsqueeze(-1)).squeeze(-1) + noise
    return A, y, x


def difference_errors(kernel, A, y, n_max, **kw):
    """||x^n - x~^n|| / ||x^n||, shape (B, T, n_max + 1), for every tau of TAUS at once."""
    taus = torch.tensor(TAUS, dtype=A.dtype).reshape(1, -1, 1)
    Y = y.unsqueeze(1)
    with torch.no_grad():
        hard = kernel(A, Y, tau=None, W=None, hard=True, return_path=True, **kw)["x"]   # (B, 1, n+1, N)
        soft = kernel(A, Y.expand(-1, len(TAUS), -1), tau=taus, W=None, return_path=True, **kw)["x"]
    num = torch.linalg.vector_norm(soft - hard, dim=-1)
    den = torch.linalg.vector_norm(hard, dim=-1)
    return num / torch.where(den > 0, den, 1.0)


def summarise(err: torch.Tensor, iters) -> dict:
    """{n: (geomean, lo, hi) per tau} from err (B, T, n+1)."""
    out = {}
    for n in iters:
        lg = torch.log10(err[:, :, n] + FLOOR)
        mu, sd = lg.mean(0), lg.std(0)
        out[n] = (10 ** mu, 10 ** (mu - sd), 10 ** (mu + sd))
    return out


def _nearest(tau_grid, tau):
    return min(range(len(tau_grid)), key=lambda i: abs(math.log10(tau_grid[i]) - math.log10(tau)))


def compare(results: dict) -> list:
    """Rows (algorithm, n, tau, ours, reference, ratio) at COMPARE_TAUS and the floor checks."""
    rows = []
    for alg, ref in (("OMP", REF_OMP), ("IHT", REF_IHT)):
        for n, (gm, _, _) in results[alg].items():
            for tau in COMPARE_TAUS:
                i = _nearest(TAUS, tau)
                r = ref[min(ref, key=lambda t: abs(math.log10(t) - math.log10(tau)))][n]
                ours = float(gm[i])
                rows.append(dict(check="ratio", algorithm=alg, n=n, tau=tau, ours=ours, reference=r,
                                 ratio=ours / r, ok=(1 / 3 <= ours / r <= 3)))
            if n <= S:
                worst = max(float(gm[i]) for i, t in enumerate(TAUS) if t <= 1e-6 * 1.0001)
                rows.append(dict(check="floor", algorithm=alg, n=n, tau=1e-6, ours=worst,
                                 reference=FLOOR, ratio=worst / FLOOR, ok=worst <= 2 * FLOOR))
    return rows


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, alg, title in ((axes[0], "OMP", "Soft-OMP vs OMP"),
                           (axes[1], "IHT", f"Soft-IHT vs IHT (step {IHT_STEP})")):
        for n, (gm, lo, hi) in results[alg].items():
            line, = ax.loglog(TAUS, gm.tolist(), marker="o", ms=3, label=f"n = {n}")
            ax.fill_between(TAUS, lo.tolist(), hi.tolist(), color=line.get_color(), alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel(r"temperature $\tau$")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right")
    axes[0].set_ylabel(r"$\|x^{(n)} - \tilde x^{(n)}\|_2 / \|x^{(n)}\|_2$ (geometric mean)")
    fig.suptitle(f"Fig. 2: Gaussian {M}x{N}, s = {S}, sigma = {SIGMA:g}; band: 10^(mean +- std log10)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m greedybench.experiments.fig2", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials for both algorithms (default: 50 for OMP, 100 for IHT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()

    g = torch.Generator().manual_seed(args.seed)
    A, y, _ = make_instances(args.trials or 50, g)
    omp_err = difference_errors(_omp_kernel, A, y, max(OMP_ITERS), n_iter=max(OMP_ITERS))
    g = torch.Generator().manual_seed(args.seed + 1)
    A, y, _ = make_instances(args.trials or 100, g)
    iht_err = difference_errors(_iht_kernel, A, y, max(IHT_ITERS), s=S, step=IHT_STEP,
                                n_iter=max(IHT_ITERS))
    results = {"OMP": summarise(omp_err, OMP_ITERS), "IHT": summarise(iht_err, IHT_ITERS)}

    with open(os.path.join(args.out, "fig2.csv"), "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["tau", "algorithm", "n", "geomean", "lo", "hi"])
        for alg, res in results.items():
            for n, (gm, lo, hi) in res.items():
                for i, tau in enumerate(TAUS):
                    wr.writerow([f"{tau:.6g}", alg, n, f"{float(gm[i]):.6g}", f"{float(lo[i]):.6g}",
                                 f"{float(hi[i]):.6g}"])
    plot(results, os.path.join(args.out, "fig2.png"))
    rows = compare(results)
    with open(os.path.join(args.out, "fig2_comparison.csv"), "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)

    print(f"Fig. 2 reproduction: {args.trials or 50} OMP / {args.trials or 100} IHT trials, "
          f"{len(TAUS)} temperatures, {time.perf_counter() - t0:.1f} s")
    print(f"{'check':6s} {'alg':4s} {'n':>3s} {'tau':>8s} {'ours':>10s} {'reference':>10s} {'ratio':>8s}  ok")
    for r in rows:
        print(f"{r['check']:6s} {r['algorithm']:4s} {r['n']:3d} {r['tau']:8.0e} {r['ours']:10.3g} "
              f"{r['reference']:10.3g} {r['ratio']:8.3g}  {'yes' if r['ok'] else 'NO'}")
    n_ok = sum(r["ok"] for r in rows)
    print(f"{n_ok}/{len(rows)} checks within target (ratio in [1/3, 3]; floor <= 2e-12)")
    return {"results": results, "comparison": rows}


if __name__ == "__main__":
    main()
