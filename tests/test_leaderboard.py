"""The leaderboard: grid file, score definition (ties, failures, degenerate columns), determinism,
and the CI reproducibility check of the stored results/leaderboard.csv (docs/leaderboard.md)."""

import gzip
import math

import pytest

from greedybench import leaderboard as lb
from greedybench.registry import discover

GRID = lb.load_grid()
DELTAS = (0.2, 0.5, 0.8)


# ------------------------------------------------------------------------------------------------
# synthetic cell rows


def _cells(solver, family="f1", *, rates=None, time=1e-3, status="ok", n=10, deltas=DELTAS,
           rhos=(0.1, 0.2, 0.3, 0.4), m=20, reason=""):
    """One row per (delta, rho); ``rates(delta, rho)`` -> successes out of n."""
    rows = []
    for d in deltas:
        for rho in rhos:
            s = round(rho * m)
            k = rates(d, rho) if rates else n
            rows.append({"grid_version": "1", "grid_sha": "x", "solver": solver, "entry": solver.split("[")[0],
                         "solver_version": "v", "params": "{}", "family": family, "ensemble": "gaussian",
                         "signal": "uniform", "amplitude": "gaussian", "N": "100", "delta": repr(d),
                         "rho": repr(s / m), "m": str(m), "s": str(s), "seed": "1", "n_trials": str(n),
                         "n_success": str(0 if status == "error" else k), "n_exact_support": "0",
                         "success_mask": "F" * n if status == "error" else "S" * k + "F" * (n - k),
                         "status": status, "reason": reason,
                         "time_per_problem_s": "" if status == "error" else repr(time),
                         "instance_sha256": "", "device": "cpu", "dtype": "float64", "threads": "1",
                         "machine": "m", "torch_version": "t", "numpy_version": "n", "greedybench_version": "g",
                         "git_commit": "c"})
    return rows


def _grid(families=("f1",), deltas=DELTAS):
    fam = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian", "normalize": False,
           "shared_A": False, "K": None, "block": None}
    from dataclasses import replace

    return replace(GRID, families={f: dict(fam) for f in families}, delta=tuple(deltas))


def _step(threshold):
    return lambda d, rho: 10 if rho <= threshold else 0


def test_official_grid_file():
    assert GRID.version == 2 and GRID.N >= 256
    assert GRID.bootstrap == {"n_boot": 1000, "level": 0.95, "seed": 0}
    assert list(GRID.families) == ["gaussian_gaussian", "gaussian_rademacher", "dct_gaussian", "dft_latent"]
    assert len(GRID.sha) == 16 and GRID.sha == lb.load_grid().sha
    q = GRID.subset(quick=True)
    assert q.sha == GRID.sha and not q.is_full and GRID.is_full
    assert list(q.families) == ["gaussian_gaussian"] and q.delta == (0.35, 0.65)
    for d in GRID.delta:  # every delta has distinct sparsities (no merged cells)
        assert len(GRID.cells(d)) == len(GRID.rho)


def test_grid_file_errors_name_the_key(tmp_path):
    text = lb.GRID_FILE.read_text()
    bad = tmp_path / "g.yaml"
    bad.write_text(text.replace("trials: 10", "trials: 10\ntrails: 3"))
    with pytest.raises(lb.LeaderboardError, match="trails"):
        lb.load_grid(bad)
    bad.write_text(text.replace("ensemble: partial_dct", "ensemble: partial_dtc"))
    with pytest.raises(lb.LeaderboardError, match="families.dct_gaussian.ensemble"):
        lb.load_grid(bad)
    with pytest.raises(lb.LeaderboardError, match="unknown family 'nope'"):
        GRID.subset(["nope"])


def test_family_score_degenerate_columns():
    # all success everywhere: v = largest rho tried at each delta; area = 0.4 * 0.6
    area, pts = lb.family_score(_cells("a"), DELTAS)
    assert [f for _, _, f in pts] == ["all_success"] * 3
    assert area == pytest.approx(0.4 * 0.6)
    # all failure: 0
    area, pts = lb.family_score(_cells("a", rates=lambda d, r: 0), DELTAS)
    assert area == 0.0 and {f for _, _, f in pts} == {"all_failure"}
    # a clean step between rho 0.2 and 0.3: separated, rho* = 0.25 at every delta
    area, pts = lb.family_score(_cells("a", rates=_step(0.2)), DELTAS)
    assert {f for _, _, f in pts} == {"separated"}
    assert area == pytest.approx(0.25 * 0.6)
    # a delta with no cells counts 0 (trapezoid over the grid's deltas)
    rows = [r for r in _cells("a", rates=_step(0.2)) if r["delta"] != "0.8"]
    area, pts = lb.family_score(rows, DELTAS)
    assert pts[-1] == (0.8, 0.0, "missing")
    assert area == pytest.approx(0.25 * 0.3 + 0.5 * 0.25 * 0.3)
    # an ordinary logistic column is clipped to the rho range
    rows = _cells("a", rates=lambda d, r: {0.1: 10, 0.2: 7, 0.3: 3, 0.4: 0}[r])
    area, pts = lb.family_score(rows, DELTAS)
    assert all(f == "ok" and 0.2 < v < 0.3 for _, v, f in pts)


def test_equal_results_share_a_rank_ordered_by_time_then_name():
    g = _grid()
    rows = (_cells("beta", rates=_step(0.2), time=2e-3) + _cells("alpha", rates=_step(0.2), time=2e-3)
            + _cells("fast", rates=_step(0.2), time=1e-3) + _cells("best", rates=_step(0.3), time=9e-3))
    table = lb.compute_leaderboard(rows, g)
    # the same outcomes on the same problems cannot be separated: one shared rank (2), listed by
    # time then name; the next rank after a shared one skips (competition ranking)
    assert [(r["rank"], r["solver"]) for r in table] == [("1", "best"), ("2", "fast"), ("2", "alpha"), ("2", "beta")]
    assert table[1]["auc_mean"] == table[2]["auc_mean"] == table[3]["auc_mean"] == "0.1500"
    assert table[0]["auc_f1"] == "0.2100" and table[0]["status"] == "ok"
    # deterministic steps: every replicate equals the point score (zero-width intervals)
    assert table[0]["auc_f1_lo"] == table[0]["auc_f1_hi"] == "0.2100" == table[0]["auc_mean_lo"]
    # no successful problem: the time is empty and sorts last among equal scores
    zero = _cells("zero", rates=lambda d, r: 0) + _cells("aaa_zero", rates=lambda d, r: 0, time=5e-3)
    table = lb.compute_leaderboard(rows + zero, g)
    assert [r["solver"] for r in table][-2:] == ["aaa_zero", "zero"]
    assert table[-1]["median_time_success_s"] == "" and table[-1]["rank"] == table[-2]["rank"] == "5"


def test_intervals_cover_the_score_and_noise_is_a_tie():
    """Noisy cells: the interval contains the point score; two solvers whose success rates
    differ by less than the noise (different problems failing) share a rank; a clearly better one
    does not."""
    import numpy as np

    g = _grid(deltas=(0.2, 0.35, 0.5, 0.65, 0.8))
    rhos = tuple(round(0.05 * i, 2) for i in range(1, 13))

    def noisy(name, shift, seed):
        rng = np.random.default_rng(seed)
        rows = _cells(name, rhos=rhos, m=100, deltas=g.delta, n=20,
                      rates=lambda d, r: int(rng.binomial(20, 1 / (1 + np.exp(25 * (r / (0.3 + shift) - 1))))))
        for row in rows:  # which problems fail is random too: shuffle the mask
            row["success_mask"] = "".join(rng.permutation(list(row["success_mask"])))
        return rows

    rows = noisy("a", 0.0, 1) + noisy("b", 0.0, 2) + noisy("c", 0.1, 3)
    table = {r["solver"]: r for r in lb.compute_leaderboard(rows, g)}
    for r in table.values():
        assert float(r["auc_mean_lo"]) <= float(r["auc_mean"]) <= float(r["auc_mean_hi"])
        assert float(r["auc_mean_hi"]) - float(r["auc_mean_lo"]) > 0
    assert table["c"]["rank"] == "1"
    assert table["a"]["rank"] == table["b"]["rank"] == "2"


def test_rows_without_a_valid_success_mask_are_refused():
    g = _grid()
    rows = _cells("a", rates=_step(0.2))
    rows[3]["success_mask"] = "SSS"
    with pytest.raises(lb.LeaderboardError, match="success_mask"):
        lb.compute_leaderboard(rows, g)


def test_failures_are_shown_and_counted():
    g = _grid(("f1", "f2"))
    ok = _cells("good", "f1", rates=_step(0.3)) + _cells("good", "f2", rates=_step(0.3))
    # one failing batch in f1: counted as 10 failures, status errors, still ranked
    some = _cells("flaky", "f1", rates=_step(0.3)) + _cells("flaky", "f2", rates=_step(0.3))
    some[0].update(status="error", n_success="0", success_mask="F" * 10, time_per_problem_s="",
                   reason="raised ValueError: boom")
    allbad = (_cells("broken", "f1", status="error", reason="output holds NaN")
              + _cells("broken", "f2", status="error", reason="output holds NaN"))
    realonly = _cells("realonly", "f1", rates=_step(0.3)) + [
        {"solver": "realonly", "entry": "realonly", "family": "f2", "status": "not_applicable",
         "reason": "real-only solver", "n_trials": "0", "n_success": "0"}]
    status = [{"solver": "ghost", "entry": "ghost", "status": "unavailable", "reason": "import failed: SyntaxError",
               "n_trials": "0", "n_success": "0"},
              {"solver": "net", "entry": "net", "status": "not_ranked", "reason": "trained solver", "n_trials": "0",
               "n_success": "0"}]
    table = {r["solver"]: r for r in lb.compute_leaderboard(ok + some + allbad + realonly + status, g)}
    assert table["good"]["rank"] == "1" and table["good"]["status"] == "ok"
    assert table["flaky"]["status"] == "errors" and table["flaky"]["rank"] == "2"
    assert "1 of 24 batches failed" in table["flaky"]["status_detail"] and "boom" in table["flaky"]["status_detail"]
    assert float(table["flaky"]["success_rate"]) < float(table["good"]["success_rate"])
    assert table["realonly"]["status"] == "partial" and table["realonly"]["auc_f2"] == "0.0000"
    assert float(table["realonly"]["auc_mean"]) == pytest.approx(float(table["good"]["auc_mean"]) / 2, abs=1e-4)
    assert table["broken"]["status"] == "failed" and table["broken"]["rank"] == ""
    assert table["broken"]["auc_mean"] == "0.0000" and table["broken"]["median_time_success_s"] == ""
    assert table["ghost"]["status"] == "unavailable" and table["ghost"]["rank"] == ""
    assert "SyntaxError" in table["ghost"]["status_detail"]
    assert table["net"]["status"] == "not_ranked" and table["net"]["auc_f1"] == ""
    order = [r["solver"] for r in lb.compute_leaderboard(ok + some + allbad + realonly + status, g)]
    assert order == ["good", "flaky", "realonly", "broken", "net", "ghost"]


def test_weighted_median_time():
    assert lb._weighted_median([(3.0, 1), (1.0, 2), (2.0, 0)]) == 1.0
    assert lb._weighted_median([(1.0, 1), (3.0, 1)]) == 2.0
    assert math.isnan(lb._weighted_median([(1.0, 0)]))


def test_rows_and_table_are_deterministic(tmp_path):
    g = _grid()
    rows = _cells("b", rates=_step(0.2)) + _cells("a", rates=_step(0.3))
    lb.write_rows(tmp_path / "r1.csv.gz", rows)
    lb.write_rows(tmp_path / "r2.csv.gz", list(reversed(rows)))
    assert (tmp_path / "r1.csv.gz").read_bytes() == (tmp_path / "r2.csv.gz").read_bytes()
    back = lb.read_rows(tmp_path / "r1.csv.gz")
    t1 = lb.leaderboard_csv_text(lb.compute_leaderboard(back, g), list(g.families))
    t2 = lb.leaderboard_csv_text(lb.compute_leaderboard(list(reversed(back)), g), list(g.families))
    assert t1 == t2


def test_plan_lists_every_builtin_entry():
    entries = discover()
    variants, status = lb.plan_entries(GRID, entries)
    planned = {v.entry.name for v in variants.values()} | {r["entry"] for r in status}
    assert planned == {e.name for e in entries.values()}
    for r in status:
        assert r["status"] in ("unavailable", "not_ranked") and r["reason"]
    for v in variants.values():
        assert not v.entry.trained and v.entry.name not in GRID.not_ranked


# ------------------------------------------------------------------------------------------------
# the stored leaderboard (CI reproducibility check)


def _stored():
    if not lb.STORED_CSV.is_file() or not lb.STORED_ROWS.is_file():
        pytest.fail(f"{lb.STORED_CSV} and {lb.STORED_ROWS} must be committed; regenerate them with "
                    "`snakemake --cores 2 --workflow-profile profiles/local leaderboard`")
    return lb.read_rows(lb.STORED_ROWS)


def test_stored_leaderboard_is_a_function_of_the_stored_rows():
    rows = _stored()
    assert {r["grid_sha"] for r in rows} == {GRID.sha}, "stored rows were made on another grid: regenerate"
    text = lb.leaderboard_csv_text(lb.compute_leaderboard(rows, GRID), list(GRID.families))
    assert text == lb.STORED_CSV.read_text()
    raw = lb.STORED_ROWS.read_bytes()
    assert len(raw) < 1_000_000 and gzip.decompress(raw)


def test_stored_leaderboard_covers_every_entry_and_is_current():
    import csv

    rows = list(csv.DictReader(lb.STORED_CSV.open()))
    entries = discover()
    assert {r["entry"] for r in rows} >= {e.name for e in entries.values()}
    variants, _ = lb.plan_entries(GRID, entries)
    stored = {r["solver"]: r for r in rows}
    stale = [f"{v.name} (stored {stored[v.name]['solver_version'] if v.name in stored else 'missing'}, now {v.version})"
             for v in variants.values() if stored.get(v.name, {}).get("solver_version") != v.version]
    assert not stale, ("results/leaderboard.csv is stale for: " + ", ".join(stale)
                       + "; regenerate it: snakemake --cores 2 --workflow-profile profiles/local leaderboard")


# ------------------------------------------------------------------------------------------------
# the pipeline stages on a broken entry (failures recorded, never raised)

FLAKY = '''
import torch
name = "flaky_lb"
capabilities = {"differentiable": False, "trained": False, "complex": False, "gpu": True}
parameters = {}

def solve(problem):
    if problem.s > 6:
        raise RuntimeError("cannot handle s > 6")
    if problem.s == 5:
        return torch.full((problem.B, problem.N), float("nan"), dtype=torch.float64)
    return torch.zeros(problem.B, problem.N, dtype=torch.float64)
'''


def test_stages_record_failures_and_unavailable_entries(tmp_path):
    from greedybench.storage import set_threads
    from greedybench.registry import Variant, load_entry

    good = tmp_path / "flaky_lb.py"
    good.write_text(FLAKY)
    bad = tmp_path / "broken_lb.py"
    bad.write_text("name = 'broken_lb'\ndef solve(problem)\n")
    entries = discover([good, bad], refresh=True)
    _, status = lb.plan_entries(GRID, entries)
    st = {r["solver"]: r for r in status}
    assert st["broken_lb"]["status"] == "unavailable" and "SyntaxError" in st["broken_lb"]["reason"]
    assert st["broken_lb"]["solver_version"]  # hashed from the bytes even though it does not parse

    grid = GRID.subset(["gaussian_gaussian", "dft_latent"], deltas=[0.35, 0.65])
    inst = lb.STORED_INSTANCES / "gaussian_gaussian"
    if not lb.instances_valid(inst, grid, "gaussian_gaussian"):
        inst = lb.generate_family(tmp_path / "inst" / "gaussian_gaussian", grid, "gaussian_gaussian",
                                  deltas=grid.delta)
    set_threads(1)
    v = Variant(load_entry(good))
    cells, _ = lb.run_family(v, grid, "gaussian_gaussian", inst)  # never raises
    na, _ = lb.run_family(v, grid, "dft_latent", tmp_path / "not_needed")
    errs = [c for c in cells if c["status"] == "error"]
    assert errs and all(c["n_success"] == 0 for c in errs)
    assert any("NaN" in c["reason"] for c in errs) and any("cannot handle" in c["reason"] for c in errs)
    assert [c["status"] for c in na] == ["not_applicable"]
    files = tmp_path / "flaky.csv"
    lb.write_rows(files, cells + na)
    # aggregate twice: identical bytes
    for i in (1, 2):
        lb.leaderboard_stage(tmp_path / f"lb{i}.csv", tmp_path / f"rows{i}.csv.gz", cell_files=[files],
                             grid_path=lb.GRID_FILE, status_rows=status)
    assert (tmp_path / "lb1.csv").read_bytes() == (tmp_path / "lb2.csv").read_bytes()
    assert (tmp_path / "rows1.csv.gz").read_bytes() == (tmp_path / "rows2.csv.gz").read_bytes()
    import csv

    table = {r["solver"]: r for r in csv.DictReader((tmp_path / "lb1.csv").open())}
    assert table["flaky_lb"]["status"] == "errors" and table["flaky_lb"]["rank"] == "1"
    assert "batches failed" in table["flaky_lb"]["status_detail"]
    assert table["broken_lb"]["status"] == "unavailable" and table["broken_lb"]["rank"] == ""
    assert {r["status"] for r in table.values()} >= {"errors", "unavailable", "not_ranked"}


# ------------------------------------------------------------------------------------------------
# one solve core, one schema


def test_cells_are_aggregations_of_the_solve_core_rows(tmp_path):
    """A leaderboard cell is the sum over the per-problem rows of the one solve core
    (pipeline.core.solve_instance) for its instance; the hidden set is withheld."""
    from greedybench.pipeline.tables import RESULT_COLUMNS
    from greedybench.storage import set_threads

    grid = GRID.subset(["gaussian_gaussian"], deltas=[0.35, 0.65])
    fam_dir = lb.STORED_INSTANCES / "gaussian_gaussian"
    if not lb.instances_valid(fam_dir, grid, "gaussian_gaussian"):
        fam_dir = lb.generate_family(tmp_path / "gaussian_gaussian", grid, "gaussian_gaussian", deltas=grid.delta)
    set_threads(1)
    omp = next(v for v in lb.plan_entries(GRID, discover())[0].values() if v.name == "omp")
    cells, problems = lb.run_family(omp, grid, "gaussian_gaussian", fam_dir, per_problem=True)
    assert len(cells) == 2 * len(GRID.rho) and len(problems) == len(cells) * GRID.trials
    assert set(problems[0]) >= set(RESULT_COLUMNS) and {p["experiment"] for p in problems} == {"leaderboard"}
    for c in cells:
        mine = [p for p in problems if p["m"] == c["m"] and p["s"] == c["s"]]
        assert len(mine) == c["n_trials"] == GRID.trials
        assert c["n_success"] == sum(bool(p["success"]) for p in mine)
        assert c["n_exact_support"] == sum(bool(p["exact_support"]) for p in mine)
        assert {p["time_per_problem_s"] for p in mine} == {c["time_per_problem_s"]}
        assert c["delta"] in grid.delta and c["machine"] and "host" not in c


def test_grid_schema_lists_the_generators_choices():
    """The grid's JSON Schema offers exactly the ensembles, signals and amplitudes the generator has."""
    import yaml

    from greedybench.datasets import AMPLITUDES, ENSEMBLES, SIGNALS

    fam = yaml.safe_load(lb.GRID_SCHEMA.read_text())["$defs"]["family"]["properties"]
    assert set(fam["ensemble"]["enum"]) == set(ENSEMBLES)
    assert set(fam["signal"]["enum"]) == set(SIGNALS)
    assert set(fam["amplitude"]["enum"]) == set(AMPLITUDES)


def test_grid_schema_errors_name_the_key(tmp_path):
    text = lb.GRID_FILE.read_text()
    bad = tmp_path / "g.yaml"
    for old, new, key in (("trials: 10", "trials: 0", "trials"), ("N: 256", "N: 255", "N"),
                          ("threads: 1", "threads: one", "threads"),
                          ("rho: [0.03, 0.06,", "rho: [0.06, 0.03,", "rho"),
                          ("success: {threshold: 1.0e-3,", "success: {threshhold: 1.0e-3,", "threshhold"),
                          ("bootstrap: {n_boot: 1000,", "bootstrap: {n_boot: 10,", "bootstrap.n_boot"),
                          ("level: 0.95, seed: 0}", "level: 95, seed: 0}", "bootstrap.level")):
        bad.write_text(text.replace(old, new))
        with pytest.raises(lb.LeaderboardError, match=key):
            lb.load_grid(bad)
