"""Scratch buffers kept between calls, per thread, for the CPU hot loops.

PyTorch caches GPU memory but not CPU memory: a large CPU tensor is a fresh ``mmap`` that the
kernel zero-fills page by page on first touch. For Soft-OMP's (B, T, n, N) selection rows (48 MB
at B = 1000, n = 15, N = 400) that costs about as much as the GEMMs of three iterations. Kernels
that never return or retain these buffers take them from here instead: one buffer per name, per
thread (so concurrent calls from different threads never share one), reallocated when the shape,
dtype or device changes. Buffers larger than ``MAX_BYTES`` and non-CPU buffers are never kept.
``release()`` drops this thread's buffers.
"""

from __future__ import annotations

import threading

import torch

MAX_BYTES = 512 * 2**20
_local = threading.local()


def buffer(name: str, shape, dtype: torch.dtype, device) -> torch.Tensor:
    """An uninitialised tensor of ``shape``; the same storage as the last call with this name on
    this thread when that fits (contents are garbage either way)."""
    shape = torch.Size(shape)
    device = torch.device(device)
    nbytes = shape.numel() * torch.empty((), dtype=dtype).element_size()
    if device.type != "cpu" or nbytes > MAX_BYTES:
        return torch.empty(shape, dtype=dtype, device=device)
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    buf = pool.get(name)
    if buf is None or buf.dtype != dtype or buf.numel() < shape.numel():
        buf = pool[name] = torch.empty(shape.numel(), dtype=dtype, device=device)
    return buf[: shape.numel()].view(shape)


def release() -> None:
    """Free this thread's kept buffers."""
    _local.pool = {}
