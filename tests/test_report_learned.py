"""The learned-solver panels of the report (issue 19): B1 NMSE per layer (one panel per SNR, with the
LASSO floor), the nets' training curves and their rho*(delta) against the untrained and oracle
solvers, drawn from the studies' output folders; without those folders, one line per section saying
it is absent and which command makes it. Plus the pipeline targets (dry run) and their config keys.

The study outputs here are small synthetic tables in the studies' formats (the studies themselves
are tested in test_lista_b1.py and test_latent_transition.py), so the values each panel must show
are known."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from greedybench.analysis import make_figures
from greedybench.analysis.fig_learned import B1_COMMAND, LATENT_COMMAND, draw_b1_nmse, learned_figures
from greedybench.analysis.fig_common import Manifest
from greedybench.analysis.learned_study import b1_curves, b1_layer_table, lasso_floor, read_b1
from greedybench.analysis.synthetic import synthetic_results
from greedybench.pipeline.config import CONFIG_DIR, ConfigError, REPO, load_config, validate_config
from greedybench.report import render_report

DEPTH = 16
SNRS = ("inf", "40")
# method -> (trained, iterations, NMSE dB at iteration k as a function of k and the SNR's floor)
METHODS = {
    "ista-16": (False, 16, lambda k, f: max(-0.4 * k, f)),
    "fista-1000": (False, 1000, lambda k, f: max(-0.1 * k, f)),
    "lista": (True, 16, lambda k, f: max(-2.0 * k, f)),
    "alista": (True, 16, lambda k, f: max(-3.0 * k, f)),
}
FLOOR = {"inf": -46.0, "40": -38.0}


def _write_b1(folder):
    folder.mkdir(parents=True)
    layers, results, training = [], [], []
    for snr in SNRS:
        for m, (trained, n, f) in METHODS.items():
            layers += [{"method": m, "snr_db": snr, "iteration": k, "matvecs": 2.0 * k, "nmse_db": f(k, FLOOR[snr])}
                       for k in range(1, n + 1)]
            results.append({"method": m, "snr_db": snr, "status": "ok", "trained": trained})
            if trained:
                training += [{"method": m, "snr_db": snr, "step": s, "train_loss": 100.0 / s,
                              "val_nmse_db": -s / 50.0} for s in (100, 200, 300)]
    pd.DataFrame(layers).to_csv(folder / "b1_layers.csv", index=False)
    pd.DataFrame(results).to_csv(folder / "b1_results.csv", index=False)
    pd.DataFrame(training).to_csv(folder / "b1_training.csv", index=False)
    (folder / "b1_run.json").write_text('{"config": {"scale": "ci", "m": 64, "N": 128, "depth": 16, "steps": 300}}')
    return folder


FITS = [  # delta, solver, rho*, lo, hi, fraction, lo, hi
    (0.25, "omp", 0.30, 0.28, 0.32, None, None, None),
    (0.25, "omp_oracle", 0.50, 0.48, 0.52, None, None, None),
    (0.25, "omp_net", 0.40, 0.38, 0.42, 0.5, 0.3, 0.7),
    (0.25, "iht", 0.20, 0.18, 0.22, None, None, None),
    (0.25, "iht_oracle", 0.30, 0.28, 0.32, None, None, None),
    (0.25, "iht_net", 0.22, 0.20, 0.24, 0.2, -0.1, 0.4),
]


def _write_latent(folder):
    folder.mkdir(parents=True)
    cols = ["delta", "solver", "rho_star", "rho_star_lo", "rho_star_hi", "fraction_of_gain", "fraction_lo",
            "fraction_hi"]
    df = pd.DataFrame(FITS, columns=cols).assign(flag="ok", rho_star_bound=np.nan)
    df.to_csv(folder / "latent_rho_star.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The same results table rendered with and without the study folders."""
    root = tmp_path_factory.mktemp("learned")
    synthetic_results(trials=4, seed=1).to_csv(root / "results.csv", index=False)
    b1, latent = _write_b1(root / "studies" / "b1_ci"), _write_latent(root / "studies" / "latent_transition")
    out = {}
    for name, extras in (("with", {"learned_b1": b1, "learned_transitions": latent}), ("without", {})):
        man = make_figures(root / "results.csv", root / name / "figures", {"analysis": {"n_boot": 10}},
                           extras=extras)
        html = render_report(root / name / "figures" / "manifest.json", root / name / "index.html",
                             provenance={"commit": "x"}).read_text()
        out[name] = (man, html)
    return root, out


LEARNED_IDS = {"learned_b1_nmse", "learned_b1_training", "learned_latent_transition"}


def test_panels_are_drawn_from_the_study_outputs(reports):
    root, out = reports
    man, html = out["with"]
    drawn = {f["id"]: f for f in man["figures"]}
    assert LEARNED_IDS <= set(drawn)
    for fid in LEARNED_IDS:
        assert (root / "with" / "figures" / drawn[fid]["file"]).read_bytes().startswith(b"\x89PNG")
        assert f'id="fig-{fid}"' in html
    assert "Section absent" not in html
    # the sidecar tables hold the values of the inputs: the LASSO floor is FISTA's last iteration
    floor = pd.read_csv(root / "with" / "figures" / "data" / "learned_b1_lasso_floor.csv", dtype={"snr_db": str})
    assert dict(zip(floor["snr_db"], floor["nmse_db"])) == pytest.approx(FLOOR)
    assert set(floor["iterations"]) == {1000}
    table = pd.read_csv(root / "with" / "figures" / "data" / "learned_b1_layer_table.csv", dtype={"snr_db": str})
    row = table[(table["method"] == "lista") & (table["snr_db"] == "40")].iloc[0]
    assert row["nmse_db_depth"] == pytest.approx(max(-2.0 * DEPTH, FLOOR["40"])) and bool(row["learned"])
    cap = drawn["learned_b1_nmse"]["caption"]
    assert "lista -32.0" in cap and "LASSO floor -46.0" in cap and "LASSO floor -38.0" in cap
    # the fraction of the oracle's gain, with its interval, as the study computed it
    cap = drawn["learned_latent_transition"]["caption"]
    assert "OMP-Net at delta 0.25: 0.50 [0.30, 0.70]" in cap and "IHT-Net at delta 0.25: 0.20 [-0.10, 0.40]" in cap
    gain = pd.read_csv(root / "with" / "figures" / "data" / "learned_latent_gain.csv")
    assert sorted(gain["family"]) == ["iht", "omp"]


def test_one_panel_per_snr_with_every_method_and_the_floor(tmp_path):
    t, _ = read_b1(_write_b1(tmp_path / "b1"))
    curves = b1_curves(t["layers"], t["results"])
    floor = lasso_floor(curves)
    fig = Figure()
    axes = draw_b1_nmse(fig, curves, floor, DEPTH)
    assert len(axes) == len(SNRS)
    for ax, snr in zip(axes, SNRS):   # noiseless first, then decreasing SNR
        assert snr in ax.get_title() or (snr == "inf" and "noiseless" in ax.get_title())
        labels = {ln.get_label() for ln in ax.get_lines()}
        assert {"lista", "alista", "ista-16 (untrained)", "fista-1000 (untrained)"} <= labels
        flat = [ln for ln in ax.get_lines() if ln.get_label().startswith("LASSO floor")]
        assert len(flat) == 1 and np.allclose(flat[0].get_ydata(), FLOOR[snr])
        assert ax.get_xscale() == "log" and "dB" in axes[0].get_ylabel()
    # the layer table reads the value at the net depth, not at the last iteration of a long run
    tab = b1_layer_table(curves, DEPTH).set_index(["method", "snr_db"])
    assert tab.loc[("fista-1000", "inf"), "nmse_db_depth"] == pytest.approx(-0.1 * DEPTH)
    assert tab.loc[("fista-1000", "inf"), "nmse_db_last"] == pytest.approx(FLOOR["inf"])


def test_report_without_study_outputs_says_so_in_one_line_per_section(reports):
    root, out = reports
    man, html = out["without"]
    assert not LEARNED_IDS & {f["id"] for f in man["figures"]}
    lines = re.findall(r'<p class="absent">(.*?)</p>', html)
    assert len(lines) == 2 and all(line.startswith("Section absent") and "\n" not in line for line in lines)
    assert B1_COMMAND in lines[0] and LATENT_COMMAND in lines[1]
    # no broken image: every <img> is an embedded PNG of a figure that was drawn
    imgs = re.findall(r'<img[^>]*\bsrc="([^"]+)"', html)
    assert len(imgs) == len(man["figures"]) and all(s.startswith("data:image/png;base64,") for s in imgs)


def test_a_folder_without_the_tables_is_skipped_with_the_missing_file(tmp_path):
    b1 = _write_b1(tmp_path / "b1")
    (b1 / "b1_layers.csv").unlink()
    man = Manifest(tmp_path / "figs")
    learned_figures(man, b1, tmp_path / "nothing")
    assert not man.figures
    reasons = {s["id"]: s for s in man.skipped}
    assert "b1_layers.csv" in reasons["learned_b1_nmse"]["reason"]
    assert reasons["learned_b1_nmse"]["command"] == B1_COMMAND
    assert "latent_rho_star.csv" in reasons["learned_latent_transition"]["reason"]


def test_studies_config_defaults_and_refuses_unknown_keys():
    cfg = load_config(CONFIG_DIR / "tiny.yaml")
    cfg.pop("studies", None)
    full = validate_config(cfg, check_solvers=False)["studies"]
    assert full["b1"]["scale"] == "full" and full["b1_ci"]["scale"] == "ci" and full["b1"]["snrs"] == ["inf", 40, 30]
    cfg["studies"] = {"b1_ci": {"snrs": ["inf", 30], "step": 5}}
    with pytest.raises(ConfigError, match="step"):
        validate_config(cfg, check_solvers=False)
    cfg["studies"] = {"b1_ci": {"snrs": [-3]}}
    with pytest.raises(ConfigError):
        validate_config(cfg, check_solvers=False)


def _dry_run(cwd, *targets):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n", "-p",
                           *targets], cwd=cwd, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_snakemake_plans_the_study_targets(tmp_path):
    rc, out = _dry_run(tmp_path, "b1_ci", "latent_transition")
    assert rc == 0, out
    jobs = re.findall(r"^rule (\w+):", out, flags=re.M)
    assert sorted(jobs) == ["b1_ci", "b1_study", "latent_transition", "latent_transition_study"], jobs
    assert "-m greedybench.studies.lista_b1 --scale ci --snr inf --snr 30" in out
    assert "--out results/studies/b1_ci" in out
    assert "-m greedybench.studies.latent_transition --scale small" in out
    rc, out = _dry_run(tmp_path, "b1")
    assert rc == 0 and "--scale full --snr inf --snr 40 --snr 30 --alista-paper" in out, out


def test_the_floor_is_the_longest_fista_run_and_deep_curves_are_cut_with_a_note(tmp_path):
    """At CI scale the long FISTA run is fista-300; a noiseless OMP falling to -120 dB is cut off at
    20 dB below the learned curves and the floor, and the caption names it."""
    layers = pd.DataFrame(
        [{"method": "fista-8", "snr_db": "inf", "iteration": k, "matvecs": 2.0 * k, "nmse_db": -k} for k in range(1, 9)]
        + [{"method": "fista-300", "snr_db": "inf", "iteration": k, "matvecs": 2.0 * k, "nmse_db": -min(k, 30)}
           for k in range(1, 301)]
        + [{"method": "omp-k24", "snr_db": "inf", "iteration": k, "matvecs": 2.0 * k, "nmse_db": -5.0 * k}
           for k in range(1, 25)]
        + [{"method": "lista", "snr_db": "inf", "iteration": k, "matvecs": 2.0 * k, "nmse_db": -2.0 * k}
           for k in range(1, 9)])
    results = pd.DataFrame({"method": ["fista-8", "fista-300", "omp-k24", "lista"],
                            "trained": [False, False, False, True]})
    folder = tmp_path / "b1"
    folder.mkdir()
    layers.to_csv(folder / "b1_layers.csv", index=False)
    results.assign(snr_db="inf", status="ok").to_csv(folder / "b1_results.csv", index=False)
    pd.DataFrame(columns=["method", "snr_db", "step", "train_loss", "val_nmse_db"]).to_csv(
        folder / "b1_training.csv", index=False)
    floor = lasso_floor(b1_curves(layers, results))
    assert list(floor["method"]) == ["fista-300"] and floor["nmse_db"].iloc[0] == -30
    man = Manifest(tmp_path / "figs")
    learned_figures(man, folder, None)
    cap = next(f for f in man.figures if f["id"] == "learned_b1_nmse")["caption"]
    assert "fista-300 at its last iteration" in cap
    assert "omp-k24 (noiseless (SNR = inf)) down to -120 dB" in cap     # the axis stops at -50 - 2
    assert "learned_b1_training" in {s["id"] for s in man.skipped}      # no training rows: not drawn
