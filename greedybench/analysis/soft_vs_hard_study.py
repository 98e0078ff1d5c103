"""The maths of the soft-vs-hard study (reference Fig. 2), shared by the pipeline and the paper script.

For OMP (n = 5, 15, 30; 50 trials) and IHT (n = 1, 10, 30, step 0.6; 100 trials) on the 200 x 400
Gaussian setup, the difference error ||x^n - x~^n|| / ||x^n|| between the hard iterate and the
soft one at temperature tau, for tau = 10^-10 .. 10^1.5 in half decades. Curves are geometric
means over trials (``FLOOR`` = 1e-12 added before the log, so 1e-12 means identical); bands are
10^(mean +- std of log10).

Instances of the paper script follow the authors' generator (:func:`make_instances`): a fresh A per
trial (i.i.d. N(0, 1), unit-norm columns), a support of s = 15 indices drawn WITH replacement from
{1, .., N-1} (duplicates give a support of size <= s, a duplicate index keeps the last of its
values), N(0, 1) values, ||x|| = 1, noise sigma * g / sqrt(m) with sigma = 1e-3; float64. All trials
run as one batch with per-problem A, and all temperatures at once (the soft kernels take a (B, T)
grid of problems).

- :func:`difference_errors` / :func:`summarise`: the sweep and its geometric means;
- :func:`geo_band` / :func:`bound_summary`: the same statistics over the trials whose Theorem 1 / 2
  bound is finite, the violations and the tightness (the pipeline's tables/fig2.csv);
- :func:`aggregate_soft_vs_hard`: per-problem soft-vs-hard rows -> geometric means per tau;
- :func:`compare`: the comparison with the reference's stored results.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..functional.soft import _iht_kernel, _omp_kernel

__all__ = ["M", "N", "S", "SIGMA", "TAUS", "FLOOR", "OMP_ITERS", "IHT_ITERS", "IHT_STEP", "REF_OMP", "REF_IHT",
           "COMPARE_TAUS", "make_instances", "difference_errors", "summarise", "compare", "run_study",
           "study_rows", "geo_band", "bound_summary", "aggregate_soft_vs_hard", "BOUND_RTOL"]

M, N, S, SIGMA = 200, 400, 15, 1e-3
TAUS = [10.0 ** (-10 + 0.5 * i) for i in range(24)]
FLOOR = 1e-12
OMP_ITERS, IHT_ITERS, IHT_STEP = (5, 15, 30), (1, 10, 30), 0.6
BOUND_RTOL = 1e-9  # a finite bound below the measured difference by more than this (+ FLOOR) violates

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
    """{n: (geomean, lo, hi) per tau} from err (B, T, n+1): 10^(mean +- std of log10(err + FLOOR))."""
    out = {}
    for n in iters:
        lg = torch.log10(err[:, :, n] + FLOOR)
        mu, sd = lg.mean(0), lg.std(0)
        out[n] = (10 ** mu, 10 ** (mu - sd), 10 ** (mu + sd))
    return out


def run_study(omp_trials: int = 50, iht_trials: int = 100, seed: int = 0) -> dict:
    """The paper's sweep: ``{"OMP": summarise(...), "IHT": summarise(...)}`` (OMP instances from
    ``seed``, IHT instances from ``seed + 1``)."""
    g = torch.Generator().manual_seed(seed)
    A, y, _ = make_instances(omp_trials, g)
    omp_err = difference_errors(_omp_kernel, A, y, max(OMP_ITERS), n_iter=max(OMP_ITERS))
    g = torch.Generator().manual_seed(seed + 1)
    A, y, _ = make_instances(iht_trials, g)
    iht_err = difference_errors(_iht_kernel, A, y, max(IHT_ITERS), s=S, step=IHT_STEP, n_iter=max(IHT_ITERS))
    return {"OMP": summarise(omp_err, OMP_ITERS), "IHT": summarise(iht_err, IHT_ITERS)}


def study_rows(results: dict, trials: dict | None = None) -> list:
    """One row per (algorithm, n, tau): tau, algorithm, n, geomean, lo, hi (the script's fig2.csv),
    plus the setup (m, N, s, sigma, step, trials) so the report's Fig. 2 panel can draw it."""
    rows = []
    for alg, res in results.items():
        for n, (gm, lo, hi) in res.items():
            for i, tau in enumerate(TAUS):
                rows.append({"tau": float(tau), "algorithm": alg, "n": int(n), "geomean": float(gm[i]),
                             "lo": float(lo[i]), "hi": float(hi[i]), "trials": (trials or {}).get(alg),
                             "m": M, "N": N, "s": S, "sigma": SIGMA,
                             "step": IHT_STEP if alg == "IHT" else None})
    return rows


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


# ------------------------------------------------------------------------------------ bounds


def geo_band(v: torch.Tensor, mask: torch.Tensor, floor: float):
    """(geometric mean, lo, hi) over dim 0 of ``v`` where ``mask``, as :func:`summarise`: 10^(mean
    +- std of log10(v + floor)) with the sample std; nan where no entry of a column is masked in."""
    lg = torch.log10(v + floor)
    k = mask.sum(0)
    mu = torch.where(mask, lg, 0.0).sum(0) / k.clamp_min(1)
    var = torch.where(mask, (lg - mu).square(), 0.0).sum(0) / (k - 1).clamp_min(1)
    sd = var.sqrt()
    nan = torch.full_like(mu, float("nan"))
    return tuple(torch.where(k > 0, 10 ** x, nan) for x in (mu, mu - sd, mu + sd))


def bound_summary(rel: torch.Tensor, relb: torch.Tensor, iters) -> dict:
    """Per iteration n of ``iters``, the Fig. 2 statistics of the measured differences ``rel`` and
    the bounds ``relb`` (both (B, T, n_max), divided by ||x^n||, column n - 1 is iteration n).

    Returns ``{n: dict}`` with (T,) tensors: geomean, lo, hi over all trials (:func:`summarise`,
    iterate 0 = the zero vector prepended); bound_geomean, bound_lo, bound_hi over the trials whose
    bound is finite; frac_finite; violations (finite bound below the measured difference by more
    than BOUND_RTOL relative plus FLOOR); measured_finite_geomean (the measured difference over the
    same trials) and tightness = geometric mean of (bound + FLOOR) / (measured + FLOOR) over them.
    """
    err = torch.cat([torch.zeros_like(rel[:, :, :1]), rel], dim=-1)
    summ = summarise(err, iters)
    out = {}
    for n in iters:
        gm, lo, hi = summ[n]
        r, b = rel[:, :, n - 1], relb[:, :, n - 1]                          # (B, T)
        fin = torch.isfinite(b)
        bz = torch.where(fin, b, 0.0)
        viol = (fin & (r > bz * (1 + BOUND_RTOL) + FLOOR)).sum(0)
        bgm, blo, bhi = geo_band(bz, fin, FLOOR)
        out[n] = {"geomean": gm, "lo": lo, "hi": hi, "bound_geomean": bgm, "bound_lo": blo, "bound_hi": bhi,
                  "frac_finite": fin.double().mean(0), "violations": viol,
                  "measured_finite_geomean": geo_band(r, fin, FLOOR)[0],
                  "tightness": geo_band((bz + FLOOR) / (r + FLOOR), fin, 0.0)[0]}
    return out


def aggregate_soft_vs_hard(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-problem rows (pipeline: pair, tau, diff, bound ...) -> geometric means per tau, as in
    the reference: 10^mean(log10(diff + 1e-12)), band 10^(mean +- std)."""
    r = rows.copy()
    r["algorithm"] = r["pair"] if "pair" in r.columns else r.get("hard_solver", "algorithm")
    if "n" not in r.columns:
        r["n"] = r["n_iter"] if "n_iter" in r.columns else "final"
    r["_l"] = np.log10(r["diff"].astype(float) + FLOOR)
    has_bound = "bound" in r.columns and pd.to_numeric(r["bound"], errors="coerce").notna().any()
    if has_bound:  # geometric mean over the finite bounds only (an infinite one is vacuous)
        b = pd.to_numeric(r["bound"], errors="coerce")
        r["_b"] = np.log10(b.where(np.isfinite(b)) + FLOOR)
    g = r.groupby(["algorithm", "n", "tau"], sort=True)
    out = g["_l"].agg(["mean", "std", "size"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["geomean"] = 10 ** out["mean"]
    out["lo"] = 10 ** (out["mean"] - out["std"])
    out["hi"] = 10 ** (out["mean"] + out["std"])
    out = out.rename(columns={"size": "trials"}).drop(columns=["mean", "std"])
    if has_bound:  # nan where no bound of the group is finite (not drawn)
        out["bound_geomean"] = 10 ** g["_b"].mean().to_numpy()
    return out
