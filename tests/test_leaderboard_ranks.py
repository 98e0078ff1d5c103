"""Leaderboard v2 on real solvers: shared ranks mean "cannot be separated on these problems",
distinct ranks mean "separated"; the stored leaderboard survives a seeded rerun and a consistent
edit of both stored files does not (docs/leaderboard.md, section 4 and 6)."""

import csv
import gzip
import io

import pytest

from greedybench import leaderboard as lb
from greedybench.registry import discover
from greedybench.storage import set_threads

GRID = lb.load_grid()
SUB = GRID.subset(["gaussian_gaussian"], deltas=[0.35, 0.65])

DROPINS = {
    "omp_alias": '''
"""OMP under another name (the same algorithm: must share OMP's rank)."""
import greedybench as gb
name = "omp_alias"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}
def solve(problem):
    return gb.omp(problem.A, problem.y, problem.s)
''',
    "omp_short": '''
"""OMP stopped one iteration early (s - 1 atoms): must rank below OMP."""
import greedybench as gb
name = "omp_short"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}
def solve(problem):
    return gb.omp(problem.A, problem.y, max(problem.s - 1, 1))
''',
}


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory):
    fam = lb.STORED_INSTANCES / "gaussian_gaussian"
    if lb.instances_valid(fam, GRID, "gaussian_gaussian"):
        return fam
    return lb.generate_family(tmp_path_factory.mktemp("lb") / "gaussian_gaussian", SUB, "gaussian_gaussian",
                              deltas=SUB.delta)


def test_same_algorithm_shares_a_rank_and_a_weaker_one_does_not(tmp_path, family_dir):
    files = []
    for name, text in DROPINS.items():
        f = tmp_path / f"{name}.py"
        f.write_text(text)
        files.append(str(f))
    entries = discover(files)
    set_threads(1)
    rows = []
    for name in ("omp", "omp_alias", "omp_short"):
        (v,) = entries[name].variants()
        rows += lb.run_family(v, SUB, "gaussian_gaussian", family_dir)[0]
    table = {r["solver"]: r for r in lb.compute_leaderboard(rows, SUB)}
    omp, alias, short = table["omp"], table["omp_alias"], table["omp_short"]
    # same problems, same outcomes: equal scores, equal intervals, one shared rank
    for k in ("auc_mean", "auc_mean_lo", "auc_mean_hi"):
        assert omp[k] == alias[k]
    assert omp["rank"] == alias["rank"] == "1"
    # one atom short fails where OMP succeeds: separated, ranked after both
    assert float(short["auc_mean_hi"]) < float(omp["auc_mean_lo"])
    assert short["rank"] == "3"


# ------------------------------------------------------------------------------------------------
# the stored leaderboard against the solvers (what CI checks on every run, with a fresh seed)


def test_stored_leaderboard_survives_a_fresh_seeded_rerun(capsys):
    rep = lb.verify_leaderboard(lb.STORED_ROWS, lb.STORED_CSV, per_variant=1)
    print(rep.text())  # the seed, so that a failure can be replayed: greedybench leaderboard verify --seed
    assert rep.ok, rep.text()
    assert rep.checked, "nothing was rerun"


@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    """Both stored files edited consistently: cosamp's successes set to 0, table recomputed."""
    tmp_path = tmp_path_factory.mktemp("tampered")
    rows = lb.read_rows(lb.STORED_ROWS)
    for r in rows:
        if r["solver"].startswith("cosamp") and r["status"] == "ok":
            r.update(n_success="0", n_exact_support="0", success_mask="F" * int(r["n_trials"]))
    rows_path, table_path = tmp_path / "rows.csv.gz", tmp_path / "leaderboard.csv"
    lb.write_rows(rows_path, rows)
    lb.write_leaderboard(table_path, lb.compute_leaderboard(lb.read_rows(rows_path), GRID), list(GRID.families))
    return rows_path, table_path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_consistent_edit_of_both_files_fails_verification(tampered, seed):
    rows_path, table_path = tampered
    cosamp = sorted({r["solver"] for r in lb.read_rows(rows_path) if r["solver"].startswith("cosamp")})
    assert cosamp
    rep = lb.verify_leaderboard(rows_path, table_path, per_variant=2, seed=seed, solvers=cosamp)
    assert not rep.ok
    assert any(p.startswith("cosamp") and "n_success" in p for p in rep.problems), rep.text()


def test_edit_of_the_table_alone_fails_without_rerunning(tmp_path):
    text = lb.STORED_CSV.read_text()
    reader = list(csv.DictReader(io.StringIO(text)))
    reader[0]["auc_mean"] = "0.9999"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(reader[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(reader)
    (tmp_path / "t.csv").write_text(out.getvalue())
    rep = lb.verify_leaderboard(lb.STORED_ROWS, tmp_path / "t.csv", per_variant=0, seed=0)
    assert not rep.ok and "is not the table computed from" in rep.problems[0]
    assert gzip.decompress(lb.STORED_ROWS.read_bytes())  # untouched
