"""The framing between ``greedybench compare`` and its solver process (:mod:`.sandbox`,
:mod:`._worker`): a frame is two little-endian u64 lengths, a JSON header and a payload (arrays as
``.npz`` bytes, read with ``allow_pickle=False``; never pickle)."""

from __future__ import annotations

import json
import struct

__all__ = ["FRAME", "read_frame", "write_frame"]

FRAME = struct.Struct("<QQ")


def _read_exact(fh, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = fh.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_frame(fh):
    """``(header dict, payload bytes)`` from a binary file object (EOFError at its end)."""
    hlen, plen = FRAME.unpack(_read_exact(fh, FRAME.size))
    return json.loads(_read_exact(fh, hlen).decode()), _read_exact(fh, plen)


def write_frame(fh, header: dict, payload: bytes = b"") -> None:
    h = json.dumps(header).encode()
    fh.write(FRAME.pack(len(h), len(payload)) + h + payload)
    fh.flush()
