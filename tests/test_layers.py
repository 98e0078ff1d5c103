"""The layering contract of docs/architecture.md, checked with import-linter.

``[tool.importlinter]`` in pyproject.toml lists the layers (higher ones may import lower ones,
never the reverse, and there is no import circle across layers). solvers/, datasets/ and report/
are installed as greedybench.solvers, greedybench.datasets and greedybench.report from the top
level of the checkout (``[tool.setuptools] package-dir``), which import-linter cannot follow in an
editable install; the test therefore lays the package out as it is installed (a copy under a
temporary directory) and runs ``lint-imports`` on that copy with the repository's contract.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

_PACKAGE_DIR = {"greedybench": "greedybench", "greedybench.solvers": "solvers",
                "greedybench.datasets": "datasets", "greedybench.report": "report"}


def _package_dir():
    if tomllib is None:
        return _PACKAGE_DIR
    with open(REPO / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]["package-dir"]


def _installed_layout(dest: Path) -> Path:
    """The package as installed: every package-dir entry copied to its dotted place (sources only)."""
    for pkg, src in sorted(_package_dir().items(), key=lambda kv: kv[0].count(".")):
        target = dest.joinpath(*pkg.split("."))
        shutil.copytree(REPO / src, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "captions"))
    return dest


def _lint(root: Path, cwd: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra: pip install -e '.[test]'"
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([lint, str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_layers_hold(tmp_path):
    out = _lint(_installed_layout(tmp_path / "src"), tmp_path)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, imports, broken", [
    ("functional/_probe.py", "from greedybench.pipeline import core", "greedybench.functional is not allowed"),
    ("pipeline/tables.py", "from greedybench.pipeline import plan", "greedybench.pipeline.tables is not allowed"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, imports, broken):
    """The check can fail: an import from a lower layer to a higher one is reported."""
    root = _installed_layout(tmp_path / "src")
    path = root / "greedybench" / module
    path.write_text((path.read_text() if path.exists() else "") + f"\n{imports}\n")
    out = _lint(root, tmp_path)
    assert out.returncode != 0 and broken in out.stdout, out.stdout[-3000:]


def test_layout_copy_is_the_installed_package(tmp_path):
    root = _installed_layout(tmp_path / "src")
    for sub in ("solvers/omp.py", "datasets/__init__.py", "report/__init__.py", "pipeline/core.py"):
        assert (root / "greedybench" / sub).is_file(), sub
    if not (REPO / "greedybench" / "__init__.py").is_file():
        pytest.fail("run from a checkout")
