"""The LISTA benchmark B1 (greedybench.studies): task and data, the references, and the CI-scale
run end to end (train, evaluate, resume)."""

import math

import pytest
import torch

from greedybench import storage
from greedybench._validation import InvalidParameterError
from greedybench.nn import soft_threshold
from greedybench.studies import lista_b1
from greedybench.studies.b1_baselines import PathRecorder, ista, support_f1
from greedybench.studies.b1_task import (add_noise, config_for, draw_signals, make_matrix, make_split,
                                         split_seed, train_batch)


# --------------------------------------------------------------------------------------------
# task and data
# --------------------------------------------------------------------------------------------
def test_matrix_is_seeded_with_unit_columns():
    cfg = config_for("ci")
    A = make_matrix(cfg)
    assert A.shape == (64, 128) and A.dtype == torch.float32
    torch.testing.assert_close(torch.linalg.vector_norm(A, dim=0), torch.ones(128), rtol=0, atol=1e-6)
    assert torch.equal(A, make_matrix(cfg))
    assert not torch.equal(A, make_matrix(config_for("ci", seed=1)))
    # N(0, 1/m) before normalisation: the normalised entries have variance 1/m
    assert abs(float(A.double().var()) * 64 - 1) < 0.05


def test_signals_are_bernoulli_gaussian():
    g = torch.Generator().manual_seed(0)
    X = draw_signals(4000, 500, 0.1, g)
    nz = X != 0
    assert abs(float(nz.double().mean()) - 0.1) < 0.003
    vals = X[nz]
    assert abs(float(vals.mean())) < 0.02 and abs(float(vals.std()) - 1) < 0.02


def test_noise_is_per_sample_at_the_snr():
    g = torch.Generator().manual_seed(1)
    Y0 = torch.randn(2000, 250, generator=g, dtype=torch.float64) * torch.rand(2000, 1, generator=g,
                                                                                  dtype=torch.float64) * 5
    Y = add_noise(Y0, 30.0, g)
    ratio = (Y0 ** 2).sum(-1) / ((Y - Y0) ** 2).sum(-1)
    snr = 10 * torch.log10(ratio)
    # per sample (the scale of each sample differs by up to 5x): about 30 dB each, mean 30 +- 0.05
    assert abs(float(snr.mean()) - 30) < 0.05 and float((snr - 30).abs().max()) < 1.5
    assert torch.equal(add_noise(Y0, math.inf, g), Y0)


def test_splits_and_stream_are_deterministic_and_distinct():
    cfg = config_for("ci")
    A = make_matrix(cfg)
    t40, t40b, tinf = make_split(cfg, A, "test", 40.0), make_split(cfg, A, "test", 40.0), make_split(cfg, A, "test", math.inf)
    assert torch.equal(t40.Y, t40b.Y) and torch.equal(t40.X, tinf.X) and not torch.equal(t40.Y, tinf.Y)
    torch.testing.assert_close(tinf.Y.double(), tinf.X.double() @ A.double().mT, rtol=0, atol=1e-5)
    v = make_split(cfg, A, "val", 40.0)
    assert not torch.equal(v.X, t40.X) and v.Y.shape == (cfg.n_val, cfg.m)
    Y1, X1 = train_batch(cfg, A, 40.0, 7)
    Y2, X2 = train_batch(cfg, A, 40.0, 7)
    Y3, _ = train_batch(cfg, A, 40.0, 8)
    assert torch.equal(Y1, Y2) and torch.equal(X1, X2) and not torch.equal(Y1, Y3)
    assert X1.shape == (cfg.batch, cfg.N)
    assert split_seed(0, "a") != split_seed(0, "b") and split_seed(3, "x") == split_seed(3, "x")
    with pytest.raises(InvalidParameterError):
        make_split(cfg, A, "train", 40.0)
    with pytest.raises(InvalidParameterError):
        config_for("huge")
    with pytest.raises(InvalidParameterError):
        config_for("ci", snrs=(-3.0,))


# --------------------------------------------------------------------------------------------
# references and metrics
# --------------------------------------------------------------------------------------------
def test_ista_first_step_and_fista_reaches_the_lasso_optimality_conditions():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(30, 60, generator=g, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=0)
    Y = torch.randn(5, 30, generator=g, dtype=torch.float64)
    L = float(torch.linalg.matrix_norm(A, ord=2)) ** 2
    lam = 0.1
    torch.testing.assert_close(ista(A, Y, lam, 1), soft_threshold(Y @ A / L, lam / L), rtol=0, atol=1e-14)
    seen = []
    x = ista(A, Y, lam, 3000, fast=True, record=lambda k, xk: seen.append(k))
    assert seen == list(range(1, 3001))
    grad = (Y - x @ A.mT) @ A                       # A^T (y - A x): = lam sign(x) on the support, |.| <= lam off it
    on = x != 0
    torch.testing.assert_close(grad[on], lam * torch.sign(x[on]), rtol=0, atol=1e-5)
    assert float(grad[~on].abs().max()) <= lam + 1e-5
    # ISTA converges (more slowly) to the same objective value
    def objective(z):
        return 0.5 * ((Y - z @ A.mT) ** 2).sum(-1) + lam * z.abs().sum(-1)
    f_ista, f_fista = objective(ista(A, Y, lam, 5000)), objective(x)
    assert torch.all(f_ista >= f_fista - 1e-10) and torch.all(f_ista - f_fista < 1e-6 * f_fista)


def test_nmse_is_a_ratio_of_sums_and_f1():
    X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    Xh = torch.tensor([[0.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    rec = PathRecorder(X)
    rec.add(1, 2, Xh[:1], torch.tensor([0]))
    rec.add(1, 2, Xh[1:], torch.tensor([1]))
    (row,) = rec.layers()
    assert row["nmse_db"] == pytest.approx(10 * math.log10(2 / 10))   # (1 + 1) / (1 + 9), not a mean of ratios
    f1, exact = support_f1(Xh, X)
    assert f1 == pytest.approx((0.0 + 2 * 1 / 3) / 2) and exact == 0.0
    assert support_f1(X, X) == (1.0, 1.0)


# --------------------------------------------------------------------------------------------
# CI-scale run end to end
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("b1")
    assert lista_b1.main(["--scale", "ci", "--out", str(out), "--no-progress", "--alista-paper"]) == 0
    return out


def _table(out):
    rows = storage.read_csv(out / "b1_results.csv")
    return {(r["method"], r["snr_db"]): r for r in rows}


def _db(t, method, snr, col="nmse_db_depth"):
    return float(t[(method, snr)][col])


def test_ci_run_writes_every_method_and_snr(ci_run):
    t = _table(ci_run)
    methods = {m for m, _ in t}
    expected = {"ista-8", "ista-300", "fista-8", "fista-300", "omp-oracle-k", "omp-k24", "iht-oracle-k",
                "iht-k24", "soft-omp", "soft-iht", "amp", "lista", "lista-cp", "lista-cpss", "alista",
                "pudle-ista", "omp-net", "iht-net", "alista-paper"}
    assert methods == expected
    assert {s for _, s in t} == {"inf", "30"}
    amp = t[("amp", "inf")]["status"]
    assert amp == "ok"                  # greedybench.amp exists: its row is measured
    assert int(t[("lista", "inf")]["params"]) == 128 * 64 + 8 * 128 * 128 + 8
    assert int(t[("alista", "inf")]["params"]) == 16 and int(t[("lista-cp", "inf")]["params"]) == 8 * (64 * 128 + 1)
    assert int(t[("lista", "inf")]["train_steps"]) == 150
    layers = storage.read_csv(ci_run / "b1_layers.csv")
    lista = [r for r in layers if r["method"] == "lista" and r["snr_db"] == "inf"]
    assert [int(r["iteration"]) for r in lista] == list(range(1, 9))
    assert float(lista[-1]["nmse_db"]) == pytest.approx(_db(t, "lista", "inf"))
    assert float(lista[0]["matvecs"]) == 1 and float(lista[1]["matvecs"]) == 1 + 128 / 64
    assert storage.read_csv(ci_run / "b1_training.csv")


def test_ci_run_reproduces_the_robust_facts(ci_run):
    t = _table(ci_run)
    for snr in ("inf", "30"):
        # training helps: LISTA and ALISTA after training beat ISTA with the same depth
        assert _db(t, "lista", snr) < _db(t, "ista-8", snr) - 1
        assert _db(t, "alista", snr) < _db(t, "ista-8", snr) - 5
        # FISTA converged (LASSO floor) is far below ISTA-8; FISTA beats ISTA at equal depth
        assert _db(t, "fista-300", snr, "nmse_db_final") < _db(t, "ista-8", snr) - 10
        assert _db(t, "fista-8", snr) < _db(t, "ista-8", snr)
        # OMP reaches the noise floor; noiseless, OMP with k = 24 > |S| recovers exactly
        assert _db(t, "omp-oracle-k", snr, "nmse_db_final") < -25
    assert _db(t, "omp-k24", "inf", "nmse_db_final") < -60
    # with noise nothing goes much below -SNR, and the oracle-k OMP saturates near it
    finals = [float(r["nmse_db_final"]) for (m, s), r in t.items() if s == "30" and r["status"] == "ok"]
    assert min(finals) > -30 - 6
    assert abs(_db(t, "omp-oracle-k", "30", "nmse_db_final") + 30) < 6
    # the trained state is never worse than the untrained net on validation (best state kept)
    for m in ("omp-net", "iht-net"):
        assert _db(t, m, "inf") <= _db(t, "soft-" + m[:3], "inf") + 0.5


def test_ci_run_resumes_without_retraining(ci_run, capsys):
    before = _table(ci_run)
    assert lista_b1.main(["--scale", "ci", "--out", str(ci_run), "--no-progress", "--alista-paper"]) == 0
    log = capsys.readouterr().out
    assert "baselines: reused" in log
    after = _table(ci_run)
    for key, r in before.items():
        assert after[key]["nmse_db_depth"] == r["nmse_db_depth"], key
        assert after[key]["train_steps"] == r["train_steps"]


def test_ci_run_resumes_an_interrupted_training(tmp_path):
    """A checkpoint written mid-training is picked up: the resumed run ends at the same state as an
    uninterrupted one (the stream depends on the step only)."""
    args = ["--scale", "ci", "--out", str(tmp_path / "a"), "--no-progress", "--methods", "alista",
            "--snr", "inf", "--steps", "50", "--val-every", "25"]
    lista_b1.main(args)
    full = _table(tmp_path / "a")[("alista", "inf")]
    # interrupted copy: keep only the checkpoint of step 25 by training 25 steps with the same
    # fingerprint, i.e. run 50 steps but stop after the first checkpoint
    from greedybench.studies import b1_train
    cfg = config_for("ci", snrs=(math.inf,), steps=50, val_every=25)
    A = make_matrix(cfg)
    val = make_split(cfg, A, "val", math.inf)
    model = b1_train.build_model("alista", cfg, A)
    ck = tmp_path / "b" / "checkpoints" / "snrinf" / "alista.pt"

    class Stop(Exception):
        pass

    calls = {"n": 0}
    real_save = b1_train._save

    def save_then_stop(path, obj):
        real_save(path, obj)
        calls["n"] += 1
        raise Stop

    b1_train._save = save_then_stop
    try:
        with pytest.raises(Stop):
            b1_train.train_method("alista", model, cfg, A, math.inf, val, ckpt=ck, progress=False)
    finally:
        b1_train._save = real_save
    assert calls["n"] == 1 and ck.exists()
    lista_b1.main(args[:2] + ["--out", str(tmp_path / "b")] + args[4:])
    resumed = _table(tmp_path / "b")[("alista", "inf")]
    assert float(resumed["nmse_db_depth"]) == pytest.approx(float(full["nmse_db_depth"]), abs=1e-6)


def test_reference_ranges_and_summary():
    assert lista_b1.reference_gap("lista", "40", -30.0) == ("[-37, -33]", 3.0)
    assert lista_b1.reference_gap("alista", "inf", -75.0) == ("[-70, -60]", -5.0)
    assert lista_b1.reference_gap("lista-cp", "30", -29.0) == ("[-32, -28]", 0.0)
    assert lista_b1.reference_gap("omp-net", "40", -10.0) == (None, None)
    rows = [{"method": "lista", "snr_db": "40", "status": "ok", "nmse_db_depth": -30.0, "nmse_db_final": -30.0,
             "support_f1": 0.9, "sec_per_1000": 0.01, "params": 10, "train_steps": 5, "train_seconds": 1.0},
            {"method": "amp", "snr_db": "40", "status": "unavailable: greedybench.amp not installed"}]
    md = lista_b1.summary_markdown(rows, 16)
    assert "-30.00 (ref [-37, -33], +3.0)" in md and "unavailable" in md
    assert "ref" not in lista_b1.summary_markdown(rows, 16, reference=False)


@pytest.mark.paper
def test_full_b1_at_40_db(tmp_path):
    """Full size, SNR = 40 dB, the default budget (about 20-30 min on one core): the robust facts."""
    assert lista_b1.main(["--scale", "full", "--snr", "40", "--out", str(tmp_path), "--no-progress"]) == 0
    t = _table(tmp_path)
    finals = [float(r["nmse_db_final"]) for r in t.values() if r["status"] == "ok"]
    assert min(finals) > -40 - 8                                   # nothing far below the noise floor
    assert _db(t, "fista-1000", "40", "nmse_db_final") < -30       # the LASSO floor is near -SNR
    assert _db(t, "fista-16", "40") < _db(t, "ista-16", "40") < -3
    for m in ("lista", "lista-cp", "lista-cpss", "alista"):
        assert _db(t, m, "40") < _db(t, "fista-16", "40"), m


def test_checkpoints_ignore_run_only_fields():
    """A checkpoint stays valid when only the SNR list or the ALISTA-schedule switch changes, and
    not when a training field (steps) does."""
    from greedybench.studies import b1_train
    base = config_for("ci")
    fp = b1_train._fingerprint(base, "lista", math.inf)
    same = [config_for("ci", snrs=(math.inf,)), config_for("ci", alista_paper=True, alista_paper_steps=7)]
    for cfg in same:
        assert b1_train._comparable(b1_train._fingerprint(cfg, "lista", math.inf)) == b1_train._comparable(fp)
    assert b1_train._comparable(b1_train._fingerprint(config_for("ci", steps=151), "lista", math.inf)) \
        != b1_train._comparable(fp)
    paper = b1_train._fingerprint(base, "alista-paper", math.inf)
    assert b1_train._comparable(b1_train._fingerprint(config_for("ci", alista_paper_steps=7), "alista-paper",
                                                      math.inf)) != b1_train._comparable(paper)


def test_no_train_reports_unfinished_methods(tmp_path):
    args = ["--scale", "ci", "--out", str(tmp_path), "--no-progress", "--snr", "inf", "--methods",
            "baselines,lista", "--no-train"]
    assert lista_b1.main(args) == 0
    t = _table(tmp_path)
    assert t[("lista", "inf")]["status"] == "not run: no finished checkpoint"
    assert t[("ista-8", "inf")]["status"] == "ok"
    assert not (tmp_path / "checkpoints" / "snrinf" / "lista.pt").exists()
    assert "not run" in (tmp_path / "b1_summary.md").read_text()
