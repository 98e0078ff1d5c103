"""Checkpoint integrity (greedybench/_checkpoint.py, issue 18): resume refuses a checkpoint made for
another problem, a damaged one, NaN weights and malformed fields, each with a clear CheckpointError;
trained solver states are checksummed too."""

import io
import zipfile

import pytest
import torch

from greedybench._checkpoint import digest, seal
from greedybench.nn import OMPNet
from greedybench.train import CheckpointError, TrainConfig, train
from test_train import _data


def _cfg(**kw):
    return TrainConfig(**dict(dict(epochs=2, batch_size=16, checkpoint_every=1, seed=3), **kw))


@pytest.fixture
def run(tmp_path):
    """A 2-epoch run with its checkpoint; returns (A, data, out_dir)."""
    A, (tr, val, _) = _data()
    train(OMPNet(A, 3), tr, val, _cfg(), out_dir=tmp_path, progress=False)
    return A, (tr, val), tmp_path


def _resume(A, data, out, **kw):
    return train(OMPNet(A, 3), *data, _cfg(epochs=3), out_dir=out, progress=False, **kw)


def _rewrite(out, change):
    ck = torch.load(out / "last.pt", weights_only=True)
    ck = change(ck) or ck
    buf = io.BytesIO()
    torch.save(ck, buf)
    (out / "last.pt").write_bytes(buf.getvalue())


def test_checkpoint_records_what_it_was_trained_for(run):
    A, data, out = run
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["sha256"] == digest({k: v for k, v in ck.items() if k != "sha256"})
    assert '"operator_sha256"' in ck["trained_for"] and '"data_sha256"' in ck["trained_for"]
    assert _resume(A, data, out).resumed_from == 2          # the same problem resumes


def test_resume_refuses_another_operator(run):
    A, data, out = run
    A2, (tr2, val2, _) = _data(seed=1)                      # same sizes, another A and data
    with pytest.raises(CheckpointError, match=r"made for a different problem.*operator"):
        _resume(A2, (tr2, val2), out)
    # another A with the same data, and the same A with other data, are refused too
    with pytest.raises(CheckpointError, match="operator"):
        _resume(A2, data, out)
    with pytest.raises(CheckpointError, match=r"data sha256"):
        _resume(A, (tr2, val2), out)
    with pytest.raises(CheckpointError, match=r"training data \(n, shapes"):
        _resume(A, ((data[0][0][:32], data[0][1][:32]), data[1]), out)
    assert _resume(A2, (tr2, val2), out, resume=False).resumed_from == 0


def test_resume_refuses_another_model_configuration(run):
    A, data, out = run
    with pytest.raises(CheckpointError, match="model configuration"):
        train(OMPNet(A, 3, tau=0.5), *data, _cfg(epochs=3), out_dir=out, progress=False)


def _tensor_member(path):
    """(offset, size) of the largest tensor blob stored in a torch.save zip."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        with open(path, "rb") as fh:
            fh.seek(info.header_offset + 26)
            n, e = int.from_bytes(fh.read(2), "little"), int.from_bytes(fh.read(2), "little")
        return info.header_offset + 30 + n + e, info.file_size


def test_flipped_byte_in_a_tensor_blob_is_refused(run):
    A, data, out = run
    start, size = _tensor_member(out / "last.pt")
    raw = bytearray((out / "last.pt").read_bytes())
    raw[start + size // 2] ^= 0x01
    (out / "last.pt").write_bytes(bytes(raw))
    torch.load(out / "last.pt", weights_only=True)          # torch itself does not notice
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        _resume(A, data, out)


def test_nan_weights_are_refused_even_with_a_matching_checksum(run):
    A, data, out = run

    def poison(ck):
        ck["model"]["weights"][0] = float("nan")
        return seal(ck)

    _rewrite(out, poison)
    with pytest.raises(CheckpointError, match=r"model weights hold NaN or Inf in \['weights'\]"):
        _resume(A, data, out)


def _set(key, value):
    def change(ck):
        ck[key] = value
        return seal(ck)
    return change


MALFORMED = [
    ("epoch-str", _set("epoch", "2"), "malformed field 'epoch'"),
    ("epoch-zero", _set("epoch", 0), "malformed field 'epoch'"),
    ("best_epoch-after-epoch", _set("best_epoch", 9), "malformed field 'best_epoch'"),
    ("best_val-nan", _set("best_val", float("nan")), "malformed field 'best_val'"),
    ("model-not-dict", _set("model", [1, 2]), "malformed field 'model'"),
    ("optimizer-list", _set("optimizer", []), "malformed field 'optimizer'"),
    ("optimizer-groups", _set("optimizer", {"state": {}, "param_groups": []}), "malformed optimizer"),
    ("rng-float", _set("rng", torch.zeros(3)), "malformed field 'rng'"),
    ("history-short", _set("history", {"epoch": torch.tensor([1])}), "malformed field 'history'"),
    ("config-json", _set("config", "{not json"), "malformed field 'config'"),
    ("trained_for-json", _set("trained_for", "[1,"), "malformed field 'trained_for'"),
    ("no-checksum", lambda ck: {k: v for k, v in ck.items() if k != "sha256"}, "no sha256 checksum"),
    ("missing-entry", lambda ck: seal({k: v for k, v in ck.items() if k not in ("scheduler", "sha256")}),
     r"missing entry \['scheduler'\]"),
    ("not-a-dict", lambda ck: [1, 2, 3], "not a dict of tensors"),
]


@pytest.mark.parametrize("change,msg", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_checkpoint_fields_give_clear_errors(run, change, msg):
    A, data, out = run
    _rewrite(out, change)
    with pytest.raises(CheckpointError, match=msg):
        _resume(A, data, out)


def test_trained_solver_state_is_checksummed_and_finite():
    import importlib

    from greedybench.registry import ProblemBatch

    A, (tr, val, te) = _data(complex_=False)
    mk = lambda d: ProblemBatch(A=A, y=d[0], m=A.shape[0], N=A.shape[1], s=3, X=d[1])  # noqa: E731
    mod = importlib.import_module("greedybench.solvers.omp_net")
    state = mod.train(mk(tr), mk(val), seed=0, progress=False, epochs=1, batch_size=16)
    assert state["sha256"] == digest({k: state[k] for k in ("model", "config", "state_dict")})
    mod.solve(mk(te), state=state)
    flipped = dict(state, state_dict={k: v.clone() for k, v in state["state_dict"].items()})
    flipped["state_dict"]["weights"][0] += 1e-12
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        mod.solve(mk(te), state=flipped)
    poisoned = {k: v for k, v in flipped.items() if k != "sha256"}          # an unsealed state
    poisoned["state_dict"]["weights"][0] = float("inf")
    with pytest.raises(CheckpointError, match="trained weights hold NaN or Inf"):
        mod.solve(mk(te), state=poisoned)
    with pytest.raises(CheckpointError, match="'state_dict' must map names to tensors"):
        mod.solve(mk(te), state=dict(state, state_dict={"weights": [1.0]}))
