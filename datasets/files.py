"""Instance files: one portable ``.npz`` per instance, no pickle, checksummed, written atomically.

Format (``format_version`` 1)
-----------------------------
A ZIP archive (stored, not compressed) readable by ``numpy.load(path, allow_pickle=False)`` with
exactly five ``.npy`` members:

====================  ==========================================================================
``A``                 (m, N) or (B, m, N); float32/float64, or complex64/complex128
``X``                 (B, N); float32/float64
``Y``                 (B, m); A's dtype
``support``           (B, s); int64, sorted per row
``meta``              uint8: UTF-8 canonical JSON (sorted keys, no whitespace) of the instance's
                      meta dict plus ``"sha256"``
====================  ==========================================================================

``meta["format_version"]`` (int) is the layout version; a reader refuses a newer one. The
checksum ``meta["sha256"]`` is the hex SHA-256 of, for each array in name order (A, X, Y, support):
the line ``{"dtype":"<f8","name":"A","shape":[m,N]}\\n`` (canonical JSON, numpy little-endian dtype
string) followed by the array's bytes in C order, little-endian; then ``meta\\n`` followed by the
canonical JSON of meta without the ``sha256`` key. Member timestamps are fixed (1980-01-01), so
saving the same instance twice gives byte-identical files.

:func:`save_instance` writes a temporary file in the target directory, fsyncs it and renames it
over ``path`` (``os.replace``), so a reader never sees a partial file. :func:`load_instance`
raises :class:`InstanceFileError` for a missing file, a truncated or corrupt archive, missing or
unexpected members, a newer ``format_version``, a checksum mismatch, or inconsistent arrays.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from greedybench._validation import GreedybenchError, InvalidParameterError, all_finite
from greedybench.storage import atomic_open

from .instance import FORMAT_VERSION, Instance, _check_device, canonical_json

__all__ = ["InstanceFileError", "InstanceFileNotFoundError", "save_instance", "load_instance",
           "checksum", "check_instance_matches"]

ARRAY_KEYS = ("A", "X", "Y", "support")
_ALLOWED_DTYPES = {"<f4", "<f8", "<c8", "<c16", "<i8"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class InstanceFileError(GreedybenchError, ValueError):
    """An instance file is missing, corrupt, tampered with, incomplete or from a newer version."""


class InstanceFileNotFoundError(InstanceFileError, FileNotFoundError):
    """The instance file (or the directory to write it in) does not exist."""


def _canonical_array(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))


def checksum(arrays: Dict[str, np.ndarray], meta: dict) -> str:
    """Hex SHA-256 over the arrays (name, dtype, shape, bytes) and meta without ``sha256``."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = _canonical_array(arrays[name])
        header = canonical_json({"name": name, "dtype": a.dtype.str, "shape": list(a.shape)}) + "\n"
        h.update(header.encode("ascii"))
        h.update(a.tobytes(order="C"))
    body = {k: v for k, v in meta.items() if k != "sha256"}
    h.update(b"meta\n" + canonical_json(body).encode("ascii"))
    return h.hexdigest()


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return _canonical_array(t.detach().resolve_conj().resolve_neg().cpu().numpy())


def save_instance(inst: Instance, path) -> Path:
    """Write ``inst`` to ``path`` (used as given, no suffix added) atomically; return the path."""
    caller = "save_instance"
    if not isinstance(inst, Instance):
        raise InvalidParameterError(f"{caller}: inst must be a greedybench.datasets.Instance; got {type(inst).__name__}.")
    path = _as_path(path, caller)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InstanceFileNotFoundError(f"{caller}: directory {str(directory)!r} does not exist.")
    if path.is_dir():
        raise InstanceFileError(f"{caller}: {str(path)!r} is a directory; give a file name.")
    arrays = {name: _to_numpy(getattr(inst, name)) for name in ARRAY_KEYS}
    meta = {k: v for k, v in inst.meta.items() if k != "sha256"}
    meta.setdefault("format_version", FORMAT_VERSION)
    try:
        meta["sha256"] = checksum(arrays, meta)
        meta_bytes = canonical_json(meta).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{caller}: inst.meta must be JSON-able (no NaN/Inf); {exc}.") from exc
    members = dict(arrays, meta=np.frombuffer(meta_bytes, dtype=np.uint8))

    with atomic_open(path, mkdir=False) as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, arr in members.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
    return path


_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile,
                zipfile.LargeZipFile, NotImplementedError, SyntaxError, OverflowError, MemoryError,
                TypeError, IndexError, RecursionError, struct.error, zlib.error, tokenize.TokenError)
#: largest .npy header accepted (save_instance writes 128 bytes; numpy's own limit is 10000)
MAX_HEADER_BYTES = 4096
_SHAPE_KEYS = ("m", "N", "s", "batch")


def _as_path(path, caller: str) -> Path:
    """A str, bytes or os.PathLike path as a Path; anything else is a clear InvalidParameterError."""
    try:
        p = os.fsdecode(os.fspath(path))
    except TypeError:
        raise InvalidParameterError(f"{caller}: path must be a str or os.PathLike; got "
                                    f"{type(path).__name__}.") from None
    if not p or "\x00" in p:
        raise InvalidParameterError(f"{caller}: path must be a non-empty file name without NUL bytes; got {p!r}.")
    return Path(p)


def _check_regular_file(path: Path, where: str) -> None:
    """Missing file, dangling symlink, symlink loop, directory, device: each named as such."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InstanceFileNotFoundError(f"{where}: dangling symlink (it points to "
                                            f"{os.readlink(path)!r}, which does not exist).") from None
        raise InstanceFileNotFoundError(f"{where}: no such file.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InstanceFileError(f"{where}: symlink loop (too many levels of symbolic links).") from None
        if exc.errno == errno.ENOTDIR:
            raise InstanceFileNotFoundError(f"{where}: a component of the path is not a directory.") from None
        raise InstanceFileError(f"{where}: cannot access the file ({exc.strerror}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise InstanceFileError(f"{where}: is a directory, not an instance file.")
    if not stat.S_ISREG(st.st_mode):
        raise InstanceFileError(f"{where}: not a regular file (a device, socket or pipe).")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One stored .npy member, its header checked against its size before anything is allocated."""
    name = info.filename[:-4]
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        allowed = _ALLOWED_DTYPES | {"|u1"} if name == "meta" else _ALLOWED_DTYPES
        if dtype.newbyteorder("<").str not in allowed and dtype.str not in allowed:
            raise InstanceFileError(f"{where}: array {name!r} has unsupported dtype {dtype}.")
        if not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 3:
            raise InstanceFileError(f"{where}: array {name!r} has an invalid shape {shape!r}.")
        count = math.prod(shape)
        body = info.file_size - fh.tell()
        if count * dtype.itemsize != body:
            raise InstanceFileError(
                f"{where}: array {name!r} declares shape {shape} of {dtype} ({count * dtype.itemsize} "
                f"bytes) but its member holds {body} bytes of data (corrupt or forged header).")
        data = bytearray(body)               # writable: the tensors share it, no second copy
        got = fh.readinto(data)              # the CRC-32 of the member is checked at its end
        if got != body or fh.read(1):
            raise EOFError(f"member {info.filename!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C")


def _read_archive(path: Path, where: str) -> Dict[str, np.ndarray]:
    """The members of an instance archive, after checking its directory: unique .npy names, each
    stored (not compressed), not encrypted, and no larger than the file."""
    size = path.stat().st_size
    with open(path, "rb") as raw, zipfile.ZipFile(raw) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InstanceFileError(f"{where}: duplicate member(s) {', '.join(map(repr, dup))} in the archive.")
        for info in infos:
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise InstanceFileError(f"{where}: unexpected member {info.filename!r} (not a top-level .npy array).")
            if info.flag_bits & 0x1:
                raise InstanceFileError(f"{where}: member {info.filename!r} is encrypted.")
            if info.compress_type != zipfile.ZIP_STORED:
                raise InstanceFileError(
                    f"{where}: member {info.filename!r} is compressed (method {info.compress_type}); the "
                    "format stores members uncompressed (ZIP_STORED), so a compressed one is not from save_instance.")
            if info.file_size != info.compress_size or info.file_size > size:
                raise InstanceFileError(
                    f"{where}: member {info.filename!r} declares {info.file_size} bytes in a {size}-byte "
                    "file (corrupt or forged archive directory).")
        return {i.filename[:-4]: _read_member(zf, i, where) for i in infos}


def _check_contents(inst: Instance, meta: dict, where: str) -> None:
    """What a forged but self-consistent file could still get wrong: non-finite values, support
    indices outside [0, N) or not strictly increasing, X nonzero off its support, latent supports
    outside T, and (noiseless files) Y != A X beyond rounding."""
    for name in ("A", "X", "Y"):
        if not all_finite(getattr(inst, name)):
            raise InstanceFileError(f"{where}: array {name!r} contains NaN or Inf.")
    S, N = inst.support, inst.N
    if S.numel():
        if int(S.min()) < 0 or int(S.max()) >= N:
            raise InstanceFileError(f"{where}: support indices must be in [0, N) = [0, {N}); got "
                                    f"[{int(S.min())}, {int(S.max())}].")
        if inst.s > 1 and not bool((S[:, 1:] > S[:, :-1]).all()):
            raise InstanceFileError(f"{where}: support rows must be strictly increasing (sorted, no repeats).")
        off = inst.X.clone().scatter_(1, S, 0.0)
        if bool(off.ne(0).any()):
            raise InstanceFileError(f"{where}: X has nonzero entries outside its support.")
        T = meta.get("T")
        if meta.get("signal") == "latent" and isinstance(T, list):
            inside = torch.isin(S, torch.as_tensor(T, dtype=torch.int64))
            if not bool(inside.all()):
                raise InstanceFileError(f"{where}: supports leave the latent model's hidden set T.")
    sigma = meta.get("sigma")
    if isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma == 0 and inst.B:
        A, X = inst.A.to(torch.complex128 if inst.A.is_complex() else torch.float64), inst.X.double()
        AX = X.to(A.dtype) @ A.mT if A.dim() == 2 else torch.einsum("bmn,bn->bm", A, X.to(A.dtype))
        scale = (X.abs() @ A.abs().mT if A.dim() == 2 else torch.einsum("bmn,bn->bm", A.abs(), X.abs()))
        Y = inst.Y.to(A.dtype)
        eps = torch.finfo(inst.X.dtype).eps
        bound = 4 * (inst.s + 2) * eps * (scale + Y.abs()) + torch.finfo(inst.X.dtype).tiny
        if bool(((Y - AX).abs() > bound).any()):
            worst = float(((Y - AX).abs() / (scale + Y.abs()).clamp_min(torch.finfo(torch.float64).tiny)).max())
            raise InstanceFileError(f"{where}: meta says sigma = 0 but Y != A X (relative deviation up to "
                                    f"{worst:.2g}, rounding allows ~{4 * (inst.s + 2) * eps:.1g}).")


def check_instance_matches(inst: Instance, expect: dict, *, where: str = "instance") -> Instance:
    """Refuse an instance that is not the one its place asks for (a valid file copied to the wrong
    path or cell). ``expect`` maps meta keys (``seed``, ``sigma``, ``ensemble``, ``dtype`` ...) or
    the sizes ``m``, ``N``, ``s``, ``batch`` (read from the arrays) to the expected values; a key
    missing from the file counts as a mismatch. Returns ``inst``."""
    if not isinstance(expect, dict):
        raise InvalidParameterError(f"check_instance_matches: expect must be a dict; got {type(expect).__name__}.")
    sizes = {"m": inst.m, "N": inst.N, "s": inst.s, "batch": inst.B}
    bad = []
    for key, want in expect.items():
        got = sizes[key] if key in sizes else inst.meta.get(key, "<missing>")
        if isinstance(want, bool) or isinstance(got, bool):
            same = got is want
        elif isinstance(want, float) and isinstance(got, (int, float)):
            same = math.isclose(float(got), want, rel_tol=1e-12, abs_tol=0.0)
        else:
            same = got == want
        if not same:
            bad.append(f"{key} = {got!r} in the file but {want!r} expected")
    if bad:
        raise InstanceFileError(f"{where}: not the instance expected here ({'; '.join(bad)}): a file copied "
                                "into the wrong place? Regenerate it (snakemake --force <slice dir>).")
    return inst


def load_instance(path, *, device="cpu", expect: Optional[dict] = None) -> Instance:
    """Read and verify an instance file written by :func:`save_instance`; tensors go to ``device``.

    ``expect`` (optional): what the caller's cell says the file must hold, checked with
    :func:`check_instance_matches` (e.g. ``{"m": 16, "s": 3, "N": 32, "seed": 1, "sigma": 0.0}``).

    Raises :class:`InstanceFileError` (:class:`InstanceFileNotFoundError` for a missing file) with
    a message naming the problem; a path of the wrong type is an InvalidParameterError.
    """
    caller = "load_instance"
    path = _as_path(path, caller)
    dev = _check_device(device, caller)
    where = f"{caller}: {str(path)!r}"
    if expect is not None and not isinstance(expect, dict):
        raise InvalidParameterError(f"{caller}: expect must be None or a dict; got {type(expect).__name__}.")
    _check_regular_file(path, where)
    try:
        members = _read_archive(path, where)
    except InstanceFileError:
        raise
    except _READ_ERRORS as exc:
        raise InstanceFileError(f"{where}: not a readable instance file (truncated or corrupt archive: "
                                f"{type(exc).__name__}: {exc}).") from exc
    keys = set(members)
    if "meta" not in keys:
        raise InstanceFileError(f"{where}: missing key(s) 'meta' (found {sorted(keys)}).")
    try:
        raw = members["meta"]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"meta must be a 1-d uint8 array, got {raw.dtype} {raw.shape}")
        meta = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
    except _READ_ERRORS as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InstanceFileError(f"{where}: corrupt meta ({exc}).") from exc

    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InstanceFileError(f"{where}: meta has no integer format_version (got {version!r}).")
    if version > FORMAT_VERSION:
        raise InstanceFileError(
            f"{where}: format_version {version} was written by a newer greedybench; this version "
            f"reads format_version <= {FORMAT_VERSION}. Upgrade greedybench.")
    if version < 1:
        raise InstanceFileError(f"{where}: unsupported format_version {version}.")
    missing = [k for k in ARRAY_KEYS if k not in keys]
    if missing:
        raise InstanceFileError(f"{where}: missing key(s) {', '.join(map(repr, missing))} "
                                f"(found {sorted(keys)}).")
    extra = sorted(keys - set(ARRAY_KEYS) - {"meta"})
    if extra:
        raise InstanceFileError(f"{where}: unexpected key(s) {', '.join(map(repr, extra))}.")
    expected = meta.get("sha256")
    if not isinstance(expected, str):
        raise InstanceFileError(f"{where}: meta has no sha256 checksum.")
    arrays = {name: _canonical_array(members[name]) for name in ARRAY_KEYS}

    try:
        actual = checksum(arrays, meta)
    except (TypeError, ValueError) as exc:  # meta values canonical JSON refuses
        raise InstanceFileError(f"{where}: corrupt meta ({exc}).") from exc
    if actual != expected:
        raise InstanceFileError(
            f"{where}: checksum mismatch (stored sha256 {expected[:12]}..., contents hash to "
            f"{actual[:12]}...): the file was modified or damaged after it was written.")
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    tensors = {k: torch.from_numpy(v.astype(v.dtype.newbyteorder("="), copy=False)) for k, v in arrays.items()}
    try:
        inst = Instance(meta=meta, **tensors)
    except GreedybenchError as exc:
        raise InstanceFileError(f"{where}: inconsistent contents ({exc}).") from exc
    dims = {"m": inst.m, "N": inst.N, "s": inst.s, "batch": inst.B}
    bad = {k: (meta.get(k), v) for k, v in dims.items() if k in meta and meta[k] != v}
    if bad:
        raise InstanceFileError(f"{where}: meta disagrees with the array shapes: "
                                + ", ".join(f"{k} = {a!r} in meta but {b} in the arrays" for k, (a, b) in bad.items()))
    _check_contents(inst, meta, where)
    if expect is not None:
        check_instance_matches(inst, expect, where=where)
    return inst.to(dev) if dev.type != "cpu" else inst
