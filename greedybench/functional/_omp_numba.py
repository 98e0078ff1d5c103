"""Compiled per-signal Batch-OMP for a shared real A on CPU (numba; optional dependency).

``omp`` dispatches here (``greedybench.functional.omp._fast``) for a shared, real, float32/float64
A on CPU without ``return_path``; everything else keeps the batched torch engines. Importing this
module raises ImportError where numba is not installed, and ``omp`` then keeps the torch path.

Per signal (Rubinstein, Zibulevsky & Elad 2008), with G = A^T A (N, N) and alpha0 = A^T y computed
for the block by one GEMM outside the kernel:

- selection: j = argmax_p |w_p c_p| over the atoms not chosen yet (first index on ties);
- the inverse-Cholesky row of the new atom from g = G[S, j] (``_cholesky``: w = Linv g,
  nu^2 = G[j, j] - ||w||^2, row = [-(w^T Linv) / nu, 1 / nu]); the same dependency test as the
  torch engines, ``nu^2 <= 16 (k + 1) eps G[j, j]`` or a zero statistic stops the signal;
- z = row . alpha0[S], x_S += z row; row j of G is copied into a per-signal buffer Gs (n, N);
- the correlations c = alpha0 - G[:, S] x_S = alpha0 - sum_i x_i Gs[i, :] from Gs (contiguous
  rows in L1/L2, eight rows per pass over c), and ||r||^2 downdated by z^2 (or formed from
  r = y - A_S x_S when tol is tiny), exactly the stopping rules of the torch engines.

Cost per signal: 2 N k flops for iteration k's correlations (N n^2 in all), 2 k^2 for the factor,
N (n + 1) for the selections; bytes: one row of G (8 N in float64) copied per iteration from the
shared G, the rest from the per-signal buffers (n N + N elements) that stay in a core's cache.
The batched torch engine instead gathers the k rows from G for every signal and pass (a
memory-bound ``addmm`` over a CSR matrix) and makes ~40 passes over the (block, N) arrays.

``cache=True`` stores the machine code next to this file (or in numba's user cache), so the JIT
compiles once per machine and signature; ``nogil=True`` lets the single-threaded pool workers of
``_omp_parallel`` run blocks at once.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def _correlations(c, a0, Gs, coef, k):
    """c = a0 + sum_{i < k} coef[i] Gs[i] (coef = -x_S), eight rows of Gs per pass over c (one
    load and store of c per 16 flops; fused multiply-adds allowed, nothing else reassociated)."""
    N = c.shape[0]
    for p in range(N):
        c[p] = a0[p]
    i = 0
    while i + 8 <= k:
        c0, c1, c2, c3 = coef[i], coef[i + 1], coef[i + 2], coef[i + 3]
        c4, c5, c6, c7 = coef[i + 4], coef[i + 5], coef[i + 6], coef[i + 7]
        g0, g1, g2, g3 = Gs[i], Gs[i + 1], Gs[i + 2], Gs[i + 3]
        g4, g5, g6, g7 = Gs[i + 4], Gs[i + 5], Gs[i + 6], Gs[i + 7]
        for p in range(N):
            c[p] += ((c0 * g0[p] + c1 * g1[p]) + (c2 * g2[p] + c3 * g3[p])) + \
                ((c4 * g4[p] + c5 * g5[p]) + (c6 * g6[p] + c7 * g7[p]))
        i += 8
    while i + 2 <= k:
        c0, c1 = coef[i], coef[i + 1]
        g0, g1 = Gs[i], Gs[i + 1]
        for p in range(N):
            c[p] += c0 * g0[p] + c1 * g1[p]
        i += 2
    if i < k:
        ci = coef[i]
        gi = Gs[i]
        for p in range(N):
            c[p] += ci * gi[p]


@numba.njit(nogil=True, cache=True)
def omp_gram_block(G, alpha0, wabs, y, At, ynorm2, thr2, n, eps, dep_factor, use_tol, exact_resid,
                   out):
    """OMP on a block of signals with a shared real A, Gram form; writes x into out (zeros).

    G (N, N) = A^T A (symmetric); alpha0 (b, N) = Y A; wabs (0, N) (no weights), (1, N) (shared)
    or (b, N): |w|; y (b, m) and At (N, m) = A^T, read only when ``exact_resid``; ynorm2, thr2 (b,)
    ||y||^2 and tol^2 ||y||^2, read only when ``use_tol``; out (b, N) float, zero on entry."""
    b, N = alpha0.shape
    m = y.shape[1]
    dt = alpha0.dtype
    Gs = np.empty((n, N), dt)              # rows G[S_i, :] of the chosen atoms
    Linv = np.zeros((n, n), dt)            # inverse Cholesky factor of A_S^T A_S
    coef = np.empty(n, dt)                 # -x_S
    a0S = np.empty(n, dt)                  # alpha0 on the support
    w = np.empty(n, dt)
    sel = np.empty(n, np.int64)
    c = np.empty(N, dt)
    chosen = np.zeros(N, np.bool_)
    r = np.empty(m, dt)
    nw = wabs.shape[0]
    zero = np.zeros(1, dt)[0]              # accumulators in A's precision, as the torch engines
    for s in range(b):
        a0 = alpha0[s]
        rn2 = ynorm2[s] if use_tol else zero
        if use_tol and not rn2 > thr2[s]:
            continue
        for p in range(N):
            c[p] = a0[p]
        k_done = 0
        for k in range(n):
            # ---- selection
            best = -np.inf
            j = 0
            if nw == 0:
                for p in range(N):
                    v = abs(c[p])
                    if v > best and not chosen[p]:
                        best = v
                        j = p
            else:
                wr = wabs[s] if nw > 1 else wabs[0]
                for p in range(N):
                    v = abs(c[p]) * wr[p]
                    if v > best and not chosen[p]:
                        best = v
                        j = p
            # ---- inverse-Cholesky row: w = Linv g, g_i = G[S_i, j]
            nrm2 = G[j, j]
            wn2 = zero
            for i in range(k):
                acc = zero
                for l in range(i + 1):
                    acc += Linv[i, l] * Gs[l, j]
                w[i] = acc
                wn2 += acc * acc
            nu2 = nrm2 - wn2
            if not (best > 0 and nu2 > dep_factor * (k + 1) * eps * nrm2):
                break
            inv_nu = 1.0 / np.sqrt(nu2)
            for l in range(k):                 # -(w^T Linv) / nu
                acc = zero
                for i in range(l, k):
                    acc += w[i] * Linv[i, l]
                Linv[k, l] = -acc * inv_nu
            Linv[k, k] = inv_nu
            sel[k] = j
            chosen[j] = True
            a0S[k] = a0[j]
            z = zero
            for l in range(k + 1):
                z += Linv[k, l] * a0S[l]
            coef[k] = zero
            for l in range(k + 1):
                coef[l] -= Linv[k, l] * z
            Gj = G[j]
            Gk = Gs[k]
            for p in range(N):
                Gk[p] = Gj[p]
            k_done = k + 1
            # ---- correlations for the next selection, residual norm for tol
            if k + 1 < n:
                _correlations(c, a0, Gs, coef, k + 1)
            if use_tol:
                if exact_resid:
                    for q in range(m):
                        r[q] = y[s, q]
                    for l in range(k + 1):
                        cl = coef[l]
                        arow = At[sel[l]]
                        for q in range(m):
                            r[q] += cl * arow[q]
                    rn2 = zero
                    for q in range(m):
                        rn2 += r[q] * r[q]
                else:
                    rn2 = max(rn2 - z * z, zero)
                if not rn2 > thr2[s]:
                    break
        xo = out[s]
        for l in range(k_done):
            xo[sel[l]] -= coef[l]
            chosen[sel[l]] = False
        for i in range(k_done):
            for l in range(i + 1):
                Linv[i, l] = 0.0
