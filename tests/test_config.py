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


def _section(cfg, where):
    for key in filter(None, where.split(".")):
        cfg = cfg[key]
    return cfg


def edit(where, **values):
    """A mistake: set ``values`` in the section ``where`` (dotted keys; "" is the top level)."""
    return lambda cfg: _section(cfg, where).update(values)


def rename(where, old, new):
    """A mistake: the key ``old`` of the section ``where`` is spelt ``new``."""

    def apply(cfg):
        section = _section(cfg, where)
        section[new] = section.pop(old)

    return apply


MISTAKES = [
    pytest.param(rename("", "phase_transition", "phase_transiton"),
                 r"config key '<top level>'.*unknown key 'phase_transiton' \(a typo\?\)", id="typo_top_level"),
    pytest.param(rename("phase_transition", "trials", "trails"),
                 r"config key 'phase_transition'.*'trails' \(a typo\?\); allowed keys: .*trials", id="typo_nested"),
    pytest.param(edit("families.gauss", ensemble="gausian"),
                 r"config key 'families\.gauss\.ensemble'.*'gausian' is not one of \['gaussian'", id="typo_in_family"),
    pytest.param(edit("phase_transition", trials="ten"),
                 r"config key 'phase_transition\.trials'.*'ten' is not of type 'integer'", id="wrong_type"),
    pytest.param(edit("phase_transition", delta=[0.5, 1.5]),
                 r"config key 'phase_transition\.delta\[1\]'.*1\.5 is greater than the maximum of 1",
                 id="out_of_range"),
    pytest.param(edit("training.sets.latent_tiny", m=6, s=7),
                 r"config key 'training\.sets\.latent_tiny'.*s = 7 > m = 6", id="s_greater_than_m"),
    pytest.param(edit("phase_transition", rho=[0.01, 0.2]),
                 r"config key 'phase_transition\.rho'.*s = 0 < 1", id="rho_too_small"),
    pytest.param(edit("families.latent_dft", K=3),
                 r"config key 'training\.sets\.latent_tiny'.*K = 3 < s = 4", id="latent_K_smaller_than_s"),
    pytest.param(edit("families.gauss", signal="block", block=3),
                 r"config key 'phase_transition\.rho'.*block = 3 does not divide N = 32", id="block_must_divide"),
    pytest.param(edit("phase_transition", families=["gauss", "nope"]),
                 r"config key 'phase_transition\.families\[1\]'.*unknown family 'nope'", id="unknown_family_reference"),
    pytest.param(edit("figures", enabled=False), r"config key 'report\.enabled'", id="report_needs_figures"),
]


@pytest.mark.parametrize("mistake, match", MISTAKES)
def test_mistake_names_its_key(mistake, match):
    cfg = good()
    mistake(cfg)
    check(cfg, match)


def test_rhos_giving_the_same_s_share_one_cell(tmp_path):
    from test_pipeline import standin_config

    from greedybench.pipeline.plan import Plan

    cfg = standin_config(tmp_path)
    cfg["phase_transition"]["rho"] = [0.2, 0.21, 0.3]
    plan = Plan(validate_config(cfg))
    assert [c[2] for c in plan.slices[0].cells] == [3, 5]  # N = 32, delta = 0.5: m = 16
    assert plan.merged_cells[0][3:] == (0.21, 3)
    assert "merged into an existing cell (same m and s): 2" in plan.summary()


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
