"""Workflow hygiene (issue 17): the Snakefile and rules are snakefmt-formatted, `snakemake --lint`
reports nothing, a CPU run asks for no GPU, a dry run on a fresh clone does not pull in (or
complain about) the leaderboard jobs the user never ran, and the conda environment file lists
every dependency of the package."""

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from greedybench.pipeline.config import REPO

SNAKEFILES = [str(REPO / "Snakefile"), str(REPO / "workflow")]


def _snakemake(*args, cwd, timeout=120, env=None):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    return proc.returncode, proc.stdout + proc.stderr


def test_snakefmt_check():
    if importlib.util.find_spec("snakefmt") is None:
        pytest.fail("snakefmt is not installed: pip install -e '.[test]' (it is in the test extra)")
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *SNAKEFILES], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, ("not formatted; run `snakefmt Snakefile workflow/`:\n"
                                  + proc.stdout + proc.stderr)


def test_snakemake_lint_is_clean(tmp_path):
    rc, out = _snakemake("--lint", cwd=tmp_path)
    assert rc == 0, out
    assert "Lints for" not in out and "good condition" in out, out


def test_fresh_clone_dry_run(tmp_path):
    """A fresh clone holds the committed leaderboard table and no Snakemake metadata: the default
    target's dry run neither schedules the leaderboard jobs nor reports missing metadata, and a
    CPU config gives no job a GPU resource."""
    (tmp_path / "results").mkdir()
    shutil.copy(REPO / "results" / "leaderboard.csv", tmp_path / "results" / "leaderboard.csv")
    rc, out = _snakemake("--dry-run", cwd=tmp_path)
    assert rc == 0, out
    assert "metadata" not in out, out
    jobs = re.findall(r"^rule (\w+):", out, flags=re.M)
    assert "report" in jobs and not [j for j in jobs if j.startswith("leaderboard")], sorted(set(jobs))
    assert not {"b1_study", "latent_transition_study"} & set(jobs), "the studies are named targets only"
    assert "gpu" not in out


def test_cpu_profile_announces_no_gpu():
    for path in (REPO / "profiles").glob("*/*.yaml"):
        prof = yaml.safe_load(path.read_text()) or {}
        assert not any("gpu" in str(r) for r in prof.get("resources", [])), path


def test_cuda_run_limits_gpu_jobs_to_one(tmp_path):
    """On CUDA, local runs still get `gpu=1` (one GPU job at a time), from the Snakefile. The job run
    here (instance generation) needs no GPU; the config check that refuses `cuda` without a GPU is
    skipped as on a submit host."""
    rc, out = _snakemake("results/instances/train/latent_tiny/trainval", "--cores", "1",
                         "--configfile", str(REPO / "config" / "tiny.yaml"), "--config", "device=cuda",
                         cwd=tmp_path, timeout=300, env={"GREEDYBENCH_SKIP_DEVICE_CHECK": "1"})
    assert rc == 0, out
    provided = [ln for ln in out.splitlines() if ln.startswith("Provided resources")]
    assert len(provided) == 1 and "gpu" in provided[0], out


def test_conda_env_lists_every_dependency():
    block = re.search(r"^dependencies = \[(.*?)^\]", (REPO / "pyproject.toml").read_text(), flags=re.M | re.S)
    deps = re.findall(r'^\s*"([^"]+)"', block.group(1), flags=re.M)
    assert "numpy>=1.24" in deps
    env = yaml.safe_load((REPO / "workflow" / "envs" / "greedybench.yaml").read_text())
    listed = {re.split(r"[<>=!\s]", d, maxsplit=1)[0].lower() for d in env["dependencies"] if isinstance(d, str)}
    conda_name = {"torch": "pytorch", "snakemake": "snakemake-minimal"}
    for dep in deps:
        name = re.split(r"[<>=!\[\s;]", dep, maxsplit=1)[0].lower()
        assert conda_name.get(name, name) in listed, f"{name} is missing from workflow/envs/greedybench.yaml"
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rule_file.read_text()
        n_rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
        assert text.count('conda:\n        "../envs/greedybench.yaml"') == n_rules, rule_file
