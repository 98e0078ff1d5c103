"""Config checks at load time (greedybench/pipeline/config_checks.py, issue 18): NaN/Inf, duplicate
YAML keys, duplicate parameter values, solver parameter values, training options, the device and
the grid size are refused when the config loads, naming the key, and `snakemake -n` refuses them
before any job."""

import math
import subprocess
import sys
import warnings

import pytest
import yaml

from greedybench.pipeline import config_checks
from greedybench.pipeline.config import (CONFIG_DIR, REPO, ConfigError, cell_sizes, check_success,
                                         load_config, validate_config)


def tiny():
    with open(CONFIG_DIR / "tiny.yaml") as fh:
        return yaml.safe_load(fh)


def refused(cfg, key, *, check_solvers=True, extra=""):
    with pytest.raises(ConfigError, match=r"config key '" + key.replace(".", r"\.").replace("[", r"\[")
                       .replace("]", r"\]") + "'" + extra) as info:
        validate_config(cfg, check_solvers=check_solvers)
    return str(info.value)


def _set(cfg, key, value):
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return cfg


# --- NaN and Inf anywhere ----------------------------------------------------------------------

NON_FINITE = [
    ("success.threshold", math.nan), ("success.threshold", math.inf),
    ("success.linf_threshold", math.nan), ("phase_transition.sigma", math.nan),
    ("phase_transition.sigma", math.inf), ("training.sets.latent_tiny.sigma", math.nan),
    ("soft_vs_hard.sigma", math.nan), ("training.options.lr", math.nan),
    ("training.options.lr", -math.inf),
]


@pytest.mark.parametrize("key,value", NON_FINITE, ids=[f"{k}={v}" for k, v in NON_FINITE])
def test_non_finite_number_is_refused_naming_the_key(key, value):
    msg = refused(_set(tiny(), key, value), key, check_solvers=False)
    assert "not a finite number" in msg


def test_non_finite_in_lists_and_solver_parameters_names_the_position():
    cfg = tiny()
    cfg["soft_vs_hard"]["tau"] = [1e-4, math.nan]
    refused(cfg, "soft_vs_hard.tau[1]", check_solvers=False)
    cfg = tiny()
    cfg["solvers"]["iht"] = {"parameters": {"step": [0.5, math.inf]}}
    refused(cfg, "solvers.iht.parameters.step[1]", check_solvers=False)


def test_nan_written_as_yaml_is_refused(tmp_path):
    text = (CONFIG_DIR / "tiny.yaml").read_text().replace("success: {threshold: 1.0e-3}",
                                                          "success: {threshold: .nan}")
    assert ".nan" in text
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"config key 'success\.threshold': nan is not a finite number"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0.0, True, "1e-3"])
def test_check_success_for_the_cli(value):
    with pytest.raises(ConfigError, match=r"config key 'success\.threshold': must be a finite number > 0"):
        check_success({"threshold": value})
    assert check_success({"threshold": 1e-3}) == {"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6}


# --- YAML keys and parameter lists ---------------------------------------------------------------

def test_duplicate_yaml_key_is_refused(tmp_path):
    text = (CONFIG_DIR / "tiny.yaml").read_text().replace("  trials: 4\n", "  trials: 4\n  trials: 40\n", 1)
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"duplicate key 'trials' \(first at line \d+\)"):
        load_config(tmp_path / "c.yaml")
    # the same file handed over by Snakemake (already parsed, last key won): files= re-reads it
    with pytest.raises(ConfigError, match="duplicate key 'trials'"):
        validate_config(yaml.safe_load(text), files=[tmp_path / "c.yaml"], check_solvers=False)


def test_duplicate_keys_in_a_flow_mapping_and_merge_keys():
    with pytest.raises(yaml.YAMLError, match="duplicate key 'a'"):
        yaml.load("x: {a: 1, b: 2, a: 3}", Loader=config_checks.UniqueKeyLoader)
    # a merge key overriding a merged value is not a duplicate
    doc = yaml.load("base: &b {a: 1}\nx:\n  <<: *b\n  a: 2\n", Loader=config_checks.UniqueKeyLoader)
    assert doc["x"] == {"a": 2}


def test_duplicate_parameter_values_are_refused():
    cfg = tiny()
    cfg["solvers"]["iht"] = {"parameters": {"step": [0.5, 0.6, 0.5]}}
    msg = refused(cfg, "solvers.iht.parameters.step", check_solvers=False)
    assert "duplicate value 0.5 (positions 0 and 2)" in msg


# --- solver parameter values and training options ----------------------------------------------

@pytest.mark.parametrize("solver,params,key", [
    ("iht", {"n_iter": [0]}, "solvers.iht.parameters.n_iter"),
    ("iht", {"step": [-1.0]}, "solvers.iht.parameters.step"),
    ("iht", {"n_iter": [2.5]}, "solvers.iht.parameters.n_iter"),
    ("iht", {"step": ["big"]}, "solvers.iht.parameters.step"),
    ("soft_omp", {"tau": [0.0]}, "solvers.soft_omp.parameters.tau"),
])
def test_bad_solver_parameter_value_is_refused_at_load(solver, params, key):
    cfg = tiny()
    cfg["solvers"][solver] = {"parameters": params}
    msg = refused(cfg, key)
    assert "m = " in msg and "N = " in msg           # where it would have run


def test_soft_vs_hard_pair_parameters_are_probed_at_load():
    # a pair's shared parameters reach both of its solvers
    cfg = tiny()
    cfg["soft_vs_hard"]["pairs"][1]["parameters"] = {"n_iter": 0}
    refused(cfg, "soft_vs_hard.pairs[1].parameters")


def test_good_parameter_values_pass():
    cfg = tiny()
    cfg["solvers"]["iht"] = {"parameters": {"n_iter": [10, 20], "step": [0.5, "norm"]}}
    validate_config(cfg)


@pytest.mark.parametrize("opts,key,msg", [
    ({"lr": -1.0}, "training.options.lr", "lr must be a finite number > 0"),
    ({"epochs": 0}, "training.options.epochs", "epochs must be an integer >= 1"),
    ({"epoch": 3}, "training.options.epoch", "no trained solver here takes 'epoch'"),
    ({"seed": 3}, "training.options.seed", "use training.seed"),
    ({"optimizer": "adamw"}, "training.options.optimizer", "optimizer must be one of"),
])
def test_bad_training_option_is_refused_at_load(opts, key, msg):
    cfg = tiny()
    cfg["training"]["options"] = dict(cfg["training"]["options"], **opts)
    assert msg in refused(cfg, key)


def test_bad_per_solver_train_option_names_the_solver():
    cfg = tiny()
    cfg["solvers"]["omp_net"] = {"train_options": {"batch_size": -4}}
    refused(cfg, "solvers.omp_net.train_options.batch_size")


# --- device and size ---------------------------------------------------------------------------

def test_cuda_without_a_gpu_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(config_checks.shutil, "which", lambda name: None)
    monkeypatch.delenv("GREEDYBENCH_SKIP_DEVICE_CHECK", raising=False)
    cfg = tiny()
    cfg["device"] = "cuda"
    assert "no CUDA device" in refused(cfg, "device", check_solvers=False)
    monkeypatch.setenv("GREEDYBENCH_SKIP_DEVICE_CHECK", "1")
    validate_config(cfg, check_solvers=False)
    monkeypatch.delenv("GREEDYBENCH_SKIP_DEVICE_CHECK")
    monkeypatch.setattr(config_checks.shutil, "which", lambda name: "/usr/bin/sbatch")   # a submit host
    with pytest.warns(UserWarning, match="Slurm submit"):
        validate_config(cfg, check_solvers=False)


def test_huge_grid_is_refused_naming_its_size(monkeypatch):
    cfg = tiny()
    cfg["phase_transition"]["trials"] = 5 * 10**9          # 6 cells x 5e9 = 3e10 problems
    msg = refused(cfg, "phase_transition.trials", check_solvers=False)
    assert "of memory" in msg and "5000000000 problems x m = " in msg
    # the problem count alone (memory permitting)
    monkeypatch.setattr(config_checks, "_memory_bytes", lambda: 10**18)
    msg = refused(cfg, "phase_transition", check_solvers=False)
    assert "3e+10 problems, more than the limit of 1e+09" in msg


def test_problem_count_limit_and_warning(monkeypatch):
    cfg = validate_config(tiny(), check_solvers=False)
    assert config_checks.check_grid_size(cfg, cell_sizes) == 6 * 4 + 64 + 4 * 3
    monkeypatch.setenv("GREEDYBENCH_MAX_PROBLEMS", "99")
    with pytest.raises(ConfigError, match="100 problems, more than the limit of 99"):
        config_checks.check_grid_size(cfg, cell_sizes)
    monkeypatch.delenv("GREEDYBENCH_MAX_PROBLEMS")
    monkeypatch.setattr(config_checks, "WARN_PROBLEMS", 50)
    with pytest.warns(config_checks.ConfigSizeWarning, match="100 problems"):
        config_checks.check_grid_size(cfg, cell_sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setattr(config_checks, "WARN_PROBLEMS", 100)
        config_checks.check_grid_size(cfg, cell_sizes)


# --- the same through Snakemake: refused by a dry run, before any job --------------------------

@pytest.mark.parametrize("key,value", [
    ("success.threshold", math.nan),
    ("solvers.iht", {"parameters": {"n_iter": [0]}}),
    ("training.options.lr", -1.0),
], ids=["threshold-nan", "iht-n_iter-0", "lr-negative"])
def test_snakemake_dry_run_refuses_bad_values(tmp_path, key, value):
    cfg = _set(tiny(), key, value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "--cores", "1",
                        "--configfile", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    want = key if key != "solvers.iht" else "solvers.iht.parameters.n_iter"
    assert f"config key '{want}'" in out, out[-2000:]
    assert not (tmp_path / "results").exists()
