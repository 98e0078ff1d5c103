"""Tests of greedybench.analysis: the l1 curve, metrics, the transition fit and the figures."""

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import optimize
from scipy.special import erfinv

from greedybench.analysis import (
    bootstrap_rho_star,
    fit_logistic,
    logistic_prob,
    make_figures,
    recovery_metrics,
    rho_weak,
    success_rates,
    transition_curve,
)
from greedybench.analysis.phase import _bounds, _newton_batch
from greedybench.analysis.synthetic import synthetic_results

# limits.md 1.3: delta, rho_W signed, z*, rho_W nonnegative
L1_TABLE = [
    (0.01, 0.10688, 2.614, 0.12337), (0.02, 0.12340, 2.374, 0.14545),
    (0.05, 0.15436, 2.028, 0.18885), (0.10, 0.18943, 1.736, 0.24098),
    (0.20, 0.24330, 1.408, 0.32586), (0.25, 0.26738, 1.292, 0.36509),
    (0.30, 0.29078, 1.192, 0.40360), (0.40, 0.33733, 1.023, 0.48028),
    (0.50, 0.38569, 0.877, 0.55823), (0.60, 0.43839, 0.743, 0.63869),
    (0.70, 0.49884, 0.614, 0.72251), (0.75, 0.53371, 0.549, 0.76588),
    (0.80, 0.57331, 0.481, 0.81032), (0.90, 0.67817, 0.327, 0.90266),
    (0.95, 0.76010, 0.227, 0.95067), (0.99, 0.88371, 0.100, 0.99003),
]


# ------------------------------------------------------------------------------------ l1 curve


@pytest.mark.parametrize("delta,signed,z_star,nonneg", L1_TABLE)
def test_rho_weak_matches_table(delta, signed, z_star, nonneg):
    rho, z = rho_weak(delta, return_threshold=True)
    assert abs(rho - signed) < 1e-4
    assert abs(z - z_star) < 1e-3
    assert abs(rho_weak(delta, signal="nonnegative") - nonneg) < 1e-4


def test_rho_weak_vectorised_and_monotone():
    d = np.array([[0.1, 0.5], [0.9, 1.0]])
    r = rho_weak(d)
    assert r.shape == d.shape
    np.testing.assert_allclose(r, [[rho_weak(0.1), rho_weak(0.5)], [rho_weak(0.9), 1.0]], atol=1e-12)
    grid = np.linspace(0.01, 0.99, 99)
    assert np.all(np.diff(rho_weak(grid)) > 0)
    assert np.all(rho_weak(grid, signal="nonnegative") > rho_weak(grid))
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            rho_weak(bad)


def _stojnic(delta):
    """Stojnic (arXiv:0907.3666) closed form for the signed weak threshold, solved by brentq."""
    a = delta

    def f(b):
        e = erfinv((1 - a) / (1 - b))
        return (1 - b) * math.sqrt(2 / math.pi) * math.exp(-e * e) / a - math.sqrt(2) * e

    b = optimize.brentq(f, 1e-12, a * (1 - 1e-12), xtol=1e-15, rtol=1e-14)
    return b / a


def test_rho_weak_agrees_with_stojnic():
    deltas = np.array([row[0] for row in L1_TABLE] + [0.15, 0.33, 0.66, 0.85])
    ours = rho_weak(deltas)
    theirs = np.array([_stojnic(d) for d in deltas])
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


# ------------------------------------------------------------------------------------- metrics


def test_recovery_metrics_basic():
    torch.manual_seed(0)
    B, m, N = 4, 10, 20
    A = torch.randn(m, N, dtype=torch.float64)
    x = torch.zeros(B, N, dtype=torch.float64)
    x[:, :3] = torch.tensor([1.0, -2.0, 0.5])
    x[3] = 0.0  # zero signal: the error is ||x_hat||
    y = x @ A.T
    x_hat = x.clone()
    x_hat[1, 0] += 0.1                      # small error, same support
    x_hat[2] = 0.0
    x_hat[2, [0, 1, 5]] = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)  # one wrong atom
    x_hat[3, 7] = 1e-3
    out = recovery_metrics(x_hat, x, A, y, threshold=1e-3)
    assert set(out) >= {"rel_err", "linf_err", "residual", "support_precision", "support_recall",
                        "exact_support", "success"}
    assert all(v.shape == (B,) for v in out.values())
    nx = math.sqrt(1 + 4 + 0.25)
    np.testing.assert_allclose(out["rel_err"], [0, 0.1 / nx, math.sqrt(0.5) / nx, 1e-3], atol=1e-12)
    np.testing.assert_allclose(out["linf_err"][:2], [0, 0.05], atol=1e-12)
    assert out["residual"][0] < 1e-12 and out["residual"][1] > 0
    np.testing.assert_array_equal(out["success"], [True, False, False, True])
    # x = 0: the top-0 support is empty, as is the true one; the "nonzero" support is not
    np.testing.assert_array_equal(out["exact_support"], [True, True, False, True])
    np.testing.assert_array_equal(out["exact_support_nz"], [True, True, False, False])
    np.testing.assert_allclose(out["support_precision"][:3], [1, 1, 2 / 3])
    np.testing.assert_allclose(out["support_recall"][:3], [1, 1, 2 / 3])


def test_recovery_metrics_batched_A_and_complex():
    torch.manual_seed(1)
    B, m, N = 3, 8, 16
    A = torch.randn(B, m, N, dtype=torch.complex128)
    x = torch.zeros(B, N, dtype=torch.complex128)
    x[:, 2] = 1 + 1j
    y = (A @ x.unsqueeze(-1)).squeeze(-1)
    out = recovery_metrics(x, x, A, y, s=1)
    np.testing.assert_allclose(out["rel_err"], 0, atol=1e-12)
    np.testing.assert_allclose(out["residual"], 0, atol=1e-12)
    assert out["exact_support"].all() and out["success"].all()
    with pytest.raises(ValueError):
        recovery_metrics(x[:, :5], x, A, y)


# ---------------------------------------------------------------------------------- phase fits


def _synthetic_column(seed, rho_star=0.3, width=0.08, trials=40):
    rho = np.round(np.linspace(0.1, 0.5, 17), 6)
    b0 = 2 * math.log(9) * rho_star / width
    rng = np.random.default_rng(seed)
    k = rng.binomial(trials, logistic_prob(rho, b0, 1 / rho_star))
    return rho, k, np.full(rho.size, trials)


def test_logistic_fit_recovers_known_transition():
    rho, k, n = _synthetic_column(seed=123)
    fit = fit_logistic(rho, k, n)
    assert fit.flag == "ok"
    assert abs(fit.rho_star - 0.3) < 0.02
    assert abs(fit.width - 0.08) < 0.04
    lo, hi, samples = bootstrap_rho_star(rho, k, n, n_boot=200, seed=0, fit=fit)
    assert lo <= 0.3 <= hi
    assert lo < fit.rho_star < hi and hi - lo < 0.05
    # deterministic given the seed
    lo2, hi2, _ = bootstrap_rho_star(rho, k, n, n_boot=200, seed=0, fit=fit)
    assert (lo, hi) == (lo2, hi2)


def test_bootstrap_coverage():
    covered = 0
    for seed in range(20):
        rho, k, n = _synthetic_column(seed=1000 + seed, trials=20)
        lo, hi, _ = bootstrap_rho_star(rho, k, n, n_boot=200, seed=seed)
        covered += lo <= 0.3 <= hi
    assert covered >= 16  # nominal 95 %: 19 expected, P(<= 15 of 20) is below 1 %


def test_newton_refit_matches_scipy_fit():
    rho, k, n = _synthetic_column(seed=7)
    fit = fit_logistic(rho, k, n)
    theta = _newton_batch(rho, k[None].astype(float), n.astype(float), (3.0, -10.0), _bounds(rho))
    assert abs(-theta[0, 0] / theta[0, 1] - fit.rho_star) < 1e-6
    assert abs(theta[0, 0] - fit.b0) < 1e-3 * fit.b0


def test_logistic_fit_degenerate_columns():
    rho = np.array([0.1, 0.2, 0.3, 0.4])
    n = np.full(4, 10)
    f = fit_logistic(rho, n, n)
    assert f.flag == "all_success" and math.isnan(f.rho_star) and f.rho_star_bound == 0.4
    f = fit_logistic(rho, 0 * n, n)
    assert f.flag == "all_failure" and math.isnan(f.rho_star) and f.rho_star_bound == 0.1
    f = fit_logistic(rho, np.array([10, 10, 0, 0]), n)
    assert f.flag == "separated" and f.rho_star == pytest.approx(0.25)
    f = fit_logistic([0.2, 0.2], [3, 4], [10, 10])
    assert f.flag == "too_few_points"
    lo, hi, _ = bootstrap_rho_star(rho, n, n)
    assert math.isnan(lo) and math.isnan(hi)


def test_success_rates_and_transition_curve():
    df = synthetic_results(trials=12, n_rho=10, seed=3)
    rates = success_rates(df, criterion="success")
    assert (rates["n_trials"] == 12).all()
    assert rates["rate"].between(0, 1).all()
    cur = transition_curve(rates[rates["solver"] == "omp"], n_boot=50)
    assert list(cur["delta"]) == [0.2, 0.4, 0.6, 0.8]
    truth = 0.8 * rho_weak(cur["delta"].to_numpy())
    fin = np.isfinite(cur["rho_star"])
    assert np.all(np.abs(cur["rho_star"][fin] - truth[fin]) < 0.1)
    assert np.all(cur["rho_90"][fin] < cur["rho_star"][fin])
    assert np.all(cur["rho_star"][fin] < cur["rho_10"][fin])


# ------------------------------------------------------------------------------------ figures


def _extras(tmp_path):
    t = pd.DataFrame([dict(solver=s, device=d, dtype="float32", N=N, m=N // 2, batch=b,
                           time_per_problem_s=1e-6 * N / b ** 0.5, repeats=5, threads=2)
                      for s in ("omp", "iht") for d in ("cpu", "cuda")
                      for N in (256, 1024) for b in (1, 64)])
    t.to_csv(tmp_path / "timing.csv", index=False)
    taus = np.logspace(-6, 0, 5)
    sv = pd.DataFrame([dict(algorithm=a, n=n, tau=tau, geomean=min(1.0, tau * n), lo=tau * n / 3,
                            hi=min(3.0, 3 * tau * n), bound_geomean=10 * tau * n)
                       for a in ("OMP", "IHT") for n in (1, 15) for tau in taus])
    sv.to_csv(tmp_path / "svh.csv", index=False)
    ep = np.arange(1, 21)
    pd.DataFrame(dict(epoch=ep, train_loss=1 / ep, val_loss=1.1 / ep)).to_csv(tmp_path / "loss.csv", index=False)
    pd.DataFrame(dict(index=np.arange(32), weight=np.r_[np.ones(4) * 1.5, np.full(28, 0.2)],
                      in_hidden_set=np.r_[np.ones(4, bool), np.zeros(28, bool)])).to_csv(
        tmp_path / "w.csv", index=False)
    rng = np.random.default_rng(0)
    pd.DataFrame(dict(method=np.repeat(["OMP", "IHT", "OMP-Net"], 20),
                      rel_err=rng.uniform(1e-4, 1, 60))).to_csv(tmp_path / "err.csv", index=False)
    return {"timing_csv": tmp_path / "timing.csv", "soft_vs_hard_csv": tmp_path / "svh.csv",
            "training": {"omp_net": {"loss_csv": tmp_path / "loss.csv",
                                     "weights_csv": tmp_path / "w.csv",
                                     "errors_csv": tmp_path / "err.csv"},
                         "iht_net": {"loss_csv": tmp_path / "missing.csv"}}}


def test_make_figures_writes_manifest_and_pngs(tmp_path):
    df = synthetic_results(trials=8, seed=1)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "figures"
    man = make_figures(csv, out, {"analysis": {"threshold": 1e-3, "n_boot": 40}},
                       extras=_extras(tmp_path))
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(man, default=str))
    kinds = {f["kind"] for f in man["figures"]}
    assert kinds >= {"phase_success", "transitions_success", "phase_exact_support",
                     "transitions_exact_support", "selection_map", "runtime", "soft_vs_hard",
                     "training"}
    for f in man["figures"]:
        data = (out / f["file"]).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert f["caption"] and f["title"]
        for src in f["sources"]:
            assert hashlib.sha256((out / src["path"]).read_bytes()).hexdigest() == src["sha256"]
        assert f["source_sha256"] == f["sources"][0]["sha256"]
    phase_cap = next(f["caption"] for f in man["figures"] if f["kind"] == "phase_success")
    for word in ("omp", "iht", "N = 200", "0.001", "8 trials per cell", "cpu"):
        assert word in phase_cap
    skipped = {s["id"]: s["reason"] for s in man["skipped"]}
    assert "training_iht-net" in skipped and "phase_success_linf" in skipped
    summary = pd.read_csv(out / man["summary_csv"])
    assert set(summary["solver"]) == {"omp", "iht"}
    assert {"auc_rho_star", "median_time_success_s", "success_rate", "rho_star@0.4"} <= set(summary.columns)
    # omp's true transition (0.8 rho_W) is above iht's (0.6 rho_W)
    auc = summary.set_index("solver")["auc_rho_star"]
    assert auc["omp"] > auc["iht"]
    assert not list(out.glob(".*.tmp"))


def test_make_figures_without_extras(tmp_path):
    df = synthetic_results(solvers=(("omp", 0.8, 1e-3),), deltas=(0.3, 0.6), trials=5)
    df = df.drop(columns=["exact_support", "time_per_problem_s"])
    man = make_figures(df, tmp_path, {"analysis": {"n_boot": 10}})
    assert {f["kind"] for f in man["figures"]} == {"phase_success", "transitions_success"}
    skipped = {s["kind"] for s in man["skipped"]}
    assert {"runtime", "soft_vs_hard", "training", "selection_map", "phase_exact_support"} <= skipped
    for f in man["figures"]:
        assert (tmp_path / f["file"]).is_file()


def test_make_figures_accepts_pipeline_extras(tmp_path):
    """The pipeline's timing table (batch_size, sweep) and per-problem soft-vs-hard rows."""
    rng = np.random.default_rng(0)
    timing = pd.DataFrame(
        [dict(solver="omp", device="cpu", dtype="float64", sweep="N", N=N, m=N // 2, batch_size=16,
              time_per_problem_s=1e-6 * N, repeats=5, threads=1) for N in (128, 256, 512)]
        + [dict(solver="omp", device="cpu", dtype="float64", sweep="batch", N=256, m=128,
                batch_size=b, time_per_problem_s=1e-4 / b, repeats=5, threads=1) for b in (1, 8, 64)])
    timing.to_csv(tmp_path / "timing.csv", index=False)
    rows = pd.DataFrame([dict(pair="soft_omp/omp", hard_solver="omp", tau=tau, problem=p,
                              diff=tau * rng.uniform(0.5, 2), bound=float("inf") if tau > 0.1 else 10 * tau)
                         for tau in (1e-4, 1e-2, 1.0) for p in range(5)])
    rows.to_csv(tmp_path / "svh.csv", index=False)
    df = synthetic_results(solvers=(("omp", 0.8, 1e-3),), deltas=(0.3, 0.6), trials=5)
    man = make_figures(df, tmp_path / "f", {"success": {"threshold": 1e-3}, "analysis": {"n_boot": 10}},
                       extras={"timing": tmp_path / "timing.csv", "soft_vs_hard": tmp_path / "svh.csv"})
    figs = {f["id"]: f for f in man["figures"]}
    assert {"runtime_vs_N", "runtime_vs_batch", "soft_vs_hard"} <= set(figs)
    assert figs["runtime_vs_N"]["source_rows"] == 3 and figs["runtime_vs_batch"]["source_rows"] == 3
    agg = pd.read_csv(tmp_path / "f" / figs["soft_vs_hard"]["source_csv"])
    assert len(agg) == 3 and (agg["trials"] == 5).all()
    assert "rel_err <= 0.001" in figs[next(k for k in figs if k.startswith("phase_success"))]["caption"]


def _degenerate_results():
    """omp: every delta fitted except one all-success and one all-failure column; iht lacks a delta."""
    df = synthetic_results(deltas=(0.2, 0.4, 0.6, 0.8), trials=6, seed=4)
    omp = df["solver"] == "omp"
    df.loc[omp & np.isclose(df["delta"], 0.2), "success"] = True
    df.loc[omp & np.isclose(df["delta"], 0.8), "success"] = False
    return df[~((df["solver"] == "iht") & np.isclose(df["delta"], 0.6))].reset_index(drop=True)


def test_report_summary_and_leaderboard_score_agree(tmp_path):
    """One scoring rule: the summary's area under rho*(delta) is the leaderboard's family_score on
    the same counts, degenerate and missing columns included (all-success counts as the largest rho
    tried, all-failure and a missing delta as 0)."""
    from greedybench.analysis.score import area_under_transition
    from greedybench.leaderboard import family_score

    df = _degenerate_results()
    make_figures(df, tmp_path, {"analysis": {"n_boot": 0}})
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("solver")
    deltas = sorted(df["delta"].unique())
    for solver, g in df.groupby("solver"):
        cells = [{"delta": d, "s": s, "m": m, "n_success": int(c["success"].sum()), "n_trials": len(c)}
                 for (d, s, m), c in g.groupby(["delta", "s", "m"])]
        board, pts = family_score(cells, deltas)
        assert summary.loc[solver, "auc_rho_star"] == pytest.approx(board, rel=1e-9, abs=1e-12)
        flags = {round(d, 6): f for d, _, f in pts}
        if solver == "omp":
            assert flags[0.2] == "all_success" and flags[0.8] == "all_failure"
            assert summary.loc[solver, "n_deltas_degenerate"] == 2
        else:
            assert flags[0.6] == "missing"
        # and the rule itself, from the columns directly
        cols = [(d, [c["s"] / c["m"] for c in cells if c["delta"] == d],
                 [c["n_success"] for c in cells if c["delta"] == d],
                 [c["n_trials"] for c in cells if c["delta"] == d]) for d in deltas]
        assert area_under_transition(cols)[0] == pytest.approx(board, rel=1e-12)
    # the l1 reference area is over the same deltas for every solver of the class
    assert summary["auc_delta_range"].nunique() == 1


# ------------------------------------------------------------------- what a reader sees (issue 17)


def _single_cell_and_oracle_results():
    """gauss_B with an oracle entry that is the fastest and most reliable, plus a one-cell class."""
    df = synthetic_results(solvers=(("omp", 0.8, 2e-3), ("iht", 0.6, 5e-4), ("omp_oracle", 0.95, 1e-5)),
                           deltas=(0.3, 0.6), n_rho=5, trials=6, seed=5)
    one = synthetic_results(solvers=(("omp", 0.8, 2e-3), ("iht", 0.6, 5e-4)), families=("latent_dft",),
                            deltas=(0.3,), n_rho=1, trials=6, seed=6)
    return pd.concat([df, one], ignore_index=True)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """make_figures on awkward data, keeping every matplotlib Figure it saved."""
    import greedybench.analysis.fig_common as FC

    out = tmp_path_factory.mktemp("drawn")
    figs = {}
    orig = FC._save

    def keep(fig, path):
        figs[path.stem] = fig
        orig(fig, path)

    FC._save = keep
    try:
        man = make_figures(_single_cell_and_oracle_results(), out, {"analysis": {"n_boot": 10}},
                           extras=_extras(out))
    finally:
        FC._save = orig
    return out, man, figs


def test_figures_without_a_fit_are_not_drawn_and_say_why(drawn):
    out, man, _ = drawn
    ids = {f["id"] for f in man["figures"]}
    skipped = {s["id"]: s["reason"] for s in man["skipped"]}
    # the one-cell class: its phase diagram is drawn (it shows the cell), its overlay of fitted
    # curves is not (nothing was fitted), and the manifest says why
    assert "phase_success_latent-dft" in ids and "transitions_success_latent-dft" not in ids
    assert "no 50 % point could be fitted" in skipped["transitions_success_latent-dft"]
    assert "1 (delta, rho) cell" in skipped["transitions_success_latent-dft"]
    cap = next(f["caption"] for f in man["figures"] if f["id"] == "phase_success_latent-dft")
    assert "No 50 % point could be fitted" in cap
    # every figure drawn has at least one fitted point or a non-empty source
    for f in man["figures"]:
        if f["kind"].startswith("transitions_"):
            t = pd.read_csv(out / f["source_csv"])
            assert np.isfinite(t["rho_star"]).any(), f["id"]


def test_selection_map_never_picks_an_oracle(drawn):
    out, man, _ = drawn
    sel = [f for f in man["figures"] if f["kind"] == "selection_map"]
    assert sel
    for f in sel:
        winners = set(pd.read_csv(out / f["source_csv"])["winner"])
        assert not any(w.endswith("_oracle") for w in winners), (f["id"], winners)
    gauss = next(f for f in sel if "gauss" in f["id"])
    assert "omp_oracle" in gauss["caption"] and "references, not candidates" in gauss["caption"]
    # the oracle is by far the fastest and most reliable: without the exclusion it would win cells
    df = synthetic_results(solvers=(("omp", 0.8, 2e-3), ("omp_oracle", 0.95, 1e-5)), deltas=(0.3,),
                           n_rho=3, trials=4, seed=5)
    from greedybench.analysis.summary import selection_table

    sel, excluded = selection_table(df.assign(delta=df["delta"].round(6), rho=df["rho"].round(6)), 0.5)
    assert excluded == ["omp_oracle"] and set(sel["winner"]) <= {"omp", "(none)"}


def test_is_reference():
    from greedybench.analysis.summary import is_reference

    assert is_reference("omp_oracle") and is_reference("iht_oracle[n_iter=300,step=0.65]")
    assert is_reference("x", entry="omp_oracle") and is_reference("omp", flag=True)
    assert not is_reference("omp") and not is_reference("oracle_free_omp") and not is_reference("omp", flag="False")


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(110)  # as saved
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_titles_fit_and_legends_are_readable(drawn):
    _, man, figs = drawn
    assert set(figs) == {f["id"] for f in man["figures"]}
    for fid, fig in figs.items():
        r = _renderer(fig)
        W, H = fig.bbox.width, fig.bbox.height
        texts = list(fig.texts) + [ax.title for ax in fig.axes if ax.get_visible()]
        if fig._suptitle is not None:
            texts.append(fig._suptitle)
        for t in texts:
            if not t.get_text():
                continue
            bb = t.get_window_extent(r)
            assert bb.x0 >= -1 and bb.x1 <= W + 1 and bb.y1 <= H + 1, (fid, t.get_text()[:40], bb, W)
        for leg in list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
            assert min(t.get_fontsize() for t in leg.get_texts()) >= 9, fid


def test_phase_legend_covers_no_cell_and_its_fit_handle_is_visible(drawn):
    _, _, figs = drawn
    fig = figs["phase_success_latent-dft"]  # one cell per panel
    r = _renderer(fig)
    assert fig.legends, "the phase diagram's legend sits outside the panels"
    lb = fig.legends[0].get_window_extent(r)
    for ax in fig.axes:
        if ax.get_visible() and ax.get_label() != "<colorbar>":
            assert not lb.overlaps(ax.get_window_extent(r))
    handle = next(h for h, t in zip(fig.legends[0].legend_handles, fig.legends[0].get_texts())
                  if t.get_text().startswith("fitted 50 %"))
    # a white line on the legend's white background needs its dark outline
    assert handle.get_path_effects(), "the white fit line keeps a dark outline in the legend"


def test_training_caption_explains_a_diverged_baseline(tmp_path):
    ex = _extras(tmp_path)
    err = pd.read_csv(ex["training"]["omp_net"]["errors_csv"])
    err.loc[err["method"] == "IHT", "rel_err"] = 700.0  # IHT with a too long fixed step
    err.to_csv(tmp_path / "err.csv", index=False)
    df = synthetic_results(solvers=(("omp", 0.8, 1e-3),), deltas=(0.3, 0.6), trials=5)
    man = make_figures(df, tmp_path / "f", {"analysis": {"n_boot": 0}},
                       extras={"training": {"omp_net": ex["training"]["omp_net"]}})
    cap = next(f["caption"] for f in man["figures"] if f["kind"] == "training")
    assert "Off the axis: IHT 4.9e+05" in cap and "2 / ||A||_2^2" in cap and "diverge" in cap


def test_png_and_svg_bytes_are_reproducible(tmp_path):
    """Same inputs, same bytes: PNG and SVG metadata (dates, software) are stripped, SVG ids salted."""
    df = synthetic_results(solvers=(("omp", 0.8, 1e-3),), deltas=(0.3, 0.6), trials=4, seed=1)
    a = make_figures(df, tmp_path / "a", {"analysis": {"n_boot": 0}})
    make_figures(df, tmp_path / "b", {"analysis": {"n_boot": 0}})
    for f in a["figures"]:
        for name in (f["file"], f["svg"]):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / f["svg"]).read_bytes().lstrip().startswith(b"<?xml")


def test_hover_regions_lie_on_their_cells(drawn):
    """The report's hover texts: each region's centre in the saved PNG has the colour of the cell the
    text describes (viridis of k/n), so a reader hovering a cell reads that cell's counts."""
    import re

    from matplotlib import colormaps
    from matplotlib.image import imread

    out, man, _ = drawn
    fig = next(f for f in man["figures"] if f["id"] == "phase_success_gauss-b")
    img = imread(out / fig["file"])[:, :, :3]
    H, W = img.shape[:2]
    regions = fig["hover"]
    n_cells = len(pd.read_csv(out / fig["source_csv"]))
    assert len(regions) == n_cells > 0
    match = 0
    for x0, y0, x1, y1, text in regions:
        k, n = map(int, re.search(r"(\d+) of (\d+) succeeded", text).groups())
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        px = img[int((y0 + y1) / 2 * H), int((x0 + x1) / 2 * W)]
        match += bool(np.abs(px - np.asarray(colormaps["viridis"](k / n)[:3])).max() < 0.06)
    # the fitted curve, its band and the l1 line cross a few cell centres
    assert match >= 0.8 * len(regions), (match, len(regions))
    sel = next(f for f in man["figures"] if f["kind"] == "selection_map")
    assert sel["hover"] and all("delta" in r[4] for r in sel["hover"])


def test_analysis_and_experiments_respect_the_layers():
    """analysis/ imports nothing above it (pipeline, leaderboard, train, cli, experiments, report);
    experiments/ (the paper entry points) never import the pipeline; no module over ~500 lines."""
    import ast
    from pathlib import Path

    import greedybench

    root = Path(greedybench.__file__).resolve().parent
    above = {"analysis": ("pipeline", "leaderboard", "train", "cli", "experiments", "report"),
             "experiments": ("pipeline", "leaderboard", "cli")}
    for pkg, banned in above.items():
        for path in sorted((root / pkg).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            assert len(text.splitlines()) <= 500, path.name
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ImportFrom):
                    base = ("greedybench." + pkg + "." if node.level == 1 else "greedybench." if node.level == 2
                            else "") + (node.module or "")
                    base = base.rstrip(".")
                    names = [base] + [f"{base}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    parts = name.split(".")
                    assert not (parts[0] == "greedybench" and len(parts) > 1 and parts[1] in banned), \
                        (path.name, name)


def test_hover_points_of_the_transition_overlay(drawn):
    """Each fitted point of the overlay has a hover box centred on its marker (the solver's colour)."""
    import re

    from matplotlib.image import imread

    from greedybench.analysis.fig_common import solver_colors

    out, man, _ = drawn
    fig = next(f for f in man["figures"] if f["id"] == "transitions_success_gauss-b")
    t = pd.read_csv(out / fig["source_csv"])
    assert len(fig["hover"]) == int(np.isfinite(t["rho_star"]).sum()) > 0
    colors = solver_colors(_single_cell_and_oracle_results()["solver"].unique())
    img = imread(out / fig["file"])[:, :, :3]
    H, W = img.shape[:2]
    match = 0
    for x0, y0, x1, y1, text in fig["hover"]:
        solver = text.split(":", 1)[0]
        assert re.search(r"rho\* = [0-9.e-]+ \[[0-9.e-]+, [0-9.e-]+\] at delta", text), text
        px = img[int((y0 + y1) / 2 * H), int((x0 + x1) / 2 * W)]
        match += bool(np.abs(px - np.asarray(colors[solver])).max() < 0.08)
    assert match >= 0.7 * len(fig["hover"]), (match, len(fig["hover"]))
