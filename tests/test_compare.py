"""`greedybench compare`: a drop-in file outside the repository, written from docs/leaderboard.md
alone, is ranked on the quick grid; broken files get one clear paragraph, exit code 2, and the
stored leaderboard stays byte-identical."""

import csv
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from greedybench import leaderboard as lb
from greedybench.cli import main
from greedybench.pipeline.config import REPO

# A drop-in written from docs/leaderboard.md section 1 only: one-step thresholding by correlation.
GOOD = (Path(__file__).parent / "data" / "doc_thresholding.py").read_text()

HEADER = '''
import torch
name = "NAME"
capabilities = {"differentiable": False, "trained": TRAINED, "complex": True, "gpu": True}
parameters = {}
'''

BROKEN = {
    "syntax": ("SyntaxError", HEADER + "def solve(problem)\n    return None\n"),
    "no_solve": ("'solve' must be a function", HEADER + "def solver(problem):\n    return None\n"),
    "bad_caps": ("capabilities", HEADER.replace('"gpu": True', '"gpu": "yes"') + "def solve(problem):\n    pass\n"),
    "shape": ("shape (B, N)",
              HEADER + "def solve(problem):\n    return torch.zeros(problem.B, problem.N + 1, dtype=torch.float64)\n"),
    "nan": ("NaN", HEADER + "def solve(problem):\n    return torch.full((problem.B, problem.N), float('nan'), dtype=torch.float64)\n"),
    # a solver failing on some batches is scored (status errors: tests/test_compare_sandbox.py); one
    # failing on every batch is not
    "every_batch": ("every batch failed", HEADER + textwrap.dedent('''
        def solve(problem):
            if problem.s > 0:
                raise RuntimeError("cannot handle s > 0")
            return torch.zeros(problem.B, problem.N, dtype=torch.float64)
        ''')),
    "not_tensor": ("torch.Tensor", HEADER + "def solve(problem):\n    return [0.0] * problem.N\n"),
    "builtin_name": ("already used", HEADER.replace("NAME", "omp") + "def solve(problem):\n    pass\n"),
    "trained": ("trained", HEADER.replace("TRAINED", "True") + textwrap.dedent('''
        def train(train_batch, val_batch, *, seed, progress=True):
            return {}
        def solve(problem, state=None):
            return torch.zeros(problem.B, problem.N, dtype=torch.float64)
        ''')),
}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def stored_untouched():
    before = {p: _digest(p) for p in (lb.STORED_CSV, lb.STORED_ROWS)}
    yield
    assert {p: _digest(p) for p in before} == before, "compare modified the stored leaderboard"


def test_docs_solver_outside_repo_is_ranked(tmp_path, stored_untouched):
    src = tmp_path / "elsewhere" / "doc_thresholding.py"
    src.parent.mkdir()
    src.write_text(GOOD)
    assert REPO not in src.resolve().parents
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "greedybench.cli", "compare", str(src), "--quick", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "doc_thresholding ranks" in proc.stdout, proc.stdout
    assert "check: stored leaderboard unchanged during the run (sha256 before = after" in proc.stdout
    table = list(csv.DictReader((out / "ranking.csv").open()))
    mine = [r for r in table if r["solver"] == "doc_thresholding"]
    assert len(mine) == 1 and mine[0]["rank"] and mine[0]["status"] == "ok"
    assert float(mine[0]["auc_gaussian_gaussian"]) > 0
    assert list(table[0])[:4] == ["rank", "solver", "entry", "auc_gaussian_gaussian"]
    if lb.STORED_ROWS.is_file():  # ranked among the stored solvers, re-scored on the same subset
        assert len([r for r in table if r["rank"]]) > 1
        assert "why:" in proc.stdout
    for name in ("results.csv", "cells.csv", "summary.txt", "report.html"):
        assert (out / name).is_file()
    html = (out / "report.html").read_text()
    assert "doc_thresholding" in html and "leaderboard-table" in html
    cells = lb.read_rows(out / "cells.csv")
    assert len(cells) == 2 * len(lb.load_grid().rho) and {c["status"] for c in cells} == {"ok"}
    assert not (tmp_path / "results").exists()  # nothing written outside --out
    assert not (out / "instances").exists()  # the instances come from the one shared store
    assert lb.instances_valid(lb.STORED_INSTANCES / "gaussian_gaussian", lb.load_grid(), "gaussian_gaussian")


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_solver_gets_clear_message(kind, tmp_path, capsys, stored_untouched):
    expect, text = BROKEN[kind]
    path = tmp_path / f"broken_{kind}.py"
    path.write_text(text.replace("NAME", f"broken_{kind}").replace("TRAINED", "False"))
    out = tmp_path / "out"
    rc = main(["compare", str(path), "--quick", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(path) in err and expect in err, err
    assert "results/leaderboard.csv was not touched" in err
    assert len(err.strip().splitlines()) == 1  # one paragraph
    assert not (out / "ranking.csv").exists()
    assert not out.exists()  # a failed run leaves nothing behind (instances live in the shared store)


def test_bad_arguments(tmp_path, capsys, stored_untouched):
    src = tmp_path / "doc_thresholding.py"
    src.write_text(GOOD)
    assert main(["compare", str(src), "--families", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown family 'nope'" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["compare", str(src), "--quick", "--out", str(lb.STORED_CSV.parent)]) == 2
    assert "stored leaderboard" in capsys.readouterr().err


def test_real_only_solver_is_not_applicable_on_complex_family():
    from greedybench.registry import load_entry, Variant

    grid = lb.load_grid()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "real_only.py"
        p.write_text(GOOD.replace('"complex": True', '"complex": False').replace("doc_thresholding", "real_only"))
        entry = load_entry(p)
        cells, _ = lb.run_family(Variant(entry), grid, "dft_latent", Path(d) / "never_read")
    assert [c["status"] for c in cells] == ["not_applicable"]
    assert "real-only" in cells[0]["reason"]


def test_one_instance_store_for_every_solver_name(tmp_path, stored_untouched):
    """Two solver files: the grid's instances are generated once (the whole family, as the
    leaderboard's Snakemake rule makes it), the second run reuses them, and a run whose solver
    fails mid-run leaves no output directory and no temporary files in the store."""
    from greedybench.leaderboard.compare import instance_store

    store = tmp_path / "store"
    said = []
    for name in ("first_solver", "second_solver"):
        src = tmp_path / f"{name}.py"
        src.write_text(GOOD.replace("doc_thresholding", name))
        res = lb.compare(src, quick=True, out=tmp_path / name, instances_root=store, echo=said.append)
        assert [r["solver"] for r in res["rows"]] == [name] and not (tmp_path / name / "instances").exists()
    generated = [s for s in said if s.startswith("generating")]
    assert len(generated) == 1 and "gaussian_gaussian" in generated[0]
    grid = lb.load_grid()
    assert lb.instances_valid(store / "gaussian_gaussian", grid, "gaussian_gaussian")  # every official delta
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    assert instance_store(grid, "gaussian_gaussian", root=store, echo=said.append) == store / "gaussian_gaussian"
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before  # reused untouched

    expect, text = BROKEN["every_batch"]
    bad = tmp_path / "broken_every_batch.py"
    bad.write_text(text.replace("NAME", "broken_every_batch").replace("TRAINED", "False"))
    with pytest.raises(lb.CompareError, match=expect):
        lb.compare(bad, families=["gaussian_rademacher"], quick=True, out=tmp_path / "bad", instances_root=store,
                   echo=said.append)
    assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in store.iterdir()) == ["gaussian_gaussian", "gaussian_rademacher"]
    assert lb.instances_valid(store / "gaussian_rademacher", grid, "gaussian_rademacher")
