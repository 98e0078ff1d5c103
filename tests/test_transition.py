"""Adaptive phase-transition location (greedybench.analysis.transition) on synthetic success
models with a known 50 % point: bracketing, interval coverage, determinism and raw counts."""

import math

import numpy as np
import pytest
from scipy.stats import chi2

from greedybench.analysis.phase import fit_logistic, logistic_prob
from greedybench.analysis.transition import (TransitionProtocol, aggregate, locate_transition,
                                             profile_interval, trial_seed)
from greedybench.pipeline.config import CONFIG_DIR, load_config

M = 100
RHO0 = 0.3137  # s* = 31.37: between two integers


def synthetic(width, rho0=RHO0, m=M):
    """run(s, n, seed) for P(success) = 1 / (1 + exp(b0 (rho / rho0 - 1))) with the given 10-90 %
    width in rho; width -> 0 is a step."""
    b0 = 2.0 * math.log(9.0) * rho0 / width

    def run(s, n, seed):
        p = 1.0 / (1.0 + math.exp(min(700.0, b0 * (s / m / rho0 - 1.0))))
        return int(np.random.default_rng(seed).binomial(n, p))

    return run


def coverage(width, reps=200, **proto):
    run = synthetic(width)
    p = TransitionProtocol(**proto)
    hits = bracketed = 0
    for rep in range(reps):
        r = locate_transition(run, M, protocol=p, seed=rep)
        hits += r.ci_lo <= RHO0 <= r.ci_hi
        bracketed += r.s_lo / M <= RHO0 <= r.s_hi / M
    return hits / reps, bracketed / reps


@pytest.mark.parametrize("width, reps", [(2.0 / M, 200), (0.15, 200), (1e-9, 50)],
                         ids=["sharp", "smooth", "step"])
def test_bracket_and_coverage(width, reps):
    # issue 14: >= 90 % coverage over 200 seeded repetitions (the old bootstrap on a fixed grid
    # covered a sharp transition 62 % of the time; the bootstrap never covers a step)
    cov, br = coverage(width, reps)
    assert br >= 0.99
    assert cov >= 0.90


@pytest.mark.parametrize("width", [2.0 / M, 0.15], ids=["sharp", "smooth"])
def test_coverage_at_the_main_jobs_protocol(width):
    # the same >= 90 % bar for the fewer dense trials the default run affords (12 x 12: 94 % and
    # 96 % here), so the intervals printed in the README are held to it too
    # the protocol the main job runs (config/default.yaml, transitions.protocol)
    cov, br = coverage(width, 200, **load_config(CONFIG_DIR / "default.yaml")["transitions"]["protocol"])
    assert br >= 0.99
    assert cov >= 0.90


def test_interval_is_not_vacuous():
    run = synthetic(0.15)
    r = locate_transition(run, M, seed=3)
    assert 0 < r.ci_hi - r.ci_lo < 0.06
    assert r.ci_lo <= r.rho_star <= r.ci_hi


def test_deterministic_and_order_free():
    run = synthetic(0.05)
    a = locate_transition(run, M, seed=11)
    b = locate_transition(run, M, seed=11)
    c = locate_transition(run, M, seed=12)
    assert a.counts.equals(b.counts) and a.rho_star == b.rho_star and a.ci_lo == b.ci_lo
    assert not a.counts.equals(c.counts)
    # a call's seed depends on (seed, stage, s) only, never on the order of the calls
    assert trial_seed(11, "probe", 30) == trial_seed(11, "probe", 30)
    assert len({trial_seed(11, st, s) for st in ("probe", "dense") for s in range(1, 101)}) == 200


def test_raw_counts_reproduce_the_fitted_curve():
    run = synthetic(0.1)
    r = locate_transition(run, M, seed=5)
    agg = aggregate(r.counts)
    assert int(agg["trials"].sum()) == int(r.counts["trials"].sum())
    assert set(r.counts["stage"]) == {"probe", "dense"}
    fit = fit_logistic(agg["s"] / M, agg["successes"], agg["trials"])
    assert fit.rho_star == pytest.approx(r.rho_star, rel=1e-9)
    # the fitted curve explains the counts: deviance within the chi2 tail for C - 2 dof
    p = logistic_prob(agg["s"] / M, fit.b0, fit.b1).clip(1e-12, 1 - 1e-12)
    k, n = agg["successes"].to_numpy(float), agg["trials"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2 * np.nansum(k * np.log(k / (n * p))) + 2 * np.nansum((n - k) * np.log((n - k) / (n * (1 - p))))
    assert dev <= chi2.ppf(0.999, len(agg) - 2)
    # and the rates move with the curve: success where it is high, failure where it is low
    rate = k / n
    assert np.all(rate[p > 0.99] >= 0.8) and np.all(rate[p < 0.01] <= 0.2)


def test_profile_interval_step_data_covers_the_gap():
    rho = np.array([0.2, 0.3, 0.31, 0.32, 0.4])
    k = np.array([20, 20, 20, 0, 0])
    lo, hi, _ = profile_interval(rho, k, np.full(5, 20))
    # the whole gap between the last success and the first failure, less what the 20/20 and
    # 0/20 cells themselves exclude (a 50 % point at 0.31 would not give 20/20 there)
    assert 0.305 < lo < 0.311 and 0.319 < hi < 0.325
    assert all(math.isnan(v) for v in profile_interval(rho, np.full(5, 20), np.full(5, 20)))


def test_profile_interval_is_one_sided_where_the_data_do_not_bound_rho_star():
    """Success at every s tried but the last (the transition lies beyond the data): the set reaches
    the top of the range, so the interval is [lo, inf), never a sliver cut at the range end
    (which once read rho* = 1.12 with [0.802, 0.8025]); mirrored at the bottom, [0, hi]."""
    rho = np.array([0.2, 0.3, 0.4, 0.5, 0.6])
    n = np.full(5, 20)
    lo, hi, rho_hat = profile_interval(rho, np.array([20, 20, 20, 19, 15]), n)
    assert hi == math.inf and 0.45 < lo < 0.6 and rho_hat >= lo
    lo, hi, rho_hat = profile_interval(rho, np.array([6, 2, 0, 0, 0]), n)
    assert lo == 0.0 and 0.2 < hi < 0.3 and rho_hat <= hi
    # a transition inside the data keeps both ends finite and strictly inside the range
    lo, hi, _ = profile_interval(rho, np.array([20, 18, 10, 2, 0]), n)
    assert 0.3 < lo < 0.4 < hi < 0.5


def test_edges_not_found():
    # never successful / always successful in range: the bracket sits at the ends, no crash
    r = locate_transition(lambda s, n, seed: 0, 50, seed=0)
    assert r.s_lo == 1 and r.flag == "all_failure"
    r = locate_transition(lambda s, n, seed: n, 50, seed=0)
    assert r.s_hi == 50 and r.flag == "all_success"


def test_protocol_validation():
    with pytest.raises(ValueError, match="probe_trials"):
        TransitionProtocol(probe_trials=0)
    with pytest.raises(ValueError, match="interval"):
        TransitionProtocol(interval="wald")
    with pytest.raises(ValueError, match="success_lo"):
        TransitionProtocol(success_lo=0.9, success_hi=0.5)
    with pytest.raises(ValueError, match="returned"):
        locate_transition(lambda s, n, seed: n + 1, 50)
