"""Pipeline configuration: the shipped configs validate; mistakes give one clear error naming the key."""

import subprocess
import sys

import pytest
import yaml

from greedybench.pipeline.config import CONFIG_DIR, REPO, ConfigError, load_config, validate_config
from greedybench.registry import discover

SHIPPED = ["default", "paper", "tiny"]


def raw(name):
    with open(CONFIG_DIR / f"{name}.yaml") as fh:
        return yaml.safe_load(fh)


def missing_solvers(cfg):
    entries = discover(cfg.get("solver_files", []), refresh=True)
    names = set(cfg["solvers"]) | {p[r] for p in cfg["soft_vs_hard"]["pairs"] for r in ("soft", "hard")}
    return sorted(n for n in names if n not in entries or not entries[n].available)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_grid_validates(name):
    cfg = validate_config(raw(name), source=name, check_solvers=False)
    assert cfg["name"] == name
    assert cfg["success"]["linf_threshold"] == 0.01  # a schema default was filled in


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_validates_with_solvers(name):
    missing = missing_solvers(raw(name))
    assert not missing, f"built-in solver entries do not load: {', '.join(missing)}"
    load_config(name)


def good():
    """tiny.yaml, with its grid only (no solver checks needed)."""
    return raw("tiny")


def check(cfg, match):
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, check_solvers=False)


def test_typo_top_level():
    cfg = good()
    cfg["phase_transiton"] = cfg.pop("phase_transition")
    check(cfg, r"config key '<top level>'.*unknown key 'phase_transiton' \(a typo\?\)")


def test_typo_nested():
    cfg = good()
    cfg["phase_transition"]["trails"] = cfg["phase_transition"].pop("trials")
    check(cfg, r"config key 'phase_transition'.*'trails' \(a typo\?\); allowed keys: .*trials")


def test_typo_in_family():
    cfg = good()
    cfg["families"]["gauss"]["ensemble"] = "gausian"
    check(cfg, r"config key 'families\.gauss\.ensemble'.*'gausian' is not one of \['gaussian'")


def test_wrong_type():
    cfg = good()
    cfg["phase_transition"]["trials"] = "ten"
    check(cfg, r"config key 'phase_transition\.trials'.*'ten' is not of type 'integer'")


def test_out_of_range():
    cfg = good()
    cfg["phase_transition"]["delta"] = [0.5, 1.5]
    check(cfg, r"config key 'phase_transition\.delta\[1\]'.*1\.5 is greater than the maximum of 1")


def test_s_greater_than_m():
    cfg = good()
    cfg["training"]["sets"]["latent_tiny"].update(m=6, s=7)
    check(cfg, r"config key 'training\.sets\.latent_tiny'.*s = 7 > m = 6")


def test_rho_too_small():
    cfg = good()
    cfg["phase_transition"]["rho"] = [0.01, 0.2]
    check(cfg, r"config key 'phase_transition\.rho'.*s = 0 < 1")


def test_latent_K_smaller_than_s():
    cfg = good()
    cfg["families"]["latent_dft"]["K"] = 3
    check(cfg, r"config key 'training\.sets\.latent_tiny'.*K = 3 < s = 4")


def test_block_must_divide():
    cfg = good()
    cfg["families"]["gauss"].update(signal="block", block=3)
    check(cfg, r"config key 'phase_transition\.rho'.*block = 3 does not divide N = 32")


def test_rhos_giving_the_same_s_share_one_cell(tmp_path):
    from test_pipeline import standin_config

    from greedybench.pipeline.plan import Plan

    cfg = standin_config(tmp_path)
    cfg["phase_transition"]["rho"] = [0.2, 0.21, 0.3]
    plan = Plan(validate_config(cfg))
    assert [c[2] for c in plan.slices[0].cells] == [3, 5]  # N = 32, delta = 0.5: m = 16
    assert plan.merged_cells[0][3:] == (0.21, 3)
    assert "merged into an existing cell (same m and s): 2" in plan.summary()


def test_unknown_family_reference():
    cfg = good()
    cfg["phase_transition"]["families"] = ["gauss", "nope"]
    check(cfg, r"config key 'phase_transition\.families\[1\]'.*unknown family 'nope'")


def test_unknown_solver(tmp_path):
    from test_pipeline import standin_config

    cfg = standin_config(tmp_path)
    cfg["solvers"]["no_such_solver"] = {}
    with pytest.raises(ConfigError, match=r"config key 'solvers\.no_such_solver'.*unknown solver 'no_such_solver'; known"):
        validate_config(cfg)


def test_unavailable_solver_names_reason(tmp_path):
    bad = tmp_path / "broken_entry.py"
    bad.write_text("name = 'broken_entry'\ndef solve(:\n")
    from test_pipeline import standin_config

    cfg = standin_config(tmp_path)
    cfg["solver_files"].append(str(bad))
    cfg["solvers"]["broken_entry"] = {}
    with pytest.raises(ConfigError, match=r"solvers\.broken_entry.*unavailable: import failed: SyntaxError"):
        validate_config(cfg)


def test_solver_parameter_typo(tmp_path):
    from test_pipeline import standin_config

    cfg = standin_config(tmp_path)
    cfg["solvers"]["stub_soft"] = {"parameters": {"taus": [0.1]}}
    with pytest.raises(ConfigError, match=r"solvers\.stub_soft\.parameters\.taus'.*no parameter 'taus'; its parameters: tau"):
        validate_config(cfg)


def test_standin_config_validates(tmp_path):
    from test_pipeline import standin_config

    validate_config(standin_config(tmp_path))


def test_report_needs_figures():
    cfg = good()
    cfg["figures"]["enabled"] = False
    check(cfg, r"config key 'report\.enabled'")


def test_snakemake_refuses_bad_config_before_any_job(tmp_path):
    cfg = good()
    cfg["training"]["sets"]["latent_tiny"].update(m=6, s=7)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "1",
                        "--configfile", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "config key 'training.sets.latent_tiny'" in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()
