"""Driver of the compiled OMP kernel (``_omp_numba``): whether it pays, and the blocks it runs.

numba is optional (the ``fast`` extra): ``kernel()`` imports ``_omp_numba`` on first use and gives
None where numba is missing, and ``omp`` then keeps its torch engines. ``omp`` decides in one
place (``omp._fast_kernel``); this module holds the cost model (``plan``) and the execution
(``solve``: G once, blocks of the batch on the pool of single-threaded workers of
``_omp_parallel``, which numba's ``nogil`` lets run at once).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from . import _omp_parallel as par

# Cost of one multiply-add of the compiled kernel's correlation update in GEMM flops (CPU, one
# core, measured: 6-7 GFLOP/s in the update against 22 GFLOP/s float64 GEMM on a loaded 2-core VM).
LOOP_COST = 8.0
# Smallest solve (residual-engine GEMM flops, ~0.1-0.3 s on one core) given to the compiled kernel:
# its first use in a process imports numba and loads the cached machine code (1-2 s measured),
# which small solves (tests, pipeline jobs over small problems) would not win back.
MIN_FLOPS = 5e9

_KERNEL: object = False   # not looked up yet; None: numba missing


def kernel():
    """``_omp_numba.omp_gram_block``, or None where numba is not installed (or cannot compile it:
    a RuntimeWarning says why).

    Imported on first use, not with greedybench: importing numba takes about a second."""
    global _KERNEL
    if _KERNEL is False:
        try:
            from ._omp_numba import omp_gram_block
        except ImportError:                   # numba not installed (or not for this numpy)
            omp_gram_block = None
        except RuntimeError as err:           # e.g. no writable cache location for cache=True
            warnings.warn(f"omp: the compiled kernel is unavailable ({err}); using the torch "
                          "engines (same results, slower)", RuntimeWarning, stacklevel=3)
            omp_gram_block = None
        _KERNEL = omp_gram_block
    return _KERNEL


def plan(m: int, N: int, B: int, n: int) -> bool:
    """Whether the compiled Gram kernel beats the batched residual engine (GEMM-flop units).

    With G: about 1.25 m N^2 to build it, then N n^2 / 2 multiply-adds per signal for the
    correlation updates at c_c = ``LOOP_COST`` GEMM flops each. Without: the torch
    residual engine's 2 B m N per iteration for A^T r. alpha0 = A^T y is common to both. Solves
    below ``MIN_FLOPS`` stay on the torch engines (numba's one-off import cost)."""
    with_g = 1.25 * m * N * N + B * LOOP_COST * N * n * n / 2
    without = B * 2.0 * m * N * (n - 1)
    return without >= MIN_FLOPS and with_g < without


def solve(kernel, A, y, n, weights, tol, eps, exact_resid, dep_factor):
    """Shared real A on CPU: G once, then blocks of the batch through the compiled kernel, on the
    pool of single-threaded workers (``_omp_parallel``); x (B, N)."""
    A, y = A.detach(), y.detach()                    # no_grad is per thread: the workers see none
    B, m = y.shape
    N = A.shape[1]
    dt = A.dtype
    flops = 2.0 * B * m * N + 2.0 * m * N * N + LOOP_COST * B * N * n * n / 2
    workers = par.workers_for(flops, A.device)
    G = par.gram_t(A, workers).numpy()               # symmetric (mirrored upper triangle)
    out = torch.zeros(B, N, dtype=dt)
    outn = out.numpy()
    At = A.mT.contiguous().numpy() if exact_resid else np.zeros((N, 0), dtype=G.dtype)
    if weights is None:
        wabs = np.zeros((0, N), dtype=G.dtype)
    else:
        wabs = weights.abs().to(dt).reshape(-1, N).contiguous().numpy()
    ranges = par.blocks(B, par.block_size(B, N, A.element_size()), workers)

    def task(i0, i1):
        def f():
            yb = y[i0:i1].contiguous()
            alpha0 = (yb @ A).numpy()                 # (b, N), one GEMM per block
            if tol is not None:
                yn2 = yb.square().sum(-1)
                ynorm2, thr2 = yn2.numpy(), ((tol * tol) * yn2).numpy()
            else:
                ynorm2 = thr2 = np.zeros(i1 - i0, dtype=G.dtype)
            wb = wabs[i0:i1] if wabs.shape[0] > 1 else wabs
            kernel(G, alpha0, wb, yb.numpy(), At, ynorm2, thr2, n, eps, dep_factor,
                   tol is not None, exact_resid, outn[i0:i1])
        return f

    par.run([task(i0, i1) for i0, i1 in ranges], workers)
    return out
