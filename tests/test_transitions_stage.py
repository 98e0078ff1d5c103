"""The transition study stage (greedybench.pipeline.transitions) and its plan targets."""

import copy

import numpy as np
import pandas as pd
import pytest

from greedybench.analysis.transition import TransitionProtocol
from greedybench.pipeline.config import CONFIG_DIR, load_config, validate_config
from greedybench.pipeline.plan import Plan
from greedybench.pipeline.transitions import (COUNT_COLUMNS, FIT_COLUMNS, location_seed,
                                              merge_transitions, refit, transitions_stage)
from greedybench.registry import Variant, get_solver

GAUSS = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
PROTO = {"probe_trials": 4, "n_points": 5, "point_trials": 4}


def _job(tmp_path, name="job.csv", *, success=None, deltas=(0.5, 0.75), seed=3):
    v = Variant(get_solver("omp"), {})
    return transitions_stage(tmp_path / name, entry="omp", params_json=v.params_json,
                             family_name="gauss", family=GAUSS, sizes=[[32, list(deltas)]],
                             protocol=PROTO, success=success or {"rule": "rel_l2", "threshold": 1e-2},
                             trials_per_matrix=4, seed=seed, device="cpu", dtype="float64")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tr")
    a = _job(d, "a.csv")
    b = _job(d, "b.csv")
    return d, a, b


def test_job_is_deterministic(two_runs):
    d, a, b = two_runs
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes()
    assert set(a["delta"]) == {0.5, 0.75}
    assert (a["successes"] <= a["trials"]).all() and (a["successes"] >= 0).all()


def test_seed_changes_the_draws(tmp_path, two_runs):
    _, a, _ = two_runs
    c = _job(tmp_path, seed=4)
    assert not a[["s", "successes"]].equals(c[["s", "successes"]])


def test_location_seed_depends_on_location_only():
    s = location_seed(11, "gauss", 128, 0.5)
    assert s == location_seed(11, "gauss", 128, 0.5)
    assert len({s, location_seed(12, "gauss", 128, 0.5), location_seed(11, "dct", 128, 0.5),
                location_seed(11, "gauss", 256, 0.5), location_seed(11, "gauss", 128, 0.65)}) == 5


def test_raw_counts_reproduce_the_fitted_curve(tmp_path, two_runs):
    d, _, _ = two_runs
    merge_transitions([d / "a.csv"], tmp_path / "t.csv", tmp_path / "c.csv")
    table, counts = pd.read_csv(tmp_path / "t.csv"), pd.read_csv(tmp_path / "c.csv")
    assert list(table.columns) == FIT_COLUMNS and list(counts.columns) == COUNT_COLUMNS
    assert len(table) == 2 and counts["trials"].sum() == table["n_trials"].sum()
    again = refit(counts, PROTO).set_index(["delta"])
    for _, row in table.iterrows():
        r = again.loc[row["delta"]]
        for col in ("rho_star", "ci_lo", "ci_hi"):
            assert np.isclose(r[col], row[col], rtol=1e-9, equal_nan=True), col
    # the interval brackets the estimate; the estimate sits between the bracket's ends (in rho)
    ok = table[table["flag"] == "ok"]
    assert (ok["ci_lo"] <= ok["rho_star"]).all() and (ok["rho_star"] <= ok["ci_hi"]).all()


def test_merge_is_idempotent(tmp_path, two_runs):
    d, _, _ = two_runs
    merge_transitions([d / "a.csv"], tmp_path / "t1.csv", tmp_path / "c1.csv")
    merge_transitions([d / "a.csv"], tmp_path / "t2.csv", tmp_path / "c2.csv")
    assert (tmp_path / "t1.csv").read_bytes() == (tmp_path / "t2.csv").read_bytes()
    assert (tmp_path / "c1.csv").read_bytes() == (tmp_path / "c2.csv").read_bytes()


def test_success_rule_is_the_sections(tmp_path):
    """A threshold every estimate meets makes every trial a success (the section's threshold is the
    one applied); exact support and l-infinity rules are scored from their own columns."""
    lax = _job(tmp_path, "l2.csv", success={"rule": "rel_l2", "threshold": 1e300}, deltas=(0.5,))
    assert (lax["successes"] == lax["trials"]).all()
    lax_inf = _job(tmp_path, "li.csv", success={"rule": "linf", "threshold": 1e300}, deltas=(0.5,))
    assert (lax_inf["successes"] == lax_inf["trials"]).all()
    sup = _job(tmp_path, "sup.csv", success={"rule": "support", "threshold": 1.0}, deltas=(0.5,))
    assert 0 < sup["successes"].sum() < sup["trials"].sum() and set(sup["rule"]) == {"support"}


def test_tiny_config_plans_the_study():
    cfg = validate_config(load_config(CONFIG_DIR / "tiny.yaml"), source="tiny")
    plan = Plan(cfg)
    jobs = plan.transition_jobs()
    assert sorted(f for f, _ in jobs) == ["gauss", "gauss"]
    assert "results/tables/transitions.csv" in plan.final_targets()
    assert "results/tables/transition_counts.csv" in plan.final_targets()
    slug = jobs[0][1]
    params = plan.transition_params("gauss", slug)
    assert params["sizes"] == [[32, [0.5, 0.75]], [48, [0.5]]]   # N = 48: finite-size delta only
    TransitionProtocol(**params["protocol"])


def test_default_config_study_covers_the_issue():
    cfg = validate_config(load_config(CONFIG_DIR / "default.yaml"), source="default")
    tr = cfg["transitions"]
    assert len(tr["delta"]) >= 8 and min(tr["delta"]) <= 0.05 and max(tr["delta"]) >= 0.95
    assert tr["success"] == {"rule": "rel_l2", "threshold": 1e-2}
    plan = Plan(cfg)
    names = {v.name for v in plan.transition_variants.values()}
    assert {"omp", "htp[n_iter=100,step=normalized]", "amp[n_iter=1000]"} <= names
    # the finite-size trend: every solver the issue names at N = 128, 256 and 512, delta = 0.5, in
    # every family it runs on; the l1 references at N = 512 at every delta (their rho_W check)
    sizes = {}
    for f, v in plan.transition_jobs():
        entry = plan.transition_variants[v].entry.name
        for N, deltas in plan.transition_params(f, v)["sizes"]:
            sizes.setdefault((entry, f), {}).setdefault(int(N), set()).update(map(float, deltas))
    named = {"omp", "niht", "htp", "cosamp", "subspace_pursuit", "amp", "basis_pursuit"}
    assert named <= {e for e, _ in sizes}
    for (entry, f), by_N in sizes.items():
        if entry in named:
            assert all(0.5 in by_N.get(N, ()) for N in (128, 256, 512)), (entry, f, by_N)
        if entry in ("amp", "basis_pursuit"):
            assert by_N[512] >= set(tr["delta"]), (entry, f)


def test_study_absent_or_bad_is_refused_or_off():
    cfg = load_config(CONFIG_DIR / "tiny.yaml")
    off = copy.deepcopy(cfg)
    del off["transitions"]
    plan = Plan(validate_config(off, source="no study"))
    assert plan.transition_jobs() == [] and "results/tables/transitions.csv" not in plan.final_targets()
    bad = copy.deepcopy(cfg)
    bad["transitions"]["solvers"] = {"no_such_solver": {}}
    with pytest.raises(Exception, match="no_such_solver"):
        Plan(validate_config(bad, source="bad", check_solvers=False))
    typo = copy.deepcopy(cfg)
    typo["transitions"]["protocol"]["n_point"] = 3
    with pytest.raises(Exception, match="n_point"):
        validate_config(typo, source="typo")
