"""CPU execution of OMP over contiguous blocks of the batch: block sizes, thread policy, pool.

Why blocks and independent workers (measured on a 2-core machine, torch 2.13, MKL):

- Every iteration of the batched OMP touches a few (B, N) arrays (|c|, the mask, argmax, the
  correlation update). At B = 5000, N = 2048 in float64 that is 80 MB per array and pass, far
  outside any cache; blocks of ``_BLOCK_BYTES`` per array keep them in L2/L3.
- Intra-op (OpenMP) threading splits each of the ~40 small operations of an iteration between the
  threads and joins them after each: with another busy process on the same cores one descheduled
  thread stalls the others at every join, and the solve became 6-13x slower than on one thread.
  Here each worker thread runs whole blocks single-threaded (``torch.set_num_threads(1)`` inside
  the worker: OpenMP and MKL thread counts are per thread), so no worker ever waits for another;
  a busy core only slows the blocks that run on it.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import torch

# bytes of one (block, N) array: small enough that the few arrays of a block stay in a core's L2
_BLOCK_BYTES = 2 * 2**20
# no block below this many problems (per-iteration Python/dispatch overhead is ~40 operations)
_MIN_BLOCK = 64
# single-thread estimate (seconds) below which a call runs inline: the pool handoff is ~0.1 ms
_MIN_PARALLEL_SECONDS = 2e-3
# single-core rate (flop/s) of the GEMMs on the target machines, for the thread policy only
_GEMM_RATE = 5e10

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _single_threaded_worker() -> None:
    # get_num_threads() first runs torch's per-thread lazy initialisation, which would otherwise
    # run at the worker's first operation and reset its thread count to the process default
    torch.get_num_threads()
    torch.set_num_threads(1)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of at least ``workers`` single-threaded workers (created once)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="greedybench-omp",
                                       initializer=_single_threaded_worker)
            _pool_size = workers
            # start every worker now, then restore torch's process-wide default (a worker's
            # set_num_threads(1) also lowers the count that threads created later start with)
            main_threads = torch.get_num_threads()
            barrier = threading.Barrier(workers)
            list(_pool.map(lambda _: barrier.wait(), range(workers)))
            torch.set_num_threads(main_threads)
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def block_size(B: int, N: int, element_size: int) -> int:
    """Problems per block: (block, N) arrays of about ``_BLOCK_BYTES``, at least ``_MIN_BLOCK``."""
    return max(_MIN_BLOCK, _BLOCK_BYTES // max(1, N * element_size))


def blocks(B: int, size: int, min_blocks: int = 1) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges covering range(B), equal up to one, at most ``size`` long
    and at least ``min_blocks`` of them (when B allows)."""
    n = max(min(B, min_blocks), math.ceil(B / max(1, size)), 1)
    edges = [round(i * B / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def workers_for(flops: float, device: torch.device) -> int:
    """Thread policy: how many single-threaded workers a job of ``flops`` (GEMM-equivalent) gets.

    torch.get_num_threads() on CPU (the user's setting), 1 below ``_MIN_PARALLEL_SECONDS`` of
    single-thread work, and 1 (no pool) on accelerators."""
    if device.type != "cpu":
        return 1
    threads = torch.get_num_threads()
    if threads <= 1 or flops < _MIN_PARALLEL_SECONDS * _GEMM_RATE:
        return 1
    return threads


def run(tasks: Sequence[Callable[[], object]], workers: int) -> list:
    """Results of ``tasks`` in order, each run single-threaded: inline when torch runs one thread
    (or inside a worker), else on the pool, by ``workers`` workers at once (all tasks on one
    worker, in order, when ``workers <= 1``: no intra-op threads to stall on a busy core)."""
    if torch.get_num_threads() <= 1 or threading.current_thread().name.startswith("greedybench-omp"):
        return [t() for t in tasks]
    if workers <= 1 or len(tasks) <= 1:
        return _get_pool(1).submit(lambda: [t() for t in tasks]).result()
    pool = _get_pool(workers)
    return [f.result() for f in [pool.submit(t) for t in tasks]]


def gram_t(A: torch.Tensor, workers: int) -> torch.Tensor:
    """``A^T conj(A)`` (N, N) for a shared A (m, N), Hermitian by construction.

    Column panels of the upper triangle only (about 5/8 of the 2 m N^2 flops with 4 panels), one
    task per panel, then mirrored."""
    N = A.shape[1]
    panels = 4 if N >= 256 else 1
    if panels == 1:
        return A.mT @ A.conj()
    At, Ac = A.mT, A.conj()
    U = torch.empty(N, N, dtype=A.dtype, device=A.device)
    # equal-flop panels: panel p covers columns up to N sqrt((p + 1) / panels)
    edges = [0] + [int(round(N * math.sqrt((p + 1) / panels))) for p in range(panels)]

    def panel(c0: int, c1: int):
        def f():
            U[:c1, c0:c1] = At[:c1] @ Ac[:, c0:c1]
        return f

    run([panel(edges[p], edges[p + 1]) for p in range(panels) if edges[p + 1] > edges[p]], workers)
    upper = U.triu()
    return upper + upper.triu(1).mH
