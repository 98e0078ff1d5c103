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

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from greedybench._validation import GreedybenchError, InvalidParameterError
from greedybench.storage import atomic_open

from .instance import FORMAT_VERSION, Instance, _check_device, canonical_json

__all__ = ["InstanceFileError", "InstanceFileNotFoundError", "save_instance", "load_instance",
           "checksum"]

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
    path = Path(os.fspath(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InstanceFileNotFoundError(f"{caller}: directory {str(directory)!r} does not exist.")
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
                zipfile.LargeZipFile, NotImplementedError)


def load_instance(path, *, device="cpu") -> Instance:
    """Read and verify an instance file written by :func:`save_instance`; tensors go to ``device``.

    Raises :class:`InstanceFileError` (:class:`InstanceFileNotFoundError` for a missing file) with
    a message naming the problem.
    """
    caller = "load_instance"
    path = Path(os.fspath(path))
    dev = _check_device(device, caller)
    where = f"{caller}: {str(path)!r}"
    if not path.exists():
        raise InstanceFileNotFoundError(f"{where}: no such file.")
    if not path.is_file():
        raise InstanceFileError(f"{where}: not a regular file.")
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise InstanceFileError(f"{where}: not a readable instance file (truncated or corrupt archive: {exc}).") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InstanceFileError(f"{where}: not an instance file (a single .npy array, not an .npz archive).")
    with npz:
        keys = set(npz.files)
        if "meta" not in keys:
            raise InstanceFileError(f"{where}: missing key(s) 'meta' (found {sorted(keys)}).")
        try:
            raw = npz["meta"]
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

        arrays = {}
        for name in ARRAY_KEYS:
            try:
                a = npz[name]
            except _READ_ERRORS as exc:
                raise InstanceFileError(f"{where}: array {name!r} is unreadable (corrupt archive: {exc}).") from exc
            if a.dtype.newbyteorder("<").str not in _ALLOWED_DTYPES and a.dtype.str not in _ALLOWED_DTYPES:
                raise InstanceFileError(f"{where}: array {name!r} has unsupported dtype {a.dtype}.")
            arrays[name] = _canonical_array(a)

    actual = checksum(arrays, meta)
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
    return inst.to(dev) if dev.type != "cpu" else inst
