"""Installation edge cases a new user meets (issue: a new user's first hour)."""

import os
import subprocess
import sys
from pathlib import Path

import greedybench

REPO = Path(__file__).resolve().parents[1]


def test_import_from_the_directory_that_contains_a_checkout_named_greedybench(tmp_path):
    # A fresh clone keeps the repository's name; from its parent directory Python's first sys.path
    # entry is the current directory, where the clone folder would shadow the installed package.
    (tmp_path / "greedybench").symlink_to(REPO, target_is_directory=True)
    code = ("import greedybench as gb; from greedybench.datasets import make_instance; "
            "inst = make_instance(ensemble='gaussian', signal='uniform', m=16, N=32, s=2, batch=3, seed=0); "
            "x = gb.omp(inst.A, inst.Y, 2); print(gb.__file__, tuple(x.shape))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    path, shape = out.stdout.rsplit(" ", 2)[0], out.stdout.split(" ", 1)[1].strip()
    assert Path(path).resolve() == Path(greedybench.__file__).resolve()
    assert shape == "(3, 32)"


def test_shadowing_checkout_without_an_install_says_what_happened(tmp_path):
    (tmp_path / "greedybench").symlink_to(REPO, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S: no site-packages, so no installed greedybench can be found
    out = subprocess.run([sys.executable, "-S", "-c", "import greedybench"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0
    assert "instead of the package" in out.stderr and "pip install -e" in out.stderr
