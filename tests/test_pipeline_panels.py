"""The report's Fig. 2 and Fig. 3 panels, stage by stage on tiny inputs (no Snakemake):

fig2_stage -> tables/fig2.csv (rows per (algorithm, n, tau), bounds never below the measured
difference, the difference errors and the bound statistics equal those of
greedybench.analysis.soft_vs_hard_study, which the paper script uses too), train_stage (options reach
the net, the loss history is kept), training_tables_stage -> loss / weights / errors CSVs, and
figures_stage -> the manifest lists the Fig. 2, bound-scatter and training figures, PNGs on disk.
"""

import json

import pandas as pd
import pytest
import torch

from greedybench.pipeline.soft_vs_hard import FIG2_COLUMNS, fig2_stage

GAUSS = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian", "normalize": True}
LATENT = {"ensemble": "partial_dft", "signal": "latent", "amplitude": "gaussian", "normalize": True,
          "shared_A": True, "K": 8}
PAIRS = [{"soft": "soft_omp", "hard": "omp"}, {"soft": "soft_iht", "hard": "iht"}]
# on the half-decade grid of greedybench.analysis.soft_vs_hard_study.TAUS, so that its functions can be compared
TAUS = [1e-6, 1e-4, 10 ** -2.5, 1e-2, 1.0]
FIG2 = {"enabled": True, "omp_iterations": [1, 3, 6], "iht_iterations": [1, 4, 8], "omp_trials": 6,
        "iht_trials": 5, "iht_step": 0.6}
PROBLEM = dict(family_name="gauss", family=GAUSS, m=16, N=32, s=4, sigma=1e-3, trials=4, seed=3)
THREADS = 1


def _fig2_table(path, bounds=True):
    n = fig2_stage(path, pairs=PAIRS, tau=TAUS, bounds=bounds, fig2=FIG2, device="cpu", dtype="float64",
                   threads=THREADS, **PROBLEM)
    return n, pd.read_csv(path)


@pytest.fixture(scope="module")
def fig2_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("fig2") / "fig2.csv"
    n, t = _fig2_table(path)
    assert n == len(t)
    return path, t


def test_fig2_rows_and_columns(fig2_csv):
    _, t = fig2_csv
    assert list(t.columns) == list(FIG2_COLUMNS)
    expected = {("OMP", n, tau) for n in FIG2["omp_iterations"] for tau in TAUS}
    expected |= {("IHT", n, tau) for n in FIG2["iht_iterations"] for tau in TAUS}
    got = {(a, int(n), float(tau)) for a, n, tau in zip(t["algorithm"], t["n"], t["tau"])}
    assert got == {(a, n, float(tau)) for a, n, tau in expected} and len(t) == len(expected)
    assert set(t.loc[t.algorithm == "OMP", "trials"]) == {6} and set(t.loc[t.algorithm == "IHT", "trials"]) == {5}
    assert (t["lo"] <= t["geomean"] * (1 + 1e-12)).all() and (t["geomean"] <= t["hi"] * (1 + 1e-12)).all()
    assert t["frac_finite"].between(0, 1).all()
    # identical iterates at the smallest tau (the 1e-12 floor), far apart at tau = 1
    small, big = t[t.tau == TAUS[0]], t[t.tau == 1.0]
    assert (small["geomean"] < 1e-9).all() and (big["geomean"] > 1e-2).all()


def test_fig2_bounds_hold(fig2_csv):
    _, t = fig2_csv
    assert int(t["violations"].sum()) == 0
    fin = t[t["frac_finite"] > 0]
    assert len(fin) > 0 and fin["bound_geomean"].notna().all()
    # the geometric mean of the bounds is above that of the measured errors on the same trials
    assert (fin["bound_geomean"] >= fin["measured_finite_geomean"] * (1 - 1e-9)).all()
    assert (fin["tightness"] >= 1 - 1e-9).all()
    assert t.loc[t["frac_finite"] == 0, "bound_geomean"].isna().all()


def test_fig2_equals_the_fig2_experiment_functions(fig2_csv):
    """The measured difference errors are those of soft_vs_hard_study.difference_errors (same
    instances, same kernels), summarised by its summarise()."""
    from greedybench.analysis import soft_vs_hard_study as F2
    from greedybench.datasets import make_instance
    from greedybench.functional.soft import _iht_kernel, _omp_kernel
    from greedybench.pipeline.generate import _family_kwargs

    _, t = fig2_csv
    idx = [min(range(len(F2.TAUS)), key=lambda i: abs(F2.TAUS[i] - tau) / tau) for tau in TAUS]
    assert all(abs(F2.TAUS[i] / tau - 1) < 1e-9 for i, tau in zip(idx, TAUS))
    for algo, kernel, iters, B, kw in (
            ("OMP", _omp_kernel, FIG2["omp_iterations"], FIG2["omp_trials"], {}),
            ("IHT", _iht_kernel, FIG2["iht_iterations"], FIG2["iht_trials"], {"s": 4, "step": 0.6})):
        inst = make_instance(m=16, N=32, s=4, batch=B, seed=3, sigma=1e-3, dtype=torch.float64,
                             **_family_kwargs(GAUSS))
        err = F2.difference_errors(kernel, inst.A, inst.Y, max(iters), n_iter=max(iters), **kw)
        ref = F2.summarise(err[:, idx], iters)
        for n in iters:
            got = t[(t.algorithm == algo) & (t.n == n)].sort_values("tau")
            torch.testing.assert_close(torch.tensor(got["geomean"].to_numpy()), ref[n][0].double(),
                                       rtol=1e-6, atol=0.0)


def test_fig2_bound_statistics_equal_the_library(fig2_csv):
    """Every column of tables/fig2.csv (geometric means, bound band, violations, tightness) is
    soft_vs_hard_study.bound_summary of the Theorem 1/2 bounds on the same instances, so the
    pipeline and the paper script compute Fig. 2 with one piece of code."""
    from greedybench.analysis.soft_vs_hard_study import bound_summary
    from greedybench.datasets import make_instance
    from greedybench.functional import bounds as BD
    from greedybench.pipeline.generate import _family_kwargs

    _, t = fig2_csv
    for algo, iters, B in (("OMP", FIG2["omp_iterations"], FIG2["omp_trials"]),
                           ("IHT", FIG2["iht_iterations"], FIG2["iht_trials"])):
        inst = make_instance(m=16, N=32, s=4, batch=B, seed=3, sigma=1e-3, dtype=torch.float64,
                             **_family_kwargs(GAUSS))
        res = (BD.omp_bound(inst.A, inst.Y, max(iters), TAUS) if algo == "OMP" else
               BD.iht_bound(inst.A, inst.Y, 4, TAUS, step=FIG2["iht_step"], n_iter=max(iters)))
        xn = res.x_norm[:, None, :]
        den = torch.where(xn > 0, xn, torch.ones_like(xn))
        stats = bound_summary(res.measured / den, res.bound / den, iters)
        for n in iters:
            got = t[(t.algorithm == algo) & (t.n == n)].sort_values("tau")
            for col, ref in stats[n].items():
                torch.testing.assert_close(torch.tensor(got[col].to_numpy(dtype=float)), ref.double().cpu(),
                                           rtol=1e-12, atol=0.0, equal_nan=True, msg=f"{algo} n={n} {col}")


def test_fig2_without_bounds_and_unbounded_pairs(tmp_path):
    n, t = _fig2_table(tmp_path / "nb.csv", bounds=False)
    assert n > 0 and t["bound_geomean"].isna().all() and t["violations"].isna().all()
    n = fig2_stage(tmp_path / "none.csv", pairs=[{"soft": "soft_omp", "hard": "omp"}], tau=[1e-3], bounds=True,
                   fig2=dict(FIG2, omp_iterations=[]), device="cpu", dtype="float64", threads=1, **PROBLEM)
    assert n == 0 and pd.read_csv(tmp_path / "none.csv").empty


def test_check_fig2_refuses_too_many_omp_iterations():
    from greedybench.pipeline.config import ConfigError
    from greedybench.pipeline.soft_vs_hard import check_fig2

    sv = dict(PROBLEM, enabled=True, pairs=PAIRS, tau=TAUS, bounds=True, fig2=dict(FIG2, omp_iterations=[17]))
    with pytest.raises(ConfigError, match="omp_iterations"):
        check_fig2(sv)
    check_fig2(dict(sv, fig2=FIG2))


def _available(name):
    from greedybench.registry import discover

    e = discover(refresh=True).get(name)
    return e is not None and e.available


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Training split, a 2-epoch OMP-Net, its test-split runs with OMP, and its three tables."""
    if not (_available("omp_net") and _available("omp")):
        pytest.skip("omp_net / omp entries not available")
    from greedybench.pipeline.generate import generate_training_data
    from greedybench.pipeline.solve import solve_stage
    from greedybench.pipeline.tables import merge_stage
    from greedybench.pipeline.train import training_tables_stage, train_stage
    from greedybench.registry import get_solver

    d = tmp_path_factory.mktemp("train")
    generate_training_data(d / "trainval", d / "test", set_name="t", family_name="latent", family=LATENT,
                           m=12, N=32, s=4, sigma=1e-3, n_train=32, n_val=16, n_test=16, seed=7, dtype="float64")
    versions = {n: get_solver(n).version for n in ("omp_net", "omp")}
    train_stage(d / "model.pt", trainval_dir=d / "trainval", entry="omp_net", params_json="{}",
                version=versions["omp_net"], family_name="latent", family=LATENT, seed=7,
                options={"epochs": 2, "batch_size": 16}, device="cpu", dtype="float64", threads=THREADS)
    success = {"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6}
    runs = []
    for name in ("omp_net", "omp"):
        runs.append(d / f"{name}.csv")
        solve_stage(runs[-1], instance_dir=d / "test", experiment="train", entry=name, params_json="{}",
                    version=versions[name], family_name="latent", family=LATENT, success=success, device="cpu",
                    dtype="float64", threads=THREADS, state_path=str(d / "model.pt") if name == "omp_net" else None)
    merge_stage(d / "results.csv", [str(r) for r in runs], kind="results")
    tables = {k: d / f"{k}.csv" for k in ("loss", "weights", "errors")}
    counts = training_tables_stage(tables["loss"], tables["weights"], tables["errors"], model=d / "model.pt",
                                   data=d / "trainval", runs=[str(r) for r in runs], net="omp_net",
                                   training_set="t")
    return d, tables, counts


def test_train_stage_passes_options_and_keeps_history(trained):
    d, tables, counts = trained
    state = torch.load(d / "model.pt", weights_only=True)
    assert state["history"]["epoch"].tolist() == [1, 2]  # epochs: 2 reached the net's TrainConfig
    loss = pd.read_csv(tables["loss"])
    assert list(loss.columns) == ["epoch", "train_loss", "val_loss", "lr"] and len(loss) == 2 == counts["loss"]


def test_training_tables(trained):
    d, tables, counts = trained
    w = pd.read_csv(tables["weights"])
    assert list(w.columns) == ["index", "weight", "in_hidden_set"] and len(w) == 32
    assert int(w["in_hidden_set"].sum()) == 8  # K = 8 hidden atoms
    err = pd.read_csv(tables["errors"])
    assert list(err.columns) == ["method", "role", "problem", "rel_err"]
    assert err.groupby("method").size().to_dict() == {"omp": 16, "omp_net": 16}
    assert set(err.loc[err.role == "net", "method"]) == {"omp_net"}


def test_figures_manifest_lists_fig2_and_training(trained, fig2_csv, tmp_path):
    from greedybench.pipeline.publish import figures_stage

    d, tables, _ = trained
    fig2_path, _ = fig2_csv
    training = {"omp_net on t": {"loss_csv": str(tables["loss"]), "weights_csv": str(tables["weights"]),
                                 "errors_csv": str(tables["errors"]), "description": "tiny"}}
    out = tmp_path / "figures"
    man = figures_stage(out, results_csv=d / "results.csv", config={"analysis": {"n_boot": 20}},
                        extras={"fig2": str(fig2_path)}, training=training)
    figs = {f["id"]: f for f in man["figures"]}
    assert {"fig2", "fig2_bounds", "training_omp-net-on-t"} <= set(figs), man["skipped"]
    for fid in ("fig2", "fig2_bounds", "training_omp-net-on-t"):
        assert (out / figs[fid]["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Tightness ratio" in figs["fig2_bounds"]["caption"] and "violations" in figs["fig2_bounds"]["caption"]
    assert "(c) per-sample relative l2 errors" in figs["training_omp-net-on-t"]["caption"]
    assert json.loads((out / "manifest.json").read_text())["figures"]
    assert not list(tmp_path.glob(".figures.tmp*"))
