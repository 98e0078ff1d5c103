"""The performance-regression gate fails on a deliberate slowdown and passes on unmodified code.

Works on a throwaway clone of the repository: commit a change there, run
benchmarks/pytest/gate.py against HEAD~1 of the clone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLOWDOWN = '''

import time as _time

_omp_unslowed = omp


def omp(*args, **kwargs):  # deliberate regression for the gate test
    _time.sleep(0.3)
    return _omp_unslowed(*args, **kwargs)
'''

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=gate", "-c", "user.email=gate@localhost", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def clone(tmp_path):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("the repository has no commit to clone")
    dest = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(dest)], check=True)
    return dest


def _gate(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/pytest/gate.py", "--base", "HEAD~1", "-k", "test_omp"],
                          cwd=repo, capture_output=True, text=True, timeout=600)


def test_gate_fails_on_a_deliberate_slowdown(clone):
    omp_file = clone / "greedybench" / "functional" / "omp.py"
    omp_file.write_text(omp_file.read_text() + SLOWDOWN)
    _git(clone, "commit", "-qam", "slow down omp")
    proc = _gate(clone)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SLOWER" in proc.stdout and "test_omp" in proc.stdout


def test_gate_passes_on_unchanged_kernels(clone):
    doc = clone / "docs" / "architecture.md"
    doc.write_text(doc.read_text() + "\n")
    _git(clone, "commit", "-qam", "docs only")
    proc = _gate(clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate: passed" in proc.stdout
