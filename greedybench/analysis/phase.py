"""Empirical phase transitions: success rates per (delta, rho) cell, the logistic fit per delta
and bootstrap confidence bands for the 50 % curve rho*(delta).

Model (GAGA, Blanchard & Tanner; reference limits.md 2.1 and 2.5)::

    P(success | rho) = 1 / (1 + exp(b0 (b1 rho - 1))),   rho* = 1 / b1,
    rho_p = rho* (1 + ln(1/p - 1) / b0),                 width_10_90 = rho_10 - rho_90
                                                                     = 2 ln(9) rho* / b0.

The fit is maximum likelihood on the binomial counts of each cell (not a least-squares fit of the
rates). In the parametrisation ``P = sigmoid(a + c rho)`` with ``a = b0`` and ``c = -b0 b1`` the
negative log-likelihood is convex, so the point estimate is found by bounded L-BFGS-B from several
starts (step-function guesses between grid points, GAGA-style, and a few slopes) and the best one
kept. Bootstrap refits use a batched, damped Newton method on the same objective and bounds,
started at the point estimate (tested to agree with the scipy fit).

Degenerate columns are flagged instead of fitted: ``all_success`` (rho* lies above the grid:
``rho_star`` is NaN and ``rho_star_bound`` the largest rho tried), ``all_failure`` (below:
bound = smallest rho), ``separated`` (a perfect step between two grid points: rho* is the
midpoint, b0 sits at its upper bound), ``too_few_points``; ``extrapolated`` marks a fitted rho*
outside the rho range tried.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import expit

__all__ = [
    "LogisticFit", "success_rates", "fit_logistic", "rho_star_batch", "bootstrap_rho_star",
    "transition_curve", "logistic_prob", "B0_MAX",
]

B0_MAX = 1.0e4  # upper bound on the steepness b0 (width 2 ln 9 rho*/b0 ~ 4e-4 rho*)
B0_MIN = 1.0e-3
_LN9x2 = 2.0 * math.log(9.0)


def _one_blas_thread():
    """L-BFGS-B calls BLAS on 2-vectors: with several BLAS threads on a busy machine each call
    costs milliseconds of thread wake-ups, so fits run with one thread when threadpoolctl exists."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


@dataclass
class LogisticFit:
    """Result of one logistic fit (one delta)."""

    rho_star: float          # 50 % point 1/b1 (NaN when the column is degenerate)
    b0: float
    b1: float
    width: float             # rho_10 - rho_90 = 2 ln 9 rho* / b0
    flag: str                # "ok", "extrapolated", "separated", "all_success", "all_failure", "too_few_points"
    rho_star_bound: float    # for all_success / all_failure: the grid edge rho* lies beyond
    nll: float               # negative log-likelihood at the optimum
    n_trials: int
    n_cells: int

    def to_dict(self) -> dict:
        return asdict(self)


def logistic_prob(rho, b0, b1):
    """``1 / (1 + exp(b0 (b1 rho - 1)))``."""
    return expit(-b0 * (b1 * np.asarray(rho, dtype=float) - 1.0))


def success_rates(df: pd.DataFrame, *, criterion: str = "success", by=("solver", "family"),
                  decimals: int = 6) -> pd.DataFrame:
    """Empirical success per (``by`` ..., delta, rho) cell.

    Returns one row per cell with ``n_trials``, ``n_success``, ``rate`` and the mean ``m``, ``N``,
    ``s`` of the cell. ``delta`` and ``rho`` are rounded to ``decimals`` so that float noise does not
    split cells.
    """
    if criterion not in df.columns:
        raise KeyError(f"success_rates: column {criterion!r} not in the results table")
    d = df.copy()
    d["delta"] = d["delta"].astype(float).round(decimals)
    d["rho"] = d["rho"].astype(float).round(decimals)
    d["_ok"] = d[criterion].astype(bool).astype(int)
    keys = [*by, "delta", "rho"]
    agg = d.groupby(keys, sort=True, dropna=False).agg(
        n_trials=("_ok", "size"), n_success=("_ok", "sum"))
    for col in ("m", "N", "s"):
        if col in d.columns:
            agg[col] = d.groupby(keys, sort=True, dropna=False)[col].median()
    agg = agg.reset_index()
    agg["rate"] = agg["n_success"] / agg["n_trials"]
    return agg


# ----------------------------------------------------------------------------------------------
# likelihood in (a, c): P = sigmoid(a + c rho); a = b0 >= 0, c = -b0 b1 <= 0


def _nll_grad(theta, rho, k, n):
    a, c = theta
    t = a + c * rho
    # -[k log s(t) + (n - k) log s(-t)] = k softplus(-t) + (n - k) softplus(t)
    nll = np.sum(k * np.logaddexp(0.0, -t) + (n - k) * np.logaddexp(0.0, t))
    r = n * expit(t) - k  # d nll / d t
    return nll, np.array([r.sum(), (r * rho).sum()])


def _to_b(a, c):
    b0 = a
    b1 = -c / a if a > 0 else np.inf
    return b0, b1


def _bounds(rho):
    c_max = B0_MAX / max(float(np.min(rho)), 1e-3) if np.min(rho) > 0 else B0_MAX * 1e3
    return [(B0_MIN, B0_MAX), (-c_max, 0.0)]


def fit_logistic(rho, n_success, n_trials) -> LogisticFit:
    """Maximum-likelihood logistic fit of binomial counts against rho (one delta).

    Parameters
    ----------
    rho : array (C,)
        Sparsity ratios s/m of the cells.
    n_success, n_trials : arrays (C,)
        Successes and trials per cell.
    """
    rho = np.asarray(rho, dtype=float)
    k = np.asarray(n_success, dtype=float)
    n = np.asarray(n_trials, dtype=float)
    keep = n > 0
    rho, k, n = rho[keep], k[keep], n[keep]
    order = np.argsort(rho)
    rho, k, n = rho[order], k[order], n[order]
    total = int(n.sum())
    nan = float("nan")
    if rho.size == 0:
        return LogisticFit(nan, nan, nan, nan, "too_few_points", nan, nan, 0, 0)
    rate = k / n
    if np.all(rate == 1.0):
        return LogisticFit(nan, nan, nan, nan, "all_success", float(rho.max()), 0.0, total, rho.size)
    if np.all(rate == 0.0):
        return LogisticFit(nan, nan, nan, nan, "all_failure", float(rho.min()), 0.0, total, rho.size)
    if np.unique(rho).size < 2:
        return LogisticFit(nan, nan, nan, nan, "too_few_points", nan, nan, total, rho.size)
    if np.all((rate == 0.0) | (rate == 1.0)):
        last_ok = rho[rate == 1.0].max() if np.any(rate == 1.0) else -np.inf
        first_bad = rho[rate == 0.0].min() if np.any(rate == 0.0) else np.inf
        if last_ok < first_bad:  # perfectly separated: the MLE has b0 -> infinity
            lo = last_ok if np.isfinite(last_ok) else first_bad
            hi = first_bad if np.isfinite(first_bad) else last_ok
            rho_star = 0.5 * (lo + hi)
            rho_star = float(rho_star)
            return LogisticFit(rho_star, B0_MAX, 1.0 / rho_star, _LN9x2 * rho_star / B0_MAX,
                               "separated", nan, 0.0, total, rho.size)

    bounds = _bounds(rho)
    starts = []  # the NLL is convex in (a, c): a few starts guard against flat regions only
    mids = 0.5 * (rho[1:] + rho[:-1])
    guesses = [np.interp(0.5, rate[::-1], rho[::-1]), *np.quantile(mids, [0.1, 0.5, 0.9])]
    for r0 in guesses:
        for b0 in (3.0, 30.0):
            if r0 > 0:
                starts.append((b0, -b0 / r0))
    best = None
    with _one_blas_thread():
        for a0, c0 in starts:
            x0 = np.clip([a0, c0], [b[0] for b in bounds], [b[1] for b in bounds])
            res = optimize.minimize(_nll_grad, x0, args=(rho, k, n), jac=True, method="L-BFGS-B",
                                    bounds=bounds,
                                    options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
            if best is None or res.fun < best.fun:
                best = res
    a, c = best.x
    b0, b1 = _to_b(a, c)
    rho_star = 1.0 / b1 if b1 > 0 else nan
    flag = "ok"
    if not np.isfinite(rho_star) or rho_star < rho.min() or rho_star > rho.max():
        flag = "extrapolated"
    return LogisticFit(float(rho_star), float(b0), float(b1), float(_LN9x2 * rho_star / b0),
                       flag, nan, float(best.fun), total, rho.size)


def _newton_batch(rho, k, n, theta0, bounds, n_iter: int = 60):
    """Damped projected Newton on the convex NLL, for R independent count vectors k (R, C)."""
    R = k.shape[0]
    theta = np.tile(np.asarray(theta0, dtype=float), (R, 1))
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])

    def nll(th):
        t = th[:, :1] + th[:, 1:] * rho[None, :]
        return np.sum(k * np.logaddexp(0.0, -t) + (n - k) * np.logaddexp(0.0, t), axis=1)

    f = nll(theta)
    for _ in range(n_iter):
        t = theta[:, :1] + theta[:, 1:] * rho[None, :]
        p = expit(t)
        r = n * p - k
        g = np.stack([r.sum(1), (r * rho).sum(1)], 1)
        w = n * p * (1 - p)
        h00, h01, h11 = w.sum(1), (w * rho).sum(1), (w * rho * rho).sum(1)
        ridge = 1e-9 * (h00 + h11) + 1e-12
        h00, h11 = h00 + ridge, h11 + ridge
        det = h00 * h11 - h01 * h01
        step = np.stack([(h11 * g[:, 0] - h01 * g[:, 1]) / det,
                         (h00 * g[:, 1] - h01 * g[:, 0]) / det], 1)
        alpha = np.ones(R)
        improved = np.zeros(R, dtype=bool)
        for _ls in range(30):  # backtracking until the NLL does not increase
            cand = np.clip(theta - alpha[:, None] * step, lo, hi)
            fc = nll(cand)
            ok = fc <= f + 1e-12
            newly = ok & ~improved
            theta[newly] = cand[newly]
            f[newly] = fc[newly]
            improved |= ok
            alpha = np.where(improved, alpha, alpha * 0.5)
            if improved.all():
                break
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta


def rho_star_batch(rho, n_success, n_trials, *, start: LogisticFit | None = None):
    """rho* of many count vectors on the same cells (bootstrap replicates), vectorised.

    The batched twin of :func:`fit_logistic`, with the same rules per replicate: flag
    ``all_success`` / ``all_failure`` for degenerate rows, the midpoint between the last all-success
    and the first all-failure cell for perfectly separated rows (``separated``), else the
    maximum-likelihood rho* (damped Newton on the same convex likelihood, started from ``start``,
    typically the fit of the observed counts; ``extrapolated`` when outside the cells' rho range).

    Parameters
    ----------
    rho : array (C,)
        Sparsity ratios s/m of the cells.
    n_success : array (R, C)
        Successes per replicate and cell.
    n_trials : array (C,)
        Trials per cell (the same in every replicate).

    Returns
    -------
    rho_star : array (R,) (NaN where undefined: degenerate rows)
    flags : array (R,) of str
    """
    rho = np.asarray(rho, dtype=float)
    k = np.atleast_2d(np.asarray(n_success, dtype=float))
    n = np.asarray(n_trials, dtype=float)
    keep = n > 0
    rho, k, n = rho[keep], k[:, keep], n[keep]
    order = np.argsort(rho, kind="stable")
    rho, k, n = rho[order], k[:, order], n[order]
    R = k.shape[0]
    out = np.full(R, np.nan)
    flags = np.full(R, "too_few_points", dtype=object)
    if rho.size == 0:
        return out, flags
    rate = k / n
    all_s = np.all(rate == 1.0, axis=1)
    all_f = np.all(rate == 0.0, axis=1)
    flags[all_s] = "all_success"
    flags[all_f & ~all_s] = "all_failure"
    todo = ~(all_s | all_f)
    if np.unique(rho).size < 2:
        return out, flags
    binary = np.all((rate == 0.0) | (rate == 1.0), axis=1) & todo
    if binary.any():
        last_ok = np.where(rate == 1.0, rho[None, :], -np.inf).max(axis=1)
        first_bad = np.where(rate == 0.0, rho[None, :], np.inf).min(axis=1)
        sep = binary & (last_ok < first_bad)
        lo = np.where(np.isfinite(last_ok), last_ok, first_bad)
        hi = np.where(np.isfinite(first_bad), first_bad, last_ok)
        out[sep] = 0.5 * (lo[sep] + hi[sep])
        flags[sep] = "separated"
        todo &= ~sep
    if todo.any():
        bounds = _bounds(rho)
        if start is not None and start.flag in ("ok", "extrapolated") and np.isfinite(start.b1):
            theta0 = (start.b0, -start.b0 * start.b1)
        else:
            theta0 = (30.0, -30.0 / float(np.median(rho)))
        theta0 = np.clip(theta0, [b[0] for b in bounds], [b[1] for b in bounds])
        theta = _newton_batch(rho, k[todo], n, theta0, bounds)
        with np.errstate(divide="ignore", invalid="ignore"):
            rs = -theta[:, 0] / theta[:, 1]
        out[todo] = rs
        inside = np.isfinite(rs) & (rs >= rho.min()) & (rs <= rho.max())
        flags[np.flatnonzero(todo)] = np.where(inside, "ok", "extrapolated")
    return out, flags


def bootstrap_rho_star(rho, n_success, n_trials, *, n_boot: int = 200, seed: int = 0,
                       fit: LogisticFit | None = None, level: float = 0.95):
    """Bootstrap percentile interval of rho* at one delta.

    Each resample redraws the trials of every cell with replacement (a binomial draw with the
    cell's observed rate and trial count), refits, and the ``(1 - level)/2`` and
    ``(1 + level)/2`` percentiles of the finite rho* values are returned as ``(lo, hi, samples)``.
    Resamples that degenerate (all success / all failure) count at the grid edge.
    """
    rho = np.asarray(rho, dtype=float)
    k = np.asarray(n_success, dtype=float)
    n = np.asarray(n_trials, dtype=float)
    keep = n > 0
    rho, k, n = rho[keep], k[keep], n[keep]
    if fit is None:
        fit = fit_logistic(rho, k, n)
    nan = float("nan")
    if fit.flag in ("all_success", "all_failure", "too_few_points") or rho.size < 2:
        return nan, nan, np.full(n_boot, nan)
    rng = np.random.default_rng(seed)
    kb = rng.binomial(n.astype(np.int64), k / n, size=(n_boot, rho.size)).astype(float)
    bounds = _bounds(rho)
    theta0 = (fit.b0, -fit.b0 * fit.b1)
    theta = _newton_batch(rho, kb, n, theta0, bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = -theta[:, 0] / theta[:, 1]
    rate = kb / n
    samples = np.where(np.all(rate == 1.0, axis=1), rho.max(), samples)
    samples = np.where(np.all(rate == 0.0, axis=1), rho.min(), samples)
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return nan, nan, samples
    q = 100.0 * np.array([(1 - level) / 2, (1 + level) / 2])
    lo, hi = np.percentile(finite, q)
    return float(lo), float(hi), samples


def transition_curve(rates: pd.DataFrame, *, n_boot: int = 200, seed: int = 0,
                     level: float = 0.95) -> pd.DataFrame:
    """Fit rho*(delta) from the cells of one solver and problem class.

    ``rates`` is the output of ``success_rates`` restricted to one curve (columns delta, rho,
    n_success, n_trials). Returns one row per delta: rho_star, ci_lo, ci_hi, b0, b1, width,
    rho_10, rho_90, flag, rho_star_bound, n_trials, n_cells. The bootstrap seed of each delta is
    ``seed`` plus the delta's index, so the result does not depend on which other deltas exist
    only through that index.
    """
    rows = []
    for i, (delta, cell) in enumerate(rates.groupby("delta", sort=True)):
        fit = fit_logistic(cell["rho"].to_numpy(), cell["n_success"].to_numpy(),
                           cell["n_trials"].to_numpy())
        lo, hi, _ = (bootstrap_rho_star(cell["rho"].to_numpy(), cell["n_success"].to_numpy(),
                                        cell["n_trials"].to_numpy(), n_boot=n_boot,
                                        seed=seed + i, fit=fit, level=level)
                     if n_boot > 0 else (float("nan"),) * 3)
        row = {"delta": float(delta), **fit.to_dict(), "ci_lo": lo, "ci_hi": hi}
        ln9 = math.log(9.0)
        row["rho_90"] = fit.rho_star * (1 - ln9 / fit.b0) if fit.b0 == fit.b0 else float("nan")
        row["rho_10"] = fit.rho_star * (1 + ln9 / fit.b0) if fit.b0 == fit.b0 else float("nan")
        rows.append(row)
    cols = ["delta", "rho_star", "ci_lo", "ci_hi", "b0", "b1", "width", "rho_90", "rho_10", "flag",
            "rho_star_bound", "nll", "n_trials", "n_cells"]
    return pd.DataFrame(rows, columns=cols)
