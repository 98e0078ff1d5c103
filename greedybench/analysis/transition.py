"""Adaptive location of a phase transition at one (solver, problem family, N, delta).

The protocol of Blanchard & Tanner's GAGA (reference benchmark_practice.md 3.4), with maximum
likelihood and a likelihood-based interval (:class:`TransitionProtocol` holds every parameter):

1. **Bracket** (coarse bisection on the integer sparsity s, ``probe_trials`` trials per probe):
   the largest s probed with a success rate >= ``success_hi`` (``s_lo``) and the smallest s
   above it with a rate <= ``success_lo`` (``s_hi``), each to within ``bracket_tol``.
2. **Dense sampling**: ``n_points`` equispaced integer s across the bracket widened by
   ``margin`` times its width on each side, ``point_trials`` trials each (when the bracket holds
   fewer integers, the same number of trials is spread over the integers it has).
3. **Fit**: the logistic model P(success | rho) = 1 / (1 + exp(b0 (rho / rho* - 1))),
   rho = s / m, by maximum likelihood on every count (probes included: an adaptive design
   leaves the likelihood unchanged) with :func:`greedybench.analysis.phase.fit_logistic`.
4. **Interval** for rho* at ``level``: profile likelihood (default; {rho*: 2 (min_b0 NLL(rho*,
   b0) - NLL_min) <= chi2_1(level)}), which stays calibrated when the transition is sharp and the
   MLE of b0 runs to its bound, or the nonparametric bootstrap over trials of
   :func:`greedybench.analysis.phase.bootstrap_rho_star`.

The trial function ``run(s, n_trials, seed) -> successes`` is the caller's (it draws and solves
``n_trials`` problems of sparsity s). Every call gets its own seed, derived from the protocol's
seed, the stage and s only (:func:`trial_seed`), so results do not depend on call order and a
resumed computation draws the same problems. Every (s, successes, trials, stage) count is
returned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import chi2

from .phase import B0_MAX, B0_MIN, bootstrap_rho_star, fit_logistic

__all__ = [
    "TransitionProtocol", "TransitionResult", "trial_seed", "bracket", "dense_design",
    "fit_counts", "profile_interval", "locate_transition", "INTERVALS",
]

INTERVALS = ("profile", "bootstrap")
_STAGES = {"probe": 1, "dense": 2}


@dataclass(frozen=True)
class TransitionProtocol:
    """Parameters of the adaptive protocol (defaults in brackets).

    probe_trials : trials per bisection probe [10, GAGA's value]
    success_hi, success_lo : rates that count as "all success" (>=) and "all failure" (<=)
        [0.95, 0.05]
    bracket_tol : the bisection stops when an edge is known to within this many s; None:
        max(1, ceil(sqrt(m) / 10)) (GAGA) [None]
    n_points : dense s values across the bracket [24]
    point_trials : trials per dense s value [20]
    margin : the dense range is the bracket widened by margin * width on each side [0.25]
    level : confidence level of the rho* interval [0.95]
    interval : "profile" (likelihood) or "bootstrap" (nonparametric, over trials) ["profile"]
    n_boot : bootstrap resamples, for interval = "bootstrap" [1000]
    """

    probe_trials: int = 10
    success_hi: float = 0.95
    success_lo: float = 0.05
    bracket_tol: Optional[int] = None
    n_points: int = 24
    point_trials: int = 20
    margin: float = 0.25
    level: float = 0.95
    interval: str = "profile"
    n_boot: int = 1000

    def __post_init__(self):
        for name in ("probe_trials", "n_points", "point_trials", "n_boot"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"TransitionProtocol: {name} must be an integer >= 1; got {v!r}.")
        if self.bracket_tol is not None and (isinstance(self.bracket_tol, bool)
                                             or not isinstance(self.bracket_tol, (int, np.integer))
                                             or self.bracket_tol < 1):
            raise ValueError(f"TransitionProtocol: bracket_tol must be None or an integer >= 1; "
                             f"got {self.bracket_tol!r}.")
        if not (0.0 <= self.success_lo < self.success_hi <= 1.0):
            raise ValueError("TransitionProtocol: need 0 <= success_lo < success_hi <= 1; got "
                             f"{self.success_lo!r}, {self.success_hi!r}.")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"TransitionProtocol: margin must be finite and >= 0; got {self.margin!r}.")
        if not (0.0 < self.level < 1.0):
            raise ValueError(f"TransitionProtocol: level must lie in (0, 1); got {self.level!r}.")
        if self.interval not in INTERVALS:
            raise ValueError(f"TransitionProtocol: interval must be one of {INTERVALS}; got {self.interval!r}.")

    def tol_for(self, m: int) -> int:
        return self.bracket_tol if self.bracket_tol is not None else max(1, math.ceil(math.sqrt(m) / 10))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TransitionResult:
    """rho* of one transition, its interval, the fit and every count."""

    m: int
    rho_star: float
    ci_lo: float
    ci_hi: float
    b0: float
    width: float              # rho_10 - rho_90 = 2 ln 9 rho* / b0
    flag: str                 # fit_logistic's flag ("ok", "separated", ...)
    s_lo: int                 # bracket from the bisection
    s_hi: int
    counts: pd.DataFrame      # s, rho, successes, trials, stage (one row per call of run)
    protocol: Dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The scalar fields (no counts)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("counts", "protocol")}
        d["n_trials"] = int(self.counts["trials"].sum())
        return d


def trial_seed(seed: int, stage: str, s: int) -> int:
    """Seed of the ``run`` call at (stage, s): a 63-bit integer from (seed, stage, s) only."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(_STAGES[stage], int(s)))
    a, b = ss.generate_state(2, dtype=np.uint32)
    return int((int(a) << 31) ^ int(b)) & ((1 << 63) - 1)


class _Runner:
    """Calls ``run`` once per (stage, s) and records the counts."""

    def __init__(self, run: Callable, seed: int):
        self.run, self.seed = run, seed
        self.rows: List[dict] = []
        self._probes: Dict[int, float] = {}

    def __call__(self, s: int, n: int, stage: str) -> int:
        k = self.run(int(s), int(n), trial_seed(self.seed, stage, s))
        k = int(k)
        if not 0 <= k <= n:
            raise ValueError(f"locate_transition: run({s}, {n}, seed) returned {k} successes; "
                             f"expected an integer in [0, {n}].")
        self.rows.append({"s": int(s), "successes": k, "trials": int(n), "stage": stage})
        return k

    def probe(self, s: int, n: int) -> float:
        if s not in self._probes:
            self._probes[s] = self(s, n, "probe") / n
        return self._probes[s]


def bracket(runner: _Runner, m: int, protocol: TransitionProtocol, s_min: int, s_max: int):
    """Coarse bisection: (s_lo, s_hi) with rate(s_lo) >= success_hi, rate(s_hi) <= success_lo.

    An edge that cannot be found (no success at s_min, no failure at s_max) is set to s_min or
    s_max. The result always has s_lo < s_hi when s_min < s_max.
    """
    p, tol = protocol, protocol.tol_for(m)
    n = p.probe_trials
    ok_min = runner.probe(s_min, n) >= p.success_hi
    bad_max = runner.probe(s_max, n) <= p.success_lo
    s_lo = s_min
    if ok_min:
        a, b = s_min, s_max
        while b - a > tol:
            mid = (a + b) // 2
            if runner.probe(mid, n) >= p.success_hi:
                a = mid
            else:
                b = mid
        s_lo = a
    s_hi = s_max
    if bad_max:
        fails = [s for s, r in runner._probes.items() if s > s_lo and r <= p.success_lo]
        c, d = s_lo, min(fails)
        while d - c > tol:
            mid = (c + d) // 2
            if runner.probe(mid, n) <= p.success_lo:
                d = mid
            else:
                c = mid
        s_hi = d
    if s_hi <= s_lo:
        s_hi = min(s_lo + 1, s_max)
        s_lo = min(s_lo, s_hi - 1)
    return int(s_lo), int(s_hi)


def dense_design(s_lo: int, s_hi: int, protocol: TransitionProtocol, s_min: int, s_max: int):
    """Integer s values (sorted, distinct) and trials per value for the dense stage."""
    pad = protocol.margin * (s_hi - s_lo)
    lo = max(s_min, int(math.floor(s_lo - pad)))
    hi = min(s_max, int(math.ceil(s_hi + pad)))
    values = np.unique(np.round(np.linspace(lo, hi, protocol.n_points)).astype(int))
    trials = int(math.ceil(protocol.n_points * protocol.point_trials / values.size))
    return values, trials


def aggregate(counts: pd.DataFrame) -> pd.DataFrame:
    """Counts summed per s: columns s, successes, trials (sorted by s)."""
    return counts.groupby("s", sort=True)[["successes", "trials"]].sum().reset_index()


def _profile_nll(rho, k, n, rho_star, n_bisect: int = 40):
    """min over b0 in [B0_MIN, B0_MAX] of the NLL at each rho* (G,): (G,) values.

    For fixed rho* the NLL is convex in b0 (t = b0 (1 - rho / rho*) is linear in b0), so its
    derivative is monotone: bisection on log b0, vectorised over the G values of rho*.
    """
    x = 1.0 - rho[None, :] / rho_star[:, None]                   # (G, C)
    lo = np.full(rho_star.shape, math.log(B0_MIN))
    hi = np.full(rho_star.shape, math.log(B0_MAX))
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        b = np.exp(mid)[:, None]
        deriv = np.sum(x * (n * expit(b * x) - k), axis=1)      # d NLL / d b0
        hi = np.where(deriv > 0, mid, hi)
        lo = np.where(deriv > 0, lo, mid)
    b = np.exp(0.5 * (lo + hi))[:, None]
    t = b * x
    return np.sum(k * np.logaddexp(0.0, -t) + (n - k) * np.logaddexp(0.0, t), axis=1)


def profile_interval(rho, n_success, n_trials, *, level: float = 0.95, n_grid: int = 256,
                     n_refine: int = 513):
    """Profile-likelihood interval of rho* for binomial counts at rho (one delta).

    The set {rho*: 2 (P(rho*) - min P) <= chi2_1(level)}, P the NLL minimised over b0, searched
    on ``n_grid`` points across [min rho, max rho], then on ``n_refine`` points across the coarse
    set widened by one coarse step (its ends interpolated linearly). A set that reaches an end of
    the data's range is open on that side: the data do not bound rho* there, so lo = 0 (the set
    reaches min rho) or hi = inf (it reaches max rho), a one-sided interval. (Cutting it at the
    range end instead gave rows such as rho* = 1.12 with an "interval" [0.802, 0.8025]: HTP on
    partial DCT at delta = 0.95, succeeding at every s tried.)
    Returns (lo, hi, rho_hat) with rho_hat the fine-grid minimiser (NaN, NaN, NaN if every count is a
    success or every one a failure).
    """
    rho = np.asarray(rho, dtype=float)
    k = np.asarray(n_success, dtype=float)
    n = np.asarray(n_trials, dtype=float)
    keep = n > 0
    rho, k, n = rho[keep], k[keep], n[keep]
    nan = float("nan")
    if rho.size < 2 or k.sum() == 0 or k.sum() == n.sum():
        return nan, nan, nan
    r0, r1 = float(rho.min()), float(rho.max())
    half = 0.5 * chi2.ppf(level, 1)
    # coarse pass: where the set lies (its grid points, or the minimum's neighbours)
    grid = np.linspace(r0, r1, n_grid)
    prof = _profile_nll(rho, k, n, grid)
    i_min = int(np.argmin(prof))
    ins = np.flatnonzero(prof <= prof[i_min] + half)
    a_i = max(min(int(ins.min()), i_min) - 1, 0)
    b_i = min(max(int(ins.max()), i_min) + 1, n_grid - 1)
    # fine pass over that range: the minimum, the cut and the run of points inside around it
    fine = np.linspace(grid[a_i], grid[b_i], n_refine)
    pf = _profile_nll(rho, k, n, fine)
    j = int(np.argmin(pf))
    rho_hat = float(fine[j])
    d = pf - (float(pf[j]) + half)
    j_lo = j
    while j_lo > 0 and d[j_lo - 1] <= 0:
        j_lo -= 1
    j_hi = j
    while j_hi < n_refine - 1 and d[j_hi + 1] <= 0:
        j_hi += 1

    def crossing(i_in, i_out):  # linear interpolation of the cut between two fine points
        t = d[i_in] / (d[i_in] - d[i_out])
        return float(fine[i_in] + t * (fine[i_out] - fine[i_in]))

    # the set runs into an end of the fine range: that end is the data's (open) or the widened
    # coarse step's (one more coarse step is outside the set by construction: keep its point)
    lo = crossing(j_lo, j_lo - 1) if j_lo > 0 else (0.0 if a_i == 0 else float(fine[0]))
    hi = crossing(j_hi, j_hi + 1) if j_hi < n_refine - 1 else (math.inf if b_i == n_grid - 1 else float(fine[-1]))
    return lo, hi, rho_hat


def fit_counts(counts: pd.DataFrame, m: int, protocol: TransitionProtocol, *, seed: int = 0):
    """Fit and interval from counts (columns s, successes, trials): (LogisticFit, lo, hi)."""
    agg = aggregate(counts)
    rho = agg["s"].to_numpy(float) / m
    k = agg["successes"].to_numpy(float)
    n = agg["trials"].to_numpy(float)
    fit = fit_logistic(rho, k, n)
    if protocol.interval == "profile":
        lo, hi, _ = profile_interval(rho, k, n, level=protocol.level)
    else:
        lo, hi, _ = bootstrap_rho_star(rho, k, n, n_boot=protocol.n_boot, seed=seed, fit=fit,
                                       level=protocol.level)
    return fit, lo, hi


def locate_transition(run: Callable[[int, int, int], int], m: int, *,
                      protocol: Optional[TransitionProtocol] = None, seed: int = 0,
                      s_min: int = 1, s_max: Optional[int] = None) -> TransitionResult:
    """Locate the 50 % point rho* = s*/m of a success probability that falls with s.

    Parameters
    ----------
    run : callable (s, n_trials, seed) -> int
        Draws and solves ``n_trials`` problems with sparsity s from ``seed``; returns the number
        of successes.
    m : int
        Number of measurements (rho = s / m).
    protocol : TransitionProtocol, optional
        Defaults: ``TransitionProtocol()``.
    seed : int
        Seed of the whole computation (see :func:`trial_seed`).
    s_min, s_max : int
        Range of s searched (default 1 .. m).

    Returns
    -------
    TransitionResult
        rho*, its interval, b0 and the 10-90 % width, the bracket and every count.
    """
    protocol = TransitionProtocol() if protocol is None else protocol
    m = int(m)
    s_max = m if s_max is None else int(s_max)
    if not (1 <= s_min < s_max):
        raise ValueError(f"locate_transition: need 1 <= s_min < s_max; got {s_min}, {s_max}.")
    runner = _Runner(run, seed)
    s_lo, s_hi = bracket(runner, m, protocol, s_min, s_max)
    values, trials = dense_design(s_lo, s_hi, protocol, s_min, s_max)
    for s in values:
        runner(int(s), trials, "dense")
    counts = pd.DataFrame(runner.rows, columns=["s", "successes", "trials", "stage"])
    counts.insert(1, "rho", counts["s"] / m)
    fit, lo, hi = fit_counts(counts, m, protocol, seed=seed)
    return TransitionResult(m=m, rho_star=fit.rho_star, ci_lo=lo, ci_hi=hi, b0=fit.b0,
                            width=fit.width, flag=fit.flag, s_lo=s_lo, s_hi=s_hi, counts=counts,
                            protocol=protocol.to_dict())
