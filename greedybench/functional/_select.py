"""Selection and bookkeeping shared by the thresholding solvers (IHT, NIHT, HTP, CoSaMP, SP).

Conventions (docs/architecture.md): x (B, N); index sets idx (B, k) with an optional bool
``valid`` (B, k) marking real entries of a fixed-size (padded) set; weights are pre-processed once
by :func:`prepare_weights` into ``w = |weights|`` of shape (N,) or (B, N), or None.

Selection statistic: ``|w * u|`` (weights multiply the statistic only, reference section 3.1). An
index with ``w_j = 0`` is *forbidden*: it may fill a top-s slot when fewer than s indices are
allowed (top-k needs exactly k), but such slots are marked invalid and never carry a value.
Statistics are computed on detached tensors: selection is discrete, only the kept values carry
gradients.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import torch

from .._validation import check_int, check_problem
from ._linalg import gather_columns, lstsq, residual, rmatvec, solve_normal


def prepare_weights(weights: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """|weights| (only the modulus matters), or None for the unweighted solver."""
    return None if weights is None else weights.abs()


def scores(u: torch.Tensor, w: Optional[torch.Tensor], out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Selection statistic |w * u| (real, detached: the selection is piecewise constant in u and
    w, so no gradient flows through it): (B, N), optionally into a buffer ``out``."""
    sc = u.detach().abs() if out is None else torch.abs(u.detach(), out=out)
    return sc if w is None else sc.mul_(w.detach())


def gather_weights(w: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """w at idx for shared (N,) or per-problem (B, N) weights: (B, k)."""
    return w[idx] if w.dim() == 1 else w.gather(1, idx)


@lru_cache(maxsize=256)
def _chunk_length(N: int, s: int) -> int:
    """Chunk length L for the two-stage CPU top-s (1: plain top-k is as cheap)."""
    best, best_cost = 1, 0.6 * N  # require a clear gain over one top-k of width N
    for L in range(2, N // s + 1):
        if N % L == 0:
            cost = N // L + s * L
            if cost < best_cost:
                best, best_cost = L, cost
    return best


class Workspace:
    """Named scratch buffers reused across iterations (no autograd through them).

    Large temporaries allocated anew every iteration cost page faults on CPU (glibc returns big
    blocks to the OS); a loop that passes one Workspace to the selection helpers allocates them
    once. ``None`` in place of a Workspace means "allocate".
    """

    def __init__(self):
        self._bufs = {}

    def get(self, name: str, shape, dtype, device) -> torch.Tensor:
        buf = self._bufs.get(name)
        if buf is None or buf.shape != torch.Size(shape) or buf.dtype != dtype or buf.device != device:
            buf = self._bufs[name] = torch.empty(shape, dtype=dtype, device=device)
        return buf


def _buf(ws: Optional[Workspace], name, shape, like: torch.Tensor, dtype=None):
    if ws is None:
        return None
    return ws.get(name, shape, like.dtype if dtype is None else dtype, like.device)


def top_s(stat: torch.Tensor, s: int, ws: Optional[Workspace] = None) -> torch.Tensor:
    """Indices (B, s) of the s largest entries of a real statistic (B, N), unordered.

    On CPU, when it pays, a two-stage exact selection: split each row into c = N / L chunks
    (c >= s), take the s chunks with the largest maxima, then the top-s of those s L entries.
    Exact: every entry of a top-s set lies in such a chunk or is tied with s chunk maxima, so the
    selected *values* are those of a plain top-k (only the choice among ties may differ). CPU
    top-k costs about 8-15 ns per scanned entry; this scans N / L + s L instead of N
    (L ~ sqrt(N / s): 2x fewer for N = 512, s = 32; 2.6x for N = 400, s = 15). Other devices
    use torch.topk directly. ``ws`` holds the intermediates; the result is a fresh tensor.
    """
    B, N = stat.shape
    if stat.device.type == "cpu" and N >= 64:
        L = _chunk_length(N, s)
        if L > 1:
            c = N // L
            v = stat.contiguous().view(B, c, L)
            cm = torch.maximum(v[..., 0], v[..., 1], out=_buf(ws, "cm", (B, c), stat))
            for j in range(2, L):  # L - 1 strided elementwise passes: faster than amax over L
                torch.maximum(cm, v[..., j], out=cm)
            ci = _topk_idx(cm, s, ws, "c")
            # column indices of the s chosen chunks (no integer division needed afterwards)
            cols = torch.add(torch.arange(L, device=ci.device), ci.unsqueeze(-1), alpha=L,
                             out=_buf(ws, "cols", (B, s, L), ci, torch.int64)).view(B, s * L)
            sub = torch.gather(stat, 1, cols, out=_buf(ws, "sub", (B, s * L), stat))
            return cols.gather(1, _topk_idx(sub, s, ws, "s"))
    return _topk_idx(stat, s, None, "f")  # the result must not live in a scratch buffer


def count_ge(stat: torch.Tensor, t: torch.Tensor, ws: Optional[Workspace] = None) -> torch.Tensor:
    """Number of entries >= t in each row of stat (B, N), t (B, 1): (B,) int64, exact.

    The compare writes one byte per entry; summing those bytes as int64 words adds 8 of them per
    add (each byte lane of the word sum counts the ones at that position: no carries while a row
    has <= 255 words, N <= 2040), then the 8 lane counts of the (B,) result are added. One pass
    over the bytes instead of a widening cast and a sum (~20x faster at N = 400). Wider rows sum
    the bytes directly.
    """
    B, N = stat.shape
    words = -(-N // 8)
    if words > 255:
        ge = torch.ge(stat, t, out=_buf(ws, "ge", stat.shape, stat, torch.bool))
        return ge.view(torch.uint8).sum(1, dtype=torch.int64)
    full = _buf(ws, "ge8", (B, 8 * words), stat, torch.bool)
    if full is None:
        full = torch.empty(B, 8 * words, dtype=torch.bool, device=stat.device)
    full[:, N:] = False                                            # padding, counted as zeros
    torch.ge(stat, t, out=full[:, :N])
    lanes = full.view(torch.int64).sum(1)                          # (B,) 8 byte-wide counters
    return lanes.view(torch.uint8).view(B, 8).sum(1, dtype=torch.int64)


def top_s_warm(stat: torch.Tensor, s: int, prev: Optional[torch.Tensor],
               ws: Optional[Workspace] = None) -> torch.Tensor:
    """:func:`top_s`, reusing the previous index set ``prev`` (B, s) where it is still exact.

    A row keeps ``prev`` when exactly s entries are >= t = min(stat[prev]): then no other entry
    reaches t and ``prev`` is the unique top-s set (one compare-and-count pass instead of a
    selection; GAGA's "re-select only when the support may have changed"). Rows that fail are
    re-selected (a row gather of the statistic, then :func:`top_s`). CPU only (it reads a count back to the
    host); elsewhere, or with ``prev = None``, this is :func:`top_s`.
    """
    if prev is None or stat.device.type != "cpu":
        return top_s(stat, s, ws)
    B = stat.shape[0]
    t = stat.gather(1, prev).amin(1, keepdim=True)
    stale = count_ge(stat, t, ws) != s
    n_stale = int(stale.sum())
    if n_stale == 0:
        return prev
    if n_stale == B:
        return top_s(stat, s, ws)
    rows = stale.nonzero().squeeze(1)
    idx = prev.clone()
    idx[rows] = top_s(stat[rows], s)
    return idx


def _topk_idx(stat, k, ws, tag):
    """top-k indices; with ``ws`` both outputs are scratch buffers (intermediate use only)."""
    if ws is None:
        return torch.topk(stat, k, dim=-1, largest=True, sorted=False).indices
    B = stat.shape[0]
    vals = _buf(ws, "tkv" + tag, (B, k), stat)
    idx = _buf(ws, "tki" + tag, (B, k), stat, torch.int64)
    return torch.topk(stat, k, dim=-1, largest=True, sorted=False, out=(vals, idx))[1]


def select(u: torch.Tensor, s: int, w: Optional[torch.Tensor], ws: Optional[Workspace] = None,
           prev: Optional[torch.Tensor] = None):
    """Top-s of |w * u|: indices (B, s) and validity (B, s) (False only for forbidden indices).

    ``ws``: optional Workspace for the (B, N) statistic and the top-s scratch. ``prev``: the
    previous index set, reused where still exact (:func:`top_s_warm`)."""
    out = None if ws is None else ws.get("stat", u.shape, u.real.dtype, u.device)
    idx = top_s_warm(scores(u, w, out), s, prev, ws)
    valid = None if w is None else gather_weights(w, idx) != 0
    return idx, valid


def scatter_values(vals: torch.Tensor, idx: torch.Tensor, N: int,
                   valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Dense (B, N) with ``vals`` (B, k) at distinct columns ``idx``; invalid slots give 0."""
    if valid is not None:
        vals = vals * valid.to(vals.real.dtype)
    return vals.new_zeros(vals.shape[0], N).scatter_(1, idx, vals)


def threshold_sparse(u: torch.Tensor, s: int, w: Optional[torch.Tensor],
                     ws: Optional[Workspace] = None, prev: Optional[torch.Tensor] = None):
    """H_s in sparse form: idx (B, s), valid (B, s) or None, vals (B, s) = u at idx (zero on
    invalid slots). One statistic pass, one top-s, one gather; no dense output. ``ws``, ``prev``:
    see :func:`select`."""
    idx, valid = select(u, s, w, ws, prev)
    vals = u.gather(1, idx)
    if valid is not None:
        vals = vals * valid.to(vals.real.dtype)
    return idx, valid, vals


def hard_threshold(u: torch.Tensor, s: int, w: Optional[torch.Tensor]):
    """H_s: keep the (unweighted) values of u on the top-s of |w * u|, zero elsewhere.

    Returns x (B, N), idx (B, s), valid (B, s) or None, and vals (B, s) = x at idx (zero on
    invalid slots). One top-k, one gather, one scatter.
    """
    idx, valid, vals = threshold_sparse(u, s, w)
    return vals.new_zeros(u.shape).scatter_(1, idx, vals), idx, valid, vals


def support_mask(idx: torch.Tensor, N: int, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Bool (B, N) indicator of the valid entries of idx."""
    src = torch.ones_like(idx, dtype=torch.bool) if valid is None else valid
    return torch.zeros(idx.shape[0], N, dtype=torch.bool, device=idx.device).scatter_(1, idx, src)


def merge(stat: torch.Tensor, k_new: int, prev: torch.Tensor, k: int,
          w: Optional[torch.Tensor]):
    """Fixed-size merged index set: top-``k_new`` of ``stat`` united with the ``prev`` support.

    stat : (B, N) selection statistic (already weighted); prev : bool (B, N) current support.
    k : slots of the result (>= the largest possible union, or a cap such as m). When the union
    is larger than k the previous support is kept first, then candidates by decreasing statistic.
    Returns idx (B, k) of distinct columns and valid (B, k): real members of the union that are
    not forbidden (padding slots point at other distinct columns and are invalid).
    """
    cand = top_s(stat, k_new)
    inf = torch.tensor(float("inf"), dtype=stat.dtype, device=stat.device)
    pri = torch.full_like(stat, -1.0).scatter_(1, cand, stat.gather(1, cand))
    pri = torch.where(prev, inf, pri)
    idx = top_s(pri, k)
    valid = pri.gather(1, idx) >= 0
    if w is not None:
        valid &= gather_weights(w, idx) != 0
    return idx, valid


class SupportLS:
    """Least squares of y on column subsets of one A, for a whole iteration loop (HTP, CoSaMP, SP).

    ``solve(idx, valid)`` returns z (B, k), the LS coefficients of y on the columns idx (B, k)
    (padding slots, ``valid = False``, get exactly 0). With a shared A and enough work to amortise
    it, the Gram matrix A^H A (N, N) and A^H y are formed once and each solve gathers a (B, k, k)
    block of it instead of the (B, m, k) columns (B k^2 reads instead of B m k reads plus a
    2 B m k^2 batched product); otherwise the columns are gathered and :func:`_linalg.lstsq` used.
    Both end in the same Cholesky of the normal equations and the same exact fallback for rank-
    deficient sets. ``residual(idx, vals)`` is y - A x for x with values vals on idx.
    ``sync_free``: see :func:`_linalg.solve_normal` (True off the CPU).

    The Gram path is used when A is shared, N^2 <= 2^25 and N^2 <= 4 B k_max^2 (the Gram costs
    about as much as four iterations of column gathers).
    """

    def __init__(self, A: torch.Tensor, y: torch.Tensor, k_max: int, *, use_gram: Optional[bool] = None):
        self.A, self.y = A, y
        self.sync_free = not host_reads_are_free(y)
        B, N = y.shape[0], A.shape[-1]
        if use_gram is None:
            use_gram = A.dim() == 2 and N * N <= 2 ** 25 and N * N <= 4 * B * k_max * k_max
        self.gram = A.mH @ A if use_gram else None
        self.Aty = rmatvec(A, y) if use_gram else None
        self.A_t = A.mT.contiguous() if (A.dim() == 2 and A.device.type == "cpu") else None

    def solve(self, idx: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
        A, y = self.A, self.y
        if self.gram is None:
            return lstsq(gather_columns(A, idx), y, valid, sync_free=self.sync_free)
        G = self.gram[idx.unsqueeze(-1), idx.unsqueeze(-2)]
        return solve_normal(G, self.Aty.gather(1, idx), valid, sync_free=self.sync_free,
                            fallback=lambda bad: (gather_columns(A, idx[bad]), y[bad]))

    def residual(self, idx: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
        return residual(self.A, None, self.y, (idx, vals), A_t=self.A_t)


def freeze(active: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-problem update: new where active (B,), old elsewhere (frozen problems keep theirs)."""
    return torch.where(active.view(-1, *([1] * (new.dim() - 1))), new, old)


def sq_norm(v: torch.Tensor) -> torch.Tensor:
    """||v||^2 over the last axis, real: (B,)."""
    return torch.linalg.vector_norm(v, dim=-1).square() if v.is_complex() else (v * v).sum(-1)


def sq_norm_ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a||^2 / ||b||^2 per row (B,), scale-safe: both are divided by max |a| first (b is a
    linear image of a), so data at 1e-150 or 1e150 neither underflows nor overflows. 0 where
    a = 0; huge where only b = 0."""
    tiny = torch.finfo(a.real.dtype).tiny
    c = a.detach().abs().amax(-1, keepdim=True).clamp_min(tiny)
    return sq_norm(a / c) / sq_norm(b / c).clamp_min(tiny)


class Path:
    """Iterate bookkeeping: collects x^0 .. x^n_iter when enabled (early stops repeat the last).

    ``finish(x)`` returns x, or the (B, n_iter + 1, N) path whose last iterate is x.
    """

    def __init__(self, x0: torch.Tensor, n_iter: int, enabled: bool):
        self.n_iter = n_iter
        self.xs = [x0] if enabled else None

    def record(self, x: torch.Tensor) -> None:
        if self.xs is not None:
            self.xs.append(x)

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        if self.xs is None:
            return x
        self.xs.extend([x] * (self.n_iter + 1 - len(self.xs)))
        return torch.stack(self.xs, dim=1)


def host_reads_are_free(t: torch.Tensor) -> bool:
    """True on CPU, where reading a flag back costs nothing (exact lstsq fallback is used)."""
    return t.device.type == "cpu"


def prune(z: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor, s: int,
          w: Optional[torch.Tensor]):
    """Keep the top-s of |w * z| among the valid slots of a merged set (CoSaMP / SP prune).

    z, idx, valid : (B, k) coefficients, columns and validity of the merged set.
    Returns loc (B, s) slot positions, idx_s, valid_s, z_s (B, s).
    """
    stat = z.detach().abs()
    if w is not None:
        stat = stat * gather_weights(w, idx)
    stat = stat.masked_fill(~valid, -1.0)
    loc = top_s(stat, s)
    return loc, idx.gather(1, loc), valid.gather(1, loc), z.gather(1, loc)


def validate(caller: str, A, y, s, n_iter, weights):
    """The checks every thresholding solver shares: problem, weights, 1 <= s <= min(m, N), n_iter >= 1.

    Returns (A, y, s, n_iter, w) with ``w = |weights|`` or None.
    """
    p = check_problem(A, y, caller=caller, weights=weights)
    s = check_int("s", s, caller=caller, low=1, high=min(p.m, p.N),
                  high_name=f"min(m, N) = min({p.m}, {p.N})")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    return p.A, p.y, s, n_iter, prepare_weights(p.weights)
