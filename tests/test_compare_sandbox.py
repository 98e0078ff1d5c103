"""`greedybench compare` runs the drop-in solver in its own process: cheating files that win when
run in the scorer's process score no better than OMP there; a solver that hangs, exits or exhausts
memory gets exit 2 and one paragraph; partial failures are scored; the stored files are
checksummed; one compare per --out; the fresh-seed check exposes a solver that reads the public
instances. All on the quick subset (one family, two deltas)."""

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from greedybench import leaderboard as lb
from greedybench.analysis import metrics
from greedybench.cli import main
from greedybench.leaderboard.compare import instance_store
from greedybench.leaderboard.integrity import LockedError, OutLock, grid_instances
from greedybench.leaderboard.sandbox import PUBLIC_META, public_meta
from greedybench.pipeline import core
from greedybench.registry import Variant, discover, load_entry

CHEATERS = Path(__file__).parent / "data" / "cheaters"
FAMILY = "gaussian_gaussian"
TOL = 1e-9

HEADER = '''
import os, sys, time
import torch
name = "NAME"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": False}
parameters = {}
'''

# the honest part of every cheating entry: the thresholding of the compare test's drop-in
_DOC = (Path(__file__).parent / "data" / "doc_thresholding.py").read_text()
THRESHOLDING = "\n" + _DOC[_DOC.index("def thresholding"):_DOC.index("def solve")]


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER.replace("NAME", name) + THRESHOLDING + textwrap.dedent(body))
    return path


@pytest.fixture(scope="module")
def quick():
    grid = lb.load_grid()
    sub = grid.subset(quick=True)
    store = instance_store(grid, FAMILY)
    return sub, store


def _in_process(path, quick, n=4):
    """The cheat run the old way, in the scorer's process, on the last n cells of the quick subset
    (large rho, where omp fails): returns its successes and omp's on the same cells."""
    grid, store = quick
    insts = list(grid_instances(store, grid, FAMILY))[-n:]
    saved = (core.recovery_metrics, metrics.recovery_metrics)
    try:
        entry = load_entry(path)
        cheat, _ = lb.run_family(Variant(entry), grid, FAMILY, store, instances=insts)
    finally:
        core.recovery_metrics, metrics.recovery_metrics = saved
    omp, _ = lb.run_family(Variant(discover()["omp"]), grid, FAMILY, store, instances=insts)
    return sum(c["n_success"] for c in cheat), sum(c["n_success"] for c in omp)


@pytest.mark.parametrize("cheat", ["rebuild", "frames", "gc", "patch"])
def test_cheaters_win_in_process_but_not_in_the_sandbox(cheat, quick, tmp_path):
    path = CHEATERS / f"cheat_{cheat}.py"
    won, omp_won = _in_process(path, quick)
    assert won > omp_won, f"the {cheat} cheat should work inside the scorer's process ({won} vs omp {omp_won})"
    res = lb.compare(path, quick=True, out=tmp_path / "out", echo=lambda s: None)
    table = {r["solver"]: r for r in res["table"]}
    mine, omp = table[f"cheat_{cheat}"], table["omp"]
    assert mine["status"] == "ok", mine
    assert float(mine["auc_mean"]) <= float(omp["auc_mean"]) + TOL, (mine, omp)
    cells = lb.read_rows(tmp_path / "out" / "cells.csv")
    omp_cells = [r for r in lb.read_rows(lb.STORED_ROWS) if r["solver"] == "omp" and r["family"] == FAMILY
                 and float(r["delta"]) in quick[0].delta]
    assert sum(int(c["n_success"]) for c in cells) <= sum(int(c["n_success"]) for c in omp_cells)
    assert core.recovery_metrics is metrics.recovery_metrics  # the scorer here was never patched


def test_the_solver_gets_no_seed_no_hidden_set():
    meta = {"seed": 1, "rng_seed": 99, "T": [1, 2], "ensemble": "gaussian", "instance": "rho0.1.npz", "s": 3}
    got = public_meta(meta)
    assert got == {"ensemble": "gaussian", "s": 3, "T": None}
    assert not any("seed" in k or "rng" in k for k in PUBLIC_META)


def test_config_reading_cheat_is_exposed_by_a_fresh_seed(quick, tmp_path):
    """The stored instances are public: a file that rebuilds them from config/leaderboard.yaml wins
    on them, and the fresh-seed check says its score is not reproduced; omp's is."""
    res = lb.compare(CHEATERS / "cheat_config_seed.py", quick=True, out=tmp_path / "out", seed=12345, n_boot=200,
                     echo=lambda s: None)
    table = {r["solver"]: r for r in res["table"]}
    assert float(table["cheat_config_seed"]["auc_mean"]) > float(table["omp"]["auc_mean"])
    checks = {r["solver"]: r for r in res["seed_check"]}
    assert not checks["cheat_config_seed"]["agree"] and checks["cheat_config_seed"]["fresh"] < 0.01
    assert checks["omp"]["agree"]
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert "cheat_config_seed auc_mean" in text and "DISAGREES" in text
    assert "fresh seed 12345" in (tmp_path / "out" / "report.html").read_text()


FATAL = {
    "hang": ("while True:\n    pass\n", "time limit of 1.5 s"),
    "sysexit": ("sys.exit(0)\n", "sys.exit"),
    "osexit": ("os._exit(3)\n", "exit code 3"),
    "memory": ("torch.ones(50 * 2**30 // 8, dtype=torch.float64)\n", "ran out of memory"),
}


@pytest.mark.parametrize("kind", sorted(FATAL))
def test_fatal_solver_gets_a_paragraph_and_exit_2(kind, tmp_path, capsys):
    body, expect = FATAL[kind]
    path = _write(tmp_path, f"fatal_{kind}", "def solve(problem):\n    print('working on it')\n"
                  + textwrap.indent(body, "    "))
    out = tmp_path / "out"
    rc = main(["compare", str(path), "--quick", "--out", str(out), "--timeout-s", "1.5", "--memory-gb", "4"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and expect in err, err
    assert "was not touched (sha256 checked before and after" in err
    assert "working on it" in err  # the end of the solver's own output
    assert not out.exists()


def test_failing_on_one_batch_is_scored_with_status_errors(tmp_path):
    path = _write(tmp_path, "one_bad_batch", '''
        def solve(problem):
            if problem.m == 90 and problem.s == 11:
                raise RuntimeError("cannot do this one")
            return thresholding(problem)
        ''')
    res = lb.compare(path, quick=True, out=tmp_path / "out", echo=lambda s: None)
    (mine,) = res["rows"]
    assert mine["status"] == "errors" and mine["rank"] and float(mine["auc_mean"]) > 0
    assert mine["status_detail"].startswith("1 of 48 batches failed") and "cannot do this one" in mine["status_detail"]
    cells = lb.read_rows(tmp_path / "out" / "cells.csv")
    assert [c["status"] for c in cells].count("error") == 1
    # the report names and highlights the solver, renders its comparison as a table, real versions
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<title>greedybench compare: one_bad_batch</title>" in page
    assert '<table id="comparison-one_bad_batch">' in page and '<table id="leaderboard-table">' in page
    assert page.count("<tr class=mine>") == 2 and "\u25c0 your solver" in page
    for dist in ("python", "torch", "numpy", "snakemake", "greedybench"):
        want = platform.python_version() if dist == "python" else importlib.metadata.version(dist)
        assert f"<td>version: {dist}</td><td>{want}</td>" in page
    assert "unknown" not in page


def test_a_solver_modifying_the_leaderboard_is_caught(tmp_path, capsys):
    stored = tmp_path / "stored"
    stored.mkdir()
    for p in (lb.STORED_CSV, lb.STORED_ROWS):
        shutil.copy(p, stored / p.name)
    target = stored / lb.STORED_CSV.name
    path = _write(tmp_path, "tamperer", f'''
        def solve(problem):
            with open({str(target)!r}, "a") as fh:
                fh.write("1,tamperer,tamperer\\n")
            return thresholding(problem)
        ''')
    out = tmp_path / "out"
    rc = main(["compare", str(path), "--quick", "--out", str(out), "--stored-csv", str(target),
               "--stored-rows", str(stored / lb.STORED_ROWS.name)])
    err = capsys.readouterr().err
    assert rc == 2 and "MODIFIED" in err and str(target) in err, err
    assert str(stored / lb.STORED_ROWS.name) not in err  # only the file that changed is named
    assert not out.exists()


def test_an_instance_in_the_wrong_cell_is_refused(quick, tmp_path):
    grid, store = quick
    copy = tmp_path / "store" / FAMILY
    shutil.copytree(store, copy)
    sdir = copy / lb.slice_id(grid.N, 0.35, grid.seed)
    files = sorted(sdir.glob("rho*.npz"))
    shutil.copy(files[0], files[1])
    src = _write(tmp_path, "honest", "def solve(problem):\n    return thresholding(problem)\n")
    with pytest.raises(lb.CompareError, match=f"{files[1].name}.*not the instance expected here"):
        lb.compare(src, quick=True, out=tmp_path / "out", instances_root=tmp_path / "store", echo=lambda s: None)


def test_one_compare_per_out(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out.mkdir()
        (out / ".compare.lock").write_text(f"{holder.pid}\n")
        src = _write(tmp_path, "honest", "def solve(problem):\n    return thresholding(problem)\n")
        with pytest.raises(LockedError, match=f"another greedybench compare \\(pid {holder.pid}\\)"):
            lb.compare(src, quick=True, out=out, echo=lambda s: None)
        assert main(["compare", str(src), "--quick", "--out", str(out)]) == 2
    finally:
        holder.kill()
        holder.wait()
    said = []
    with OutLock(out, echo=said.append):  # the holder is gone: its lock is taken over
        assert (out / ".compare.lock").read_text().strip() == str(os.getpid())
    assert said and "no longer runs" in said[0] and str(holder.pid) in said[0]
    assert not (out / ".compare.lock").exists()


def test_seed_agreement_rule(quick):
    """Same outcomes agree; a score that collapses disagrees; with a stored interval the fresh
    interval must overlap it."""
    grid, _ = quick
    omp = [r for r in lb.read_rows(lb.STORED_ROWS) if r["solver"] == "omp" and r["family"] == FAMILY
           and float(r["delta"]) in grid.delta]
    same = lb.seed_agreement(omp, omp, grid, n_boot=20)
    assert same["agree"] and same["stored"] == same["fresh"] and same["lo"] <= 0 <= same["hi"]
    zero = [dict(r, n_success="0", success_mask="F" * int(r["n_trials"])) for r in omp]
    gone = lb.seed_agreement(omp, zero, grid, n_boot=20)
    assert not gone["agree"] and gone["fresh"] == 0 and gone["hi"] < 0
    a = same["stored"]
    assert lb.seed_agreement(zero, omp, grid, interval=(a - 0.01, a + 0.01), n_boot=20)["agree"]
    assert not lb.seed_agreement(omp, zero, grid, interval=(a - 0.01, a + 0.01), n_boot=20)["agree"]
