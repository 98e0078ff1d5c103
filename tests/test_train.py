"""greedybench.train: one step lowers the loss, checkpoints round-trip, resume == uninterrupted,
clear errors for bad checkpoints, and the trained solver entries."""

import csv
import json

import pytest
import torch

from greedybench._validation import GreedybenchError, InvalidParameterError
from greedybench.nn import ALISTA, IHTNet, OMPNet
from greedybench.train import (CheckpointError, TrainConfig, batch_loss, evaluate, load_model,
                               load_state_dict, train)




def _data(m=12, N=32, s=3, K=8, n=(48, 16, 16), seed=0, complex_=True):
    """Latent-support data: supports from a hidden set of K indices (as in Fig. 3, small)."""
    g = torch.Generator().manual_seed(seed)
    if complex_:
        A = torch.complex(torch.randn(m, N, generator=g, dtype=torch.float64),
                          torch.randn(m, N, generator=g, dtype=torch.float64))
    else:
        A = torch.randn(m, N, generator=g, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=0)
    T = torch.randperm(N, generator=g)[:K]
    out = []
    for cnt in n:
        X = torch.zeros(cnt, N, dtype=torch.float64)
        for b in range(cnt):
            X[b, T[torch.randperm(K, generator=g)[:s]]] = torch.randn(s, generator=g, dtype=torch.float64)
        X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
        out.append((X.to(A.dtype) @ A.mT, X))
    return A, out


def _cfg(**kw):
    base = dict(epochs=6, batch_size=16, checkpoint_every=2, seed=3, lr=1e-2)
    base.update(kw)
    return TrainConfig(**base)


def test_defaults_are_the_paper_schedule():
    c = TrainConfig()
    assert (c.optimizer, c.lr, c.alpha, c.eps, c.lr_step, c.lr_gamma, c.grad_clip, c.batch_size, c.epochs) == \
        ("rmsprop", 1e-2, 0.99, 1e-8, 500, 0.5, 1.0, 64, 1000)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(InvalidParameterError):
        TrainConfig(epochs=0)
    with pytest.raises(InvalidParameterError):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(InvalidParameterError):
        TrainConfig.from_dict({"epochz": 3})


def test_one_step_lowers_the_loss():
    A, ((Y, X), val, _) = _data()
    for model in (OMPNet(A, 3), IHTNet(A, 3, 8, step=0.3)):
        before = evaluate(model, (Y, X))
        res = train(model, (Y, X), val, TrainConfig(epochs=1, batch_size=Y.shape[0], lr=1e-2), progress=False)
        assert res.epochs_run == 1
        assert evaluate(model, (Y, X)) < before
    assert float(batch_loss(torch.ones(2, 3, dtype=torch.complex128), torch.zeros(2, 3))) == 3.0


def test_checkpoint_roundtrip_and_files(tmp_path):
    A, (tr, val, te) = _data()
    model = OMPNet(A, 3)
    res = train(model, tr, val, _cfg(), out_dir=tmp_path, progress=False, test_data=te)
    for f in ("config.json", "last.pt", "best.pt", "losses.csv", "result.json"):
        assert (tmp_path / f).is_file(), f
    sd = torch.load(tmp_path / "best.pt", weights_only=True)
    assert set(sd) == {"A", "weights"}
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 6
    fresh = load_model(OMPNet(A, 3), tmp_path / "best.pt")
    with torch.no_grad():
        assert torch.equal(fresh(te[0]), res.model(te[0]))
    assert res.test_loss == evaluate(fresh, te)
    rows = list(csv.DictReader(open(tmp_path / "losses.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7)) and set(rows[0]) == {"epoch", "train_loss", "val_loss", "lr"}
    assert min(float(r["val_loss"]) for r in rows) == res.best_val_loss
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["train_config"]["epochs"] == 6 and meta["model"]["class"] == "OMPNet"
    assert not list(tmp_path.glob("*.tmp"))


def _final(tmp):
    return (torch.load(tmp / "last.pt", weights_only=True), torch.load(tmp / "best.pt", weights_only=True),
            (tmp / "losses.csv").read_text())


def _assert_same(a, b):
    (la, ba, ca), (lb, bb, cb) = a, b
    assert ca == cb
    for k in ba:
        assert torch.equal(ba[k], bb[k]), k
    for k in la["model"]:
        assert torch.equal(la["model"][k], lb["model"][k]), k
    for k in la["history"]:
        assert torch.equal(la["history"][k], lb["history"][k]), k
    assert la["best_epoch"] == lb["best_epoch"] and la["best_val"] == lb["best_val"]
    sa, sb = la["optimizer"]["state"], lb["optimizer"]["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(sa[i][k], sb[i][k])


def test_resume_is_bitwise_equal_to_uninterrupted(tmp_path):
    A, (tr, val, _) = _data()
    full = tmp_path / "full"
    train(OMPNet(A, 3), tr, val, _cfg(), out_dir=full, progress=False)
    # "interrupted" after 4 epochs, then resumed to 6
    part = tmp_path / "part"
    train(OMPNet(A, 3), tr, val, _cfg(epochs=4), out_dir=part, progress=False)
    res = train(OMPNet(A, 3), tr, val, _cfg(), out_dir=part, progress=False)
    assert res.resumed_from == 4 and res.epochs_run == 2
    _assert_same(_final(full), _final(part))

    # a real crash in epoch 5 (last checkpoint at epoch 4), then resume
    class Crashing(OMPNet):
        calls = 0

        def forward(self, y):
            Crashing.calls += 1
            if Crashing.calls > 4 * 3 + 4 + 1:          # 3 steps + 1 validation per epoch
                raise KeyboardInterrupt
            return super().forward(y)

    crash = tmp_path / "crash"
    with pytest.raises(KeyboardInterrupt):
        train(Crashing(A, 3), tr, val, _cfg(), out_dir=crash, progress=False)
    assert torch.load(crash / "last.pt", weights_only=True)["epoch"] == 4
    train(OMPNet(A, 3), tr, val, _cfg(), out_dir=crash, progress=False)
    _assert_same(_final(full), _final(crash))
    # a completed run resumes to a no-op with the same result
    res = train(OMPNet(A, 3), tr, val, _cfg(), out_dir=full, progress=False)
    assert res.epochs_run == 0 and res.best_epoch == torch.load(full / "last.pt", weights_only=True)["best_epoch"]


def test_bad_checkpoints_give_clear_errors(tmp_path):
    A, (tr, val, _) = _data()
    train(OMPNet(A, 3), tr, val, _cfg(epochs=2), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(OMPNet(A, 3), tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="shape"):
        load_model(OMPNet(A[:, :20], 3), tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_model(ALISTA(A, 3), tmp_path / "best.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_state_dict(tmp_path / "junk.pt")
    # resuming with another config, or another model shape, is refused
    with pytest.raises(CheckpointError, match="differs"):
        train(OMPNet(A, 3), tr, val, _cfg(epochs=4, lr=1e-3), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="shape"):
        train(OMPNet(A[:, :20], 3), (tr[0], tr[1][:, :20]), (val[0], val[1][:, :20]), _cfg(epochs=4),
              out_dir=tmp_path, progress=False)
    assert issubclass(CheckpointError, GreedybenchError) and issubclass(CheckpointError, ValueError)
    # resume=False starts over
    res = train(OMPNet(A, 3), tr, val, _cfg(epochs=1, lr=1e-3), out_dir=tmp_path, resume=False, progress=False)
    assert res.resumed_from == 0


def test_trained_solver_entries_roundtrip():
    import importlib

    from greedybench.registry import ProblemBatch

    A, (tr, val, te) = _data(complex_=False)
    mk = lambda d: ProblemBatch(A=A, y=d[0], m=A.shape[0], N=A.shape[1], s=3, X=d[1])  # noqa: E731
    for name, extra in (("omp_net", {}), ("omp_net", {"tied": False}), ("iht_net", {"n_layers": 4}),
                        ("iht_net", {"n_layers": 4, "tied": False}), ("lista", {"n_layers": 3}),
                        ("alista", {"n_layers": 3}), ("pudle_ista", {"n_layers": 3})):
        mod = importlib.import_module(f"greedybench.solvers.{name}")
        state = mod.train(mk(tr), mk(val), seed=0, progress=False, epochs=2, batch_size=16, **extra)
        buf = __import__("io").BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        x = mod.solve(mk(te), state=state)
        assert x.shape == te[1].shape and torch.isfinite(x).all(), name
        if "tied" in extra:                      # the state rebuilds the untied net: (layers, N) weights
            assert state["state_dict"]["weights"].dim() == 2
        x0 = mod.solve(mk(te), **extra)          # untrained net
        assert x0.shape == te[1].shape


def test_skip_failed_steps():
    A, (tr, val, _) = _data()

    class Flaky(OMPNet):
        calls = 0

        def forward(self, y):
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise torch.linalg.LinAlgError("svd did not converge")
            return super().forward(y)

    with pytest.raises(torch.linalg.LinAlgError):
        train(Flaky(A, 3), tr, val, _cfg(epochs=1), progress=False)
    Flaky.calls = 0
    res = train(Flaky(A, 3), tr, val, _cfg(epochs=2, skip_failed_steps=True), progress=False)
    assert res.history["skipped_steps"] == [1, 0] and res.summary()["skipped_steps"] == 1
    assert all(torch.isfinite(torch.tensor(res.history["train_loss"])))
