"""greedybench.datasets: determinism, statistics, shapes, dtypes, instance files, validation."""

import dataclasses
import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
import scipy.fft
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greedybench._validation import DeviceError, DTypeError, GreedybenchError, InvalidParameterError
from greedybench.datasets import (
    AMPLITUDES,
    ENSEMBLES,
    SIGNALS,
    Instance,
    InstanceFileError,
    load_instance,
    make_instance,
    save_instance,
)
from greedybench.datasets.files import InstanceFileNotFoundError

BASE = dict(ensemble="gaussian", signal="uniform", m=16, N=32, s=4, batch=6, seed=3, sigma=0.05)


def make(**kw):
    return make_instance(**{**BASE, **kw})


def same(a: Instance, b: Instance) -> bool:
    return (all(torch.equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
                for k in ("A", "X", "Y", "support")) and a.meta == b.meta)


# --------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("ensemble", sorted(ENSEMBLES))
def test_same_parameters_same_instance(ensemble):
    a = make(ensemble=ensemble, signal="latent", shared_A=False)
    b = make(ensemble=ensemble, signal="latent", shared_A=False)
    assert same(a, b)
    json.dumps(a.meta, allow_nan=False)                     # JSON-able


def test_different_seed_different_instance():
    a, b = make(seed=0), make(seed=1)
    assert not torch.equal(a.A, b.A)
    assert not torch.equal(a.X, b.X)
    assert a.meta["rng_seed"] != b.meta["rng_seed"]


@pytest.mark.parametrize("change", [
    {"ensemble": "rademacher"}, {"signal": "latent"}, {"signal": "block", "block": 2},
    {"amplitude": "rademacher"}, {"m": 17}, {"N": 34}, {"s": 5}, {"batch": 7}, {"sigma": 0.06},
    {"normalize": True}, {"shared_A": False}, {"signal": "latent", "K": 9},
])
def test_changing_one_parameter_changes_the_instance(change):
    a, b = make(), make(**change)
    assert a.meta["rng_seed"] != b.meta["rng_seed"]
    # the first problem's signal is drawn from a different stream
    assert not torch.equal(a.X[:1], b.X[:1]) or a.X.shape != b.X.shape
    for k, v in change.items():
        assert b.meta[k] == v


def test_global_rng_is_neither_used_nor_changed():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = make()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)
    assert same(a, make())


def test_float32_is_the_float64_instance_rounded():
    for ens in ("gaussian", "partial_dft"):
        a64, a32 = make(ensemble=ens), make(ensemble=ens, dtype=torch.float32)
        assert torch.equal(a64.A.to(a32.A.dtype), a32.A)
        assert torch.equal(a64.X.float(), a32.X)
        assert torch.equal(a64.support, a32.support)
        assert a32.meta["dtype"] == "float32"


# --------------------------------------------------------------------------- ensembles

@pytest.mark.parametrize("ensemble", ["gaussian", "rademacher", "partial_dft"])
@pytest.mark.parametrize("shared_A", [True, False])
def test_unit_column_norms(ensemble, shared_A):
    inst = make(ensemble=ensemble, m=20, N=64, shared_A=shared_A)
    norms = torch.linalg.vector_norm(inst.A, dim=-2)
    torch.testing.assert_close(norms, torch.ones_like(norms), rtol=0, atol=1e-12)


def test_rademacher_entries():
    A = make(ensemble="rademacher", m=25).A
    assert set(A.mul(5).round().unique().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(A.abs(), torch.full_like(A, 0.2), rtol=0, atol=1e-15)


def test_gaussian_entries_look_gaussian():
    g = torch.Generator().manual_seed(0)
    A = ENSEMBLES["gaussian"](400, 300, g, torch.float64) * math.sqrt(400)
    # after column normalisation, sqrt(m) * entries have mean 0 and variance exactly 1
    assert abs(float(A.mean())) < 0.01
    assert abs(float(A.pow(2).mean()) - 1) < 1e-12
    assert abs(float(A.pow(4).mean()) - 3) < 0.1           # Gaussian kurtosis


@pytest.mark.parametrize("shared_A", [True, False])
@pytest.mark.parametrize("dtype,cdtype", [(torch.float64, torch.complex128), (torch.float32, torch.complex64)])
def test_partial_dft(shared_A, dtype, cdtype):
    N, m = 64, 20
    inst = make(ensemble="partial_dft", m=m, N=N, shared_A=shared_A, dtype=dtype)
    A = inst.A
    assert A.dtype == cdtype and inst.Y.dtype == cdtype and inst.X.dtype == dtype
    assert inst.meta["complex"] and inst.meta["A_dtype"] == str(cdtype).replace("torch.", "")
    A = A.to(torch.complex128)
    gram = A @ A.mH
    eye = torch.eye(m, dtype=A.dtype).expand_as(gram)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(gram, (N / m) * eye, rtol=0, atol=tol * N)
    torch.testing.assert_close(A.abs(), torch.full_like(A.real, 1 / math.sqrt(m)), rtol=0, atol=tol)
    # column j=0 is all 1/sqrt(m); column 1 gives the frequencies exp(-2 pi i k / N)
    k = torch.round(-torch.angle(A[..., :, 1]) * N / (2 * math.pi)).long()
    k = torch.where(k > N // 2 - 1, k - N, k)
    rows = A.reshape(-1, m, N)
    for kk, Ab in zip(k.reshape(-1, m), rows):
        assert torch.all(kk[1:] > kk[:-1])                        # distinct and sorted
        assert int(kk.min()) >= -N // 2 + 1 and int(kk.max()) <= N // 2 - 1   # Nyquist row unused
        j = torch.arange(N)
        ref = torch.exp(-2j * math.pi * (kk[:, None] * j).double() / N) / math.sqrt(m)
        torch.testing.assert_close(Ab, ref, rtol=0, atol=tol * 10)


def test_partial_dft_uses_all_frequencies_when_m_is_n_minus_1():
    inst = make(ensemble="partial_dft", m=15, N=16, s=2)
    A = inst.A
    torch.testing.assert_close(A @ A.mH, (16 / 15) * torch.eye(15, dtype=A.dtype), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shared_A", [True, False])
def test_partial_dct(shared_A):
    N, m = 64, 24
    inst = make(ensemble="partial_dct", m=m, N=N, s=4, shared_A=shared_A)
    A = inst.A
    assert A.dtype == torch.float64 and not inst.meta["complex"]
    gram = A @ A.mT
    torch.testing.assert_close(gram, (N / m) * torch.eye(m, dtype=A.dtype).expand_as(gram), rtol=0, atol=1e-12)
    # mean squared column norm is exactly 1; single columns only approximately (documented)
    sq = A.pow(2).sum(-2)
    torch.testing.assert_close(sq.mean(-1), torch.ones_like(sq.mean(-1)), rtol=0, atol=1e-12)
    assert float((sq - 1).abs().max()) < 0.75
    # rows are sqrt(N/m) times distinct sorted rows of scipy's orthonormal DCT-II matrix
    C = torch.from_numpy(scipy.fft.dct(np.eye(N), type=2, norm="ortho", axis=0))
    for Ab in A.reshape(-1, m, N):
        match = (Ab[:, None, :] / math.sqrt(N / m) - C[None]).abs().amax(-1) < 1e-12     # (m, N)
        rows = match.float().argmax(1)
        assert bool(match.any(1).all()) and torch.all(rows[1:] > rows[:-1])


def test_ensemble_registry_signature_and_batch():
    g = torch.Generator().manual_seed(1)
    for name, fn in ENSEMBLES.items():
        A = fn(8, 16, g, torch.float32)
        assert A.shape == (8, 16) and A.dtype == (torch.complex64 if name == "partial_dft" else torch.float32)
        assert fn(8, 16, g, torch.float64, batch=3).shape == (3, 8, 16)


# --------------------------------------------------------------------------- signals

def _check_supports(inst):
    S, X = inst.support, inst.X
    assert S.dtype == torch.int64 and S.shape == (inst.B, inst.meta["s"])
    assert torch.all(S[:, 1:] > S[:, :-1])                     # sorted, distinct => exactly s
    assert torch.all((S >= 0) & (S < inst.N))
    mask = torch.zeros_like(X, dtype=torch.bool).scatter_(1, S, True)
    assert torch.all(X[~mask] == 0) and torch.all(X[mask] != 0)


@pytest.mark.parametrize("signal,opts", [("uniform", {}), ("latent", {}), ("latent", {"K": 5}),
                                         ("block", {"block": 2}), ("block", {"block": 4})])
@pytest.mark.parametrize("amplitude", sorted(AMPLITUDES))
def test_supports_have_exactly_s_sorted_indices(signal, opts, amplitude):
    _check_supports(make(signal=signal, amplitude=amplitude, **opts))


def test_latent_supports_inside_T_and_cover_it():
    inst = make_instance(ensemble="partial_dft", signal="latent", m=20, N=256, s=10, batch=300, seed=0)
    T = torch.tensor(inst.meta["T"])
    assert inst.meta["K"] == 20 and len(T) == 20 and len(set(T.tolist())) == 20
    assert torch.all(T[1:] > T[:-1])
    assert torch.isin(inst.support, T).all()
    assert torch.equal(inst.support.unique(), T)                 # union of supports = T
    _check_supports(inst)


def test_latent_K_equals_s_gives_one_support():
    inst = make(signal="latent", K=4, batch=5)
    assert torch.equal(inst.support, torch.tensor(inst.meta["T"]).expand(5, 4))


def test_uniform_supports_spread_over_all_indices():
    inst = make(batch=200)
    assert inst.support.unique().numel() == inst.N
    assert inst.meta["T"] is None and inst.meta["K"] is None


def test_block_supports_are_whole_aligned_blocks():
    b = 4
    inst = make(signal="block", block=b, s=8, N=32, batch=50)
    blocks = inst.support.reshape(inst.B, -1, b)
    assert torch.all(blocks[:, :, 0] % b == 0)
    assert torch.equal(blocks - blocks[:, :, :1], torch.arange(b).expand_as(blocks))
    assert inst.meta["block"] == b
    _check_supports(inst)


def test_amplitudes():
    x = make(amplitude="uniform_1_2", batch=100).X
    v = x[x != 0]
    assert v.abs().min() >= 1 and v.abs().max() <= 2
    assert (v > 0).any() and (v < 0).any()
    v = make(amplitude="rademacher", batch=20).X
    assert set(v[v != 0].tolist()) == {-1.0, 1.0}


def test_normalize_gives_unit_norms():
    for amp in AMPLITUDES:
        x = make(amplitude=amp, normalize=True, batch=20).X
        torch.testing.assert_close(torch.linalg.vector_norm(x, dim=1), torch.ones(20, dtype=x.dtype),
                                   rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- measurements and noise

def _AX(inst):
    X = inst.X.to(inst.A.dtype)
    return X @ inst.A.mT if inst.A.dim() == 2 else (inst.A @ X[:, :, None])[:, :, 0]


@pytest.mark.parametrize("ensemble", ["gaussian", "partial_dft"])
@pytest.mark.parametrize("shared_A", [True, False])
def test_noise_level(ensemble, shared_A):
    sigma, m = 0.1, 16
    inst = make(ensemble=ensemble, sigma=sigma, m=m, batch=1000, shared_A=shared_A)
    E = inst.Y - _AX(inst)
    msq = float(E.abs().pow(2).sum(1).mean())
    assert abs(msq / sigma**2 - 1) < 0.05                        # E||e||^2 = sigma^2
    if ensemble == "partial_dft":                                 # circular complex noise
        for part in (E.real, E.imag):
            assert abs(float(part.pow(2).mean()) / (sigma**2 / (2 * m)) - 1) < 0.08


def test_noiseless_measurements_are_exact():
    for ens in ENSEMBLES:
        inst = make(ensemble=ens, sigma=0.0)
        torch.testing.assert_close(inst.Y, _AX(inst), rtol=0, atol=1e-14)
        inst = make(ensemble=ens, sigma=0.0, shared_A=False)
        torch.testing.assert_close(inst.Y, _AX(inst), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- shapes, dtypes, batch 0

@pytest.mark.parametrize("ensemble", sorted(ENSEMBLES))
def test_shared_and_per_problem_shapes(ensemble):
    sh, pp = make(ensemble=ensemble), make(ensemble=ensemble, shared_A=False)
    assert sh.A.shape == (16, 32) and sh.shared_A
    assert pp.A.shape == (6, 16, 32) and not pp.shared_A
    assert not torch.equal(pp.A[0], pp.A[1])
    for inst in (sh, pp):
        assert inst.X.shape == (6, 32) and inst.Y.shape == (6, 16) and inst.support.shape == (6, 4)
        assert (inst.B, inst.m, inst.N, inst.s) == (6, 16, 32, 4)


@pytest.mark.parametrize("ensemble", sorted(ENSEMBLES))
def test_real_dtypes(ensemble):
    inst = make(ensemble=ensemble, dtype=torch.float32)
    assert inst.X.dtype == torch.float32 and not inst.X.is_complex()
    assert inst.A.dtype == inst.Y.dtype == (torch.complex64 if ensemble == "partial_dft" else torch.float32)


@pytest.mark.parametrize("signal,opts", [("uniform", {}), ("latent", {}), ("block", {"block": 2})])
@pytest.mark.parametrize("shared_A", [True, False])
def test_batch_zero(signal, opts, shared_A, tmp_path):
    inst = make(batch=0, signal=signal, shared_A=shared_A, **opts)
    assert inst.X.shape == (0, 32) and inst.Y.shape == (0, 16) and inst.support.shape == (0, 4)
    assert inst.A.shape == ((16, 32) if shared_A else (0, 16, 32))
    assert same(load_instance(save_instance(inst, tmp_path / "empty.npz")), inst)


def test_instance_is_frozen_and_checks_shapes():
    inst = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        inst.X = inst.X
    with pytest.raises(GreedybenchError, match="inconsistent shapes"):
        Instance(inst.A, inst.X[:, :5], inst.Y, inst.support, {})
    assert "gaussian" in repr(inst) and len(repr(inst)) < 400


def test_unavailable_device():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(DeviceError, match="not available"):
        make(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tmp_path):
    for ens in ENSEMBLES:
        cpu, gpu = make(ensemble=ens), make(ensemble=ens, device="cuda")
        assert gpu.A.is_cuda and same(cpu, gpu.to("cpu"))
    p = save_instance(gpu, tmp_path / "g.npz")
    back = load_instance(p, device="cuda")
    assert back.Y.is_cuda and same(back.to("cpu"), gpu.to("cpu"))


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("change,exc,msg", [
    ({"ensemble": "bernoulli"}, InvalidParameterError, r"ensemble must be one of 'gaussian', 'partial_dct', 'partial_dft', 'rademacher'; got 'bernoulli'"),
    ({"signal": "sparse"}, InvalidParameterError, r"signal must be one of 'block', 'latent', 'uniform'"),
    ({"amplitude": "cauchy"}, InvalidParameterError, r"amplitude must be one of 'gaussian', 'rademacher', 'uniform_1_2'"),
    ({"ensemble": None}, InvalidParameterError, r"ensemble must be one of"),
    ({"s": 17}, InvalidParameterError, r"s must be <= m = 16"),
    ({"s": 33, "m": 40}, InvalidParameterError, r"s must be <= N = 32"),
    ({"s": 0}, InvalidParameterError, r"s must be an integer >= 1"),
    ({"m": 0}, InvalidParameterError, r"m must be an integer >= 1"),
    ({"N": 2.0}, InvalidParameterError, r"N must be an integer"),
    ({"batch": -1}, InvalidParameterError, r"batch must be an integer >= 0"),
    ({"seed": -1}, InvalidParameterError, r"seed must be an integer >= 0"),
    ({"seed": True}, InvalidParameterError, r"seed must be an integer"),
    ({"sigma": -0.1}, InvalidParameterError, r"sigma must be finite and >= 0"),
    ({"sigma": float("nan")}, InvalidParameterError, r"sigma must be finite and >= 0"),
    ({"sigma": float("inf")}, InvalidParameterError, r"sigma must be finite and >= 0"),
    ({"signal": "latent", "K": 3}, InvalidParameterError, r"K must be >= s = 4"),
    ({"signal": "latent", "K": 33}, InvalidParameterError, r"K must be <= N = 32"),
    ({"K": 8}, InvalidParameterError, r"K is only used by signal = 'latent'"),
    ({"block": 2}, InvalidParameterError, r"block is only used by signal = 'block'"),
    ({"signal": "block"}, InvalidParameterError, r"block \(the block length\) is required"),
    ({"signal": "block", "block": 3}, InvalidParameterError, r"block must divide s = 4"),
    ({"signal": "block", "block": 4, "N": 30}, InvalidParameterError, r"block must divide N = 30"),
    ({"signal": "block", "block": 0}, InvalidParameterError, r"block must be an integer >= 1"),
    ({"ensemble": "partial_dft", "N": 31}, InvalidParameterError, r"N must be even"),
    ({"ensemble": "partial_dft", "m": 32}, InvalidParameterError, r"m must be <= N - 1 = 31"),
    ({"ensemble": "partial_dct", "m": 33}, InvalidParameterError, r"m must be <= N = 32"),
    ({"normalize": 1}, InvalidParameterError, r"normalize must be True or False"),
    ({"shared_A": "no"}, InvalidParameterError, r"shared_A must be True or False"),
    ({"dtype": torch.complex128}, DTypeError, r"dtype must be torch.float32 or torch.float64"),
    ({"dtype": torch.float16}, DTypeError, r"dtype must be torch.float32 or torch.float64"),
    ({"device": "nonsense"}, DeviceError, r"device must be a torch device"),
])
def test_bad_parameters(change, exc, msg):
    with pytest.raises(exc, match=msg) as info:
        make(**change)
    assert str(info.value).startswith("make_instance: ")
    assert isinstance(info.value, GreedybenchError)


# --------------------------------------------------------------------------- files

@pytest.mark.parametrize("kw", [
    {}, {"ensemble": "partial_dft", "signal": "latent", "shared_A": False},
    {"ensemble": "partial_dct", "signal": "block", "block": 2, "dtype": torch.float32},
    {"ensemble": "partial_dft", "dtype": torch.float32, "normalize": True},
])
def test_roundtrip_is_bitwise(kw, tmp_path):
    inst = make(**kw)
    path = save_instance(inst, tmp_path / "inst.npz")
    back = load_instance(str(path))
    assert same(inst, back)
    assert "sha256" not in back.meta
    # plain numpy can read it without pickle
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["A", "X", "Y", "meta", "support"]
        meta = json.loads(z["meta"].tobytes())
    assert meta["format_version"] == 1 and len(meta["sha256"]) == 64
    # byte-identical when written again, and no temporary files left behind
    first = path.read_bytes()
    save_instance(back, path)
    assert path.read_bytes() == first
    assert os.listdir(tmp_path) == ["inst.npz"]


def test_failed_save_leaves_existing_file_alone(tmp_path):
    path = save_instance(make(), tmp_path / "i.npz")
    before = path.read_bytes()
    bad = dataclasses.replace(make(), meta={**make().meta, "oops": object()})
    with pytest.raises(InvalidParameterError, match="JSON-able"):
        save_instance(bad, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["i.npz"]
    with pytest.raises(InstanceFileNotFoundError, match="does not exist"):
        save_instance(make(), tmp_path / "no" / "dir.npz")


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n[:-4]: np.lib.format.read_array(io.BytesIO(zf.read(n))) for n in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())


def _meta(members):
    return json.loads(members["meta"].tobytes())


def _set_meta(members, meta):
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.fixture
def saved(tmp_path):
    return save_instance(make(), tmp_path / "inst.npz")


def test_missing_file(tmp_path):
    with pytest.raises(InstanceFileError, match="no such file") as info:
        load_instance(tmp_path / "absent.npz")
    assert isinstance(info.value, FileNotFoundError) and "absent.npz" in str(info.value)


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    saved.write_bytes(data[:n])
    with pytest.raises(InstanceFileError, match="truncated or corrupt|corrupt archive"):
        load_instance(saved)


def test_flipped_byte_in_the_array_data(saved):
    inst = make()
    data = bytearray(saved.read_bytes())
    at = data.find(inst.X.numpy().tobytes()) + 8 * 5
    data[at] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(InstanceFileError, match="corrupt|checksum mismatch"):
        load_instance(saved)


def test_tampered_value_checksum_mismatch(saved):
    members = _members(saved)
    members["Y"][0, 0] += 1e-9                           # a valid archive with a changed value
    _write(saved, members)
    with pytest.raises(InstanceFileError, match="checksum mismatch"):
        load_instance(saved)


def test_tampered_meta_checksum_mismatch(saved):
    members = _members(saved)
    meta = _meta(members)
    meta["sigma"] = 0.0
    _set_meta(members, meta)
    _write(saved, members)
    with pytest.raises(InstanceFileError, match="checksum mismatch"):
        load_instance(saved)


def test_newer_format_version(tmp_path):
    inst = make()
    newer = dataclasses.replace(inst, meta={**inst.meta, "format_version": 2})
    path = save_instance(newer, tmp_path / "new.npz")       # a valid checksum, just newer
    with pytest.raises(InstanceFileError, match="format_version 2 was written by a newer greedybench"):
        load_instance(path)


@pytest.mark.parametrize("drop", ["Y", "support", "meta"])
def test_missing_keys(saved, drop):
    members = _members(saved)
    del members[drop]
    _write(saved, members)
    with pytest.raises(InstanceFileError, match=f"missing key\\(s\\) '{drop}'"):
        load_instance(saved)


def test_unexpected_key_and_missing_version(saved):
    members = _members(saved)
    _write(saved, {**members, "extra": np.zeros(2)})
    with pytest.raises(InstanceFileError, match="unexpected key\\(s\\) 'extra'"):
        load_instance(saved)
    meta = _meta(members)
    del meta["format_version"]
    _set_meta(members, meta)
    _write(saved, members)
    with pytest.raises(InstanceFileError, match="no integer format_version"):
        load_instance(saved)


def test_not_a_zip(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"hello, not an archive at all")
    with pytest.raises(InstanceFileError, match="truncated or corrupt"):
        load_instance(p)


# --------------------------------------------------------------------------- properties

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ensemble=st.sampled_from(sorted(ENSEMBLES)), signal=st.sampled_from(sorted(SIGNALS)),
       amplitude=st.sampled_from(sorted(AMPLITUDES)), half_N=st.integers(2, 12),
       data=st.data(), batch=st.integers(0, 4), seed=st.integers(0, 2**40),
       shared_A=st.booleans(), normalize=st.booleans())
def test_any_valid_instance_is_consistent(ensemble, signal, amplitude, half_N, data, batch, seed,
                                          shared_A, normalize):
    N = 2 * half_N
    m = data.draw(st.integers(1, N - 1))
    opts = {}
    if signal == "block":
        b = data.draw(st.sampled_from([d for d in range(1, m + 1) if N % d == 0]))
        s = b * data.draw(st.integers(1, m // b))
        opts["block"] = b
    else:
        s = data.draw(st.integers(1, m))
        if signal == "latent":
            opts["K"] = data.draw(st.integers(s, N))
    inst = make_instance(ensemble=ensemble, signal=signal, amplitude=amplitude, m=m, N=N, s=s,
                         batch=batch, seed=seed, sigma=0.01, shared_A=shared_A,
                         normalize=normalize, **opts)
    _check_supports(inst)
    assert inst.A.shape == ((m, N) if shared_A else (batch, m, N))
    assert torch.isfinite(inst.Y).all()
    if signal == "latent":
        assert len(inst.meta["T"]) == opts["K"] and torch.isin(inst.support, torch.tensor(inst.meta["T"])).all()
