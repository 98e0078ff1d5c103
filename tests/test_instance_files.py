"""Instance files, round 2 (issue 18): a valid file in the wrong place, forged self-consistent
files, compressed members, deflate bombs and huge headers, every single-byte flip, wrong path
types, symlink loops and directories: each a clear InstanceFileError (or InvalidParameterError
for a path of the wrong type), never a raw exception and never wrong content."""

import io
import json
import os
import re
import warnings
import zipfile

import numpy as np
import pytest
import torch

from greedybench._validation import InvalidParameterError
from greedybench.datasets import InstanceFileError, load_instance, make_instance, save_instance
from greedybench.datasets.files import check_instance_matches, checksum


def make(**kw):
    base = dict(ensemble="gaussian", signal="uniform", m=6, N=12, s=2, batch=3, seed=1)
    base.update(kw)
    return make_instance(**base)


def _arrays(inst):
    return {k: getattr(inst, k).numpy().copy() for k in ("A", "X", "Y", "support")}


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _write(path, arrays, meta, *, compression=zipfile.ZIP_STORED, sign=True, raw=None):
    """An archive like save_instance's; ``sign`` recomputes the checksum (a forger's file)."""
    meta = dict(meta)
    if sign:
        meta["sha256"] = checksum(arrays, meta)
    members = {k: _npy(v) for k, v in arrays.items()}
    members["meta"] = _npy(np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8))
    members.update(raw or {})
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)
    return path


def _same(a, b):
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("A", "X", "Y", "support")) and a.meta == b.meta


# --- a valid file in the wrong place -----------------------------------------------------------

def test_valid_file_in_the_wrong_place_is_refused(tmp_path):
    inst = make(sigma=1e-3)
    path = save_instance(inst, tmp_path / "rho0.2.npz")
    good = {"m": 6, "N": 12, "s": 2, "batch": 3, "seed": 1, "sigma": 1e-3, "ensemble": "gaussian",
            "signal": "uniform", "amplitude": "gaussian", "dtype": "float64", "shared_A": True}
    assert _same(load_instance(path, expect=good), inst)
    with pytest.raises(InstanceFileError, match=r"not the instance expected here \(s = 2 in the file but 3 "
                                                r"expected; seed = 1 in the file but 2 expected\).*wrong place"):
        load_instance(path, expect=dict(good, s=3, seed=2))
    with pytest.raises(InstanceFileError, match="sigma = 0.001 in the file but 0.0 expected"):
        check_instance_matches(inst, {"sigma": 0.0})
    with pytest.raises(InstanceFileError, match="shared_A = True in the file but False expected"):
        check_instance_matches(inst, {"shared_A": False})
    with pytest.raises(InstanceFileError, match=r"family = '<missing>' in the file but 'gauss' expected"):
        check_instance_matches(inst, {"family": "gauss"})   # a key the file lacks never passes
    with pytest.raises(InvalidParameterError, match="expect must be None or a dict"):
        load_instance(path, expect=[("m", 6)])


# --- forged but self-consistent files (checksum recomputed) -----------------------------------

def _forge(tmp_path, change, **kw):
    inst = make(**kw)
    arrays, meta = _arrays(inst), dict(inst.meta)
    change(arrays, meta)
    return _write(tmp_path / "forged.npz", arrays, meta)


def _support_out_of_range(a, m):
    a["support"][0, -1] = 12


def _support_negative(a, m):
    a["support"][1, 0] = -1


def _support_unsorted(a, m):
    a["support"][0] = a["support"][0][::-1].copy()


def _x_off_support(a, m):
    off = sorted(set(range(12)) - set(a["support"][0].tolist()))[0]
    a["X"][0, off] = 1.0


def _y_not_ax(a, m):
    a["Y"][2, 1] += 1e-6


def _nan_in_a(a, m):
    a["A"][0, 0] = np.nan


FORGERIES = [
    ("support-out-of-range", _support_out_of_range, r"support indices must be in \[0, N\) = \[0, 12\)"),
    ("support-negative", _support_negative, r"support indices must be in \[0, N\)"),
    ("support-unsorted", _support_unsorted, "strictly increasing"),
    ("X-off-support", _x_off_support, "nonzero entries outside its support"),
    ("Y-not-AX", _y_not_ax, r"sigma = 0 but Y != A X"),
    ("nan-in-A", _nan_in_a, r"array 'A' contains NaN or Inf"),
]


@pytest.mark.parametrize("change,msg", [f[1:] for f in FORGERIES], ids=[f[0] for f in FORGERIES])
def test_forged_self_consistent_file_is_refused(tmp_path, change, msg):
    with pytest.raises(InstanceFileError, match=msg):
        load_instance(_forge(tmp_path, change))


@pytest.mark.parametrize("kw", [dict(), dict(dtype=torch.float32), dict(ensemble="partial_dft"),
                                dict(ensemble="partial_dft", dtype=torch.float32, shared_A=False),
                                dict(signal="latent", K=4), dict(m=40, N=80, s=20, normalize=True)])
def test_genuine_files_pass_the_content_checks(tmp_path, kw):
    inst = make(**kw)
    assert _same(load_instance(save_instance(inst, tmp_path / "ok.npz")), inst)


def test_latent_support_outside_T_is_refused(tmp_path):
    def change(a, meta):
        meta["T"] = [t for t in meta["T"] if t not in a["support"][0].tolist()] + [99]
    with pytest.raises(InstanceFileError, match="hidden set T"):
        load_instance(_forge(tmp_path, change, signal="latent", K=4))


def test_noisy_file_is_not_held_to_y_equals_ax(tmp_path):
    inst = make(sigma=0.1)
    assert _same(load_instance(save_instance(inst, tmp_path / "noisy.npz")), inst)


# --- archive structure: compression, bombs, headers ---------------------------------------------

def test_deflate_members_are_refused(tmp_path):
    inst = make()
    path = _write(tmp_path / "deflated.npz", _arrays(inst), dict(inst.meta), compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(InstanceFileError, match=r"member 'A.npy' is compressed \(method 8\).*ZIP_STORED"):
        load_instance(path)


def test_deflate_bomb_is_refused_before_inflating(tmp_path):
    # A.npy replaced by 128 MB of zeros deflated to ~130 KB (a real bomb would declare terabytes)
    inst = make()
    arrays, meta = _arrays(inst), dict(inst.meta)
    meta["sha256"] = checksum(arrays, meta)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("A.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**24,)})
            chunk = bytes(1 << 20)
            for _ in range(128):
                fh.write(chunk)
        for name in ("X", "Y", "support"):
            zf.writestr(zipfile.ZipInfo(name + ".npy"), _npy(arrays[name]))
        zf.writestr(zipfile.ZipInfo("meta.npy"),
                    _npy(np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)))
    assert path.stat().st_size < 10**6
    with pytest.raises(InstanceFileError, match=r"member 'A.npy' is compressed"):
        load_instance(path)


def test_header_declaring_a_huge_array_is_refused_without_allocating(tmp_path):
    inst = make()
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}   # 8 TB
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    raw = {"A": buf.getvalue() + b"\0" * 64}
    with pytest.raises(InstanceFileError, match=r"array 'A' declares shape \(1000000, 1000000\).*holds 64 bytes"):
        load_instance(_write(tmp_path / "huge.npz", _arrays(inst), dict(inst.meta), raw=raw))


def test_huge_npy_header_is_refused(tmp_path):
    inst = make()
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 12), " + " " * (1 << 20) + "}\n"
    raw = {"A": b"\x93NUMPY\x02\x00" + len(text).to_bytes(4, "little") + text.encode() + b"\0" * (8 * 72)}
    with pytest.raises(InstanceFileError, match=r"Header.*(large|length)"):
        load_instance(_write(tmp_path / "header.npz", _arrays(inst), dict(inst.meta), raw=raw))


def test_duplicate_members_are_refused(tmp_path):
    inst = make()
    path = _write(tmp_path / "dup.npz", _arrays(inst), dict(inst.meta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                         # zipfile warns on the duplicate name
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("A.npy", _npy(np.zeros((6, 12))))
    with pytest.raises(InstanceFileError, match="duplicate member"):
        load_instance(path)


# --- every single-byte flip --------------------------------------------------------------------

def _flip_outcomes(path, positions, xors, inst):
    """Load the file with each byte flipped; return the outcomes that are neither a clear error nor
    the original content."""
    data = path.read_bytes()
    target = path.with_name("flipped.npz")
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                         # numpy's "created on Python 2" header warning
        for i in positions:
            for x in xors:
                b = bytearray(data)
                b[i] ^= x
                target.write_bytes(bytes(b))
                try:
                    got = load_instance(target)
                except InstanceFileError:
                    continue
                except Exception as exc:  # noqa: BLE001 - the point of the test
                    bad.append((i, x, f"{type(exc).__name__}: {exc}"))
                    continue
                if not _same(got, inst):
                    bad.append((i, x, "loaded different content"))
    return bad


@pytest.fixture(scope="module")
def flip_file(tmp_path_factory):
    # per-problem A (4, 8, 16): the size at which a broken .npy header reached numpy's tokenizer
    # (a raw TokenError / SyntaxError before the fix)
    inst = make(m=8, N=16, s=2, batch=4, shared_A=False)
    return save_instance(inst, tmp_path_factory.mktemp("flip") / "inst.npz"), inst


def _structure_positions(data: bytes):
    """Bytes of the zip local headers, .npy headers, meta member and central directory."""
    pos = set()
    for m in re.finditer(rb"PK\x03\x04", data):
        pos.update(range(m.start(), m.start() + 30 + 10))
    for m in re.finditer(rb"\x93NUMPY", data):
        pos.update(range(m.start(), m.start() + 128))
    meta = data.find(b'{"A_dtype"')
    pos.update(range(meta, data.find(b"PK\x01\x02")))
    pos.update(range(data.find(b"PK\x01\x02"), len(data)))
    return sorted(p for p in pos if 0 <= p < len(data))


def test_single_byte_flips_of_the_structure_give_clear_errors(flip_file):
    path, inst = flip_file
    positions = _structure_positions(path.read_bytes())
    assert _flip_outcomes(path, positions, (0x01, 0x10), inst) == []


@pytest.mark.slow
def test_every_single_byte_flip_gives_a_clear_error_or_the_same_content(flip_file):
    path, inst = flip_file
    assert _flip_outcomes(path, range(len(path.read_bytes())), (0x01, 0x10, 0xFF), inst) == []


# --- paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [123, None, 1.5, ["a.npz"], {"path": "a"}, ""])
def test_wrong_path_types_give_a_clear_error(bad, tmp_path):
    with pytest.raises(InvalidParameterError, match=r"load_instance: path must be"):
        load_instance(bad)
    with pytest.raises(InvalidParameterError, match=r"save_instance: path must be"):
        save_instance(make(), bad)


def test_bytes_and_pathlike_paths_work(tmp_path):
    inst = make()
    path = save_instance(inst, os.fsencode(tmp_path / "b.npz"))
    assert _same(load_instance(os.fsencode(path)), inst)


def test_symlink_loop_dangling_link_and_directory_are_named(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(InstanceFileError, match="symlink loop") as info:
        load_instance(a)
    assert "no such file" not in str(info.value)
    (tmp_path / "dangling.npz").symlink_to(tmp_path / "gone.npz")
    with pytest.raises(InstanceFileError, match=r"dangling symlink \(it points to .*gone\.npz"):
        load_instance(tmp_path / "dangling.npz")
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(InstanceFileError, match="is a directory") as info:
        load_instance(tmp_path / "dir.npz")
    assert "does not exist" not in str(info.value)
    with pytest.raises(InstanceFileError, match="is a directory"):
        save_instance(make(), tmp_path / "dir.npz")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InstanceFileError, match="not a directory"):
        load_instance(tmp_path / "file" / "inst.npz")
