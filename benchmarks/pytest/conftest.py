"""pytest-benchmark micro-benchmarks of the kernels (run by benchmarks/pytest/gate.py).

greedybench is imported from sys.path as it stands, so gate.py can point the same benchmark file
at the base commit's code (a git worktree) and at the head's.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

# the asv suite's seeded builders are the single source of benchmark problems; load by file path
# so that the benchmark never changes which greedybench is imported
_spec = importlib.util.spec_from_file_location(
    "_gb_bench_common", Path(__file__).resolve().parents[1] / "common.py")
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


@pytest.fixture(scope="session", autouse=True)
def _pin_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def problem():
    return _common.gaussian_problem(256, 64, 128, 8, dtype=torch.float64, seed=0)


@pytest.fixture(scope="module")
def foundation():
    return _common.gaussian_problem(2000, 256, 512, 32, dtype=torch.float64, seed=0)
