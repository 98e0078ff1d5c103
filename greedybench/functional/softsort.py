"""SoftSort (Prillo & Eisenschlos, ICML 2020), top-k rows only, with d = |.| (reference 2).

Row i of the soft permutation of a score vector v in R^N is

    P[i, j] = exp(-|v_[i] - v_j| / tau) / sum_l exp(-|v_[i] - v_l| / tau),

where v_[1] >= v_[2] >= ... are the entries of v in descending order. Only the first k rows are
ever formed (O(B k N) memory, never O(B N^2)). The logits are <= 0 with maximum 0 (the
self-entry), so nothing overflows for any tau > 0; for tiny tau the rows become exactly one-hot.

Private kernels used by the soft solvers (no validation, any leading batch shape ``(..., N)``;
``tau`` is a float or a tensor broadcastable to ``v.shape[:-1] + (1,)``):

- ``_softmax_top1(v, tau)``: row 1, which is exactly softmax(v / tau) (no sort).
- ``_softsort_rows(v, tau, k)``: rows 1..k, shape ``(..., k, N)``.
- ``_soft_topk_mask(v, tau, k)``: the column sums ``P[:k].sum(0)`` (Soft-IHT's mask) in
  O(k^2 + N) per vector, without forming the (k, N) rows.

The top-k index sets come from the hard solvers' selector (``_select.top_s`` / ``top_s_warm``:
exact, unordered, a two-stage selection on CPU and ``torch.topk`` elsewhere).
"""

from __future__ import annotations

import math

import torch

from .._validation import DTypeError, InvalidParameterError, check_finite, check_int
from ._select import top_s
from ._soft_common import check_tau


def _row_tau(tau):
    """tau broadcastable to (..., 1) -> broadcastable to (..., 1, 1) (one more axis for rows)."""
    if isinstance(tau, torch.Tensor) and tau.dim() > 0:
        return tau.unsqueeze(-1)
    return tau


def _exp_cut(dtype: torch.dtype) -> float:
    """Exponent below which exp(x) is set to exactly 0 (~ -602 in float64, ~ -74 in float32).

    Keeps every exp() and every later product out of the subnormal range: on CPU, exp of
    arguments whose result is subnormal or underflows runs a slow path (measured 70-300x slower),
    and for small tau almost every logit is far below it.
    """
    return 0.85 * -math.log(torch.finfo(dtype).tiny)


def _exp_nonpos(x: torch.Tensor) -> torch.Tensor:
    """exp(x) for x <= 0, with results below exp(-cut) replaced by exactly 0 (no subnormals)."""
    cut = _exp_cut(x.dtype)
    e = torch.exp(x.clamp_min(-cut))
    return torch.nn.functional.threshold(e, 2.0 * math.exp(-cut), 0.0)


def _softmax_stable(x: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis, entries below exp(-cut) of the maximum set to exactly 0."""
    cut = _exp_cut(x.dtype)
    floor = x.detach().amax(dim=-1, keepdim=True) - cut
    p = torch.softmax(torch.maximum(x, floor), dim=-1)
    return torch.nn.functional.threshold(p, 2.0 * math.exp(-cut), 0.0)


def _softmax_unnormalised_(x: torch.Tensor, out: torch.Tensor, tau=None) -> torch.Tensor:
    """exp((x - max x) / tau) over the last axis, entries below exp(-cut) set to exactly 0,
    written into ``out`` (may be x itself, or strided) outside autograd. x (contiguous) is
    overwritten; unless it is ``out`` it keeps exp(-cut) where ``out`` has its exact zeros. The
    row maximum maps to exactly 1, so each row sums to a value in [1, N]. ``tau=None``: x is
    already divided by tau.

    This is ``_softmax_top1(x, tau)`` times its row sum (Soft-OMP's in-place loop divides by the
    sum in place, ``softomp._omp_inplace``). The shift comes before the division, so no logit
    overflows, whatever the scale of x and tau (the largest is exactly 0, the others at worst
    -inf, clamped). Six passes over x (max, sub, div, clamp, exp, threshold), none slow: the
    clamp keeps exp on its fast path (an underflowing exp, even of -inf, is 7-200x slower).
    """
    cut = _exp_cut(x.dtype)
    x.sub_(x.amax(dim=-1, keepdim=True))
    if tau is not None:
        x.div_(tau)
    x.clamp_min_(-cut).exp_()
    return torch.threshold(x, 2.0 * math.exp(-cut), 0.0, out=out)


def _softmax_top1(v: torch.Tensor, tau) -> torch.Tensor:
    """First SoftSort row: exactly softmax(v / tau) (v_[1] - v_j >= 0, so |v_[1] - v_j| = v_[1] - v_j).

    Computed as softmax((v - max v) / tau) (shift invariance; the shift is a constant for
    autograd, which leaves the gradient unchanged): every logit is <= 0 with maximum exactly 0,
    and none overflows however small tau is against v. Entries below exp(-cut) are returned as
    exact zeros (the same underflow as the definition, without the slow path). ``tau=None`` means
    v is already divided by tau.
    """
    x = v - v.detach().amax(dim=-1, keepdim=True)
    return _softmax_stable(x if tau is None else x / tau)


def _softsort_rows(v: torch.Tensor, tau, k: int) -> torch.Tensor:
    """Top-k SoftSort rows of v (..., N): (..., k, N), rows in descending order of v."""
    if k == 1:
        return _softmax_top1(v, tau).unsqueeze(-2)
    top = torch.topk(v, k, dim=-1, largest=True, sorted=True).values          # (..., k)
    logits = (top.unsqueeze(-1) - v.unsqueeze(-2)).abs() / (-_row_tau(tau))   # (..., k, N), <= 0
    e = _exp_nonpos(logits)                                                    # self-entry = 1
    return e / e.sum(-1, keepdim=True)


def _scaled(x: torch.Tensor, tau):
    """x / tau (``tau=None``: x is already divided)."""
    return x if tau is None else x / tau


def _soft_topk_mask(v: torch.Tensor, tau, k: int, idx=None) -> torch.Tensor:
    """Column sums of the top-k SoftSort rows, q = P[:k]^T 1_k, for v (..., N): (..., N).

    Exact rewrite of the definition that avoids the (k, N) rows. With t = the k largest values
    (descending) and t_k the smallest of them, every index j outside the top-k set has
    v_j <= t_k <= t_i, so the kernel factorises:

        exp(-|t_i - v_j| / tau) = a_i * b_j,  a_i = exp(-(t_i - t_k) / tau),  b_j = exp(-(t_k - v_j) / tau),

    both factors in [0, 1]. Row normalisers are Z_i = sum_{l in top} E_il + a_i * sum_{j not in top} b_j
    with E_il = exp(-|t_i - t_l| / tau) (a k x k block, diagonal 1, so Z_i >= 1), and

        q_j = sum_i E_ij / Z_i  (j in top),     q_j = b_j * sum_i a_i / Z_i  (j not in top).

    Cost O(k^2 + N) per vector instead of O(k N), a handful of passes over (..., N); nothing
    overflows: every exponent is a difference of v divided by tau (never v / tau itself), <= 0.
    ``tau``: a float or a tensor broadcastable to v.shape[:-1] + (1,); None means v is already
    divided by tau. ``idx``: the indices of the k largest entries of v in any order (e.g. from
    ``_select.top_s_warm``), computed here if None.
    """
    if idx is None:
        idx = top_s(v.detach().reshape(-1, v.shape[-1]), k).view(v.shape[:-1] + (k,))
    t = v.gather(-1, idx)                                                      # (..., k)
    E, a = _top_block(t, tau)
    # b_j for every j; the top entries are clamped to exp(0) = 1 and their q is overwritten; the
    # sum over the others is sum(b) - sum(b[top]) (an O(k eps) absolute error on Z_i >= 1)
    b = _exp_nonpos(_scaled(v - t.amin(-1, keepdim=True), tau).clamp_max_(0.0))  # (..., N)
    return _mask_from_parts(b, E, a, idx)


def _top_block(t: torch.Tensor, tau=None, inplace: bool = False, ws=None):
    """E_il = exp(-|t_i - t_l| / tau) (..., k, k) and a_i = exp(-(t_i - t_k) / tau) (..., k) for
    the top values t (any order; t_k = their minimum; ``tau`` as in ``_soft_topk_mask``).

    ``inplace`` (outside autograd) runs the abs / div / clamp / exp / threshold chain in place on
    the two fresh temporaries instead of allocating one per step (same values bit for bit); with
    a ``_select.Workspace`` the (..., k, k) block reuses one buffer across calls (a fresh one
    costs page faults on CPU).
    """
    out = None if ws is None else ws.get("softsort_E", t.shape + t.shape[-1:], t.dtype, t.device)
    d = torch.sub(t.unsqueeze(-1), t.unsqueeze(-2), out=out)
    a = t.amin(-1, keepdim=True) - t
    if not inplace:
        return _exp_nonpos(_scaled(-d.abs(), _row_tau(tau))), _exp_nonpos(_scaled(a, tau))
    E = d.abs_().neg_()
    if tau is not None:
        E.div_(_row_tau(tau))
        a.div_(tau)
    cut = _exp_cut(t.dtype)
    tiny = 2.0 * math.exp(-cut)
    for z in (E, a):
        torch.nn.functional.threshold_(z.clamp_min_(-cut).exp_(), tiny, 0.0)
    return E, a


def _mask_from_parts(b: torch.Tensor, E: torch.Tensor, a: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """q from the factors (see ``_soft_topk_mask``); overwrites and returns b if it is not in a
    recorded graph (the in-place kernel passes its own buffer)."""
    # sum over j outside the top set; the top entries of b are exactly 1 (clamped exponent 0)
    rest = b.sum(-1, keepdim=True) - b.gather(-1, idx).sum(-1, keepdim=True)   # (..., 1)
    Zinv = 1.0 / (E.sum(-1) + a * rest)                                        # (..., k)
    q_top = (E @ Zinv.unsqueeze(-1)).squeeze(-1)     # sum_i E_ij / Z_i (E is symmetric; E Z is ~2x faster)
    c = (a * Zinv).sum(-1, keepdim=True)                                       # (..., 1)
    q = b.mul_(c) if not (torch.is_grad_enabled() and (b.requires_grad or c.requires_grad)) else b * c
    return q.scatter_(-1, idx, q_top)


def _soft_topk_mask_(v: torch.Tensor, k: int, idx: torch.Tensor, ws=None, tau=None) -> torch.Tensor:
    """In-place ``_soft_topk_mask(v, tau, k, idx)`` outside autograd: v (R, N) contiguous is
    overwritten by q with no (R, N) temporary (two-sided clamp, exp and the final scaling in
    place: no allocations, which on CPU cost page faults). ``ws``: an optional
    ``_select.Workspace`` for the (R, k, k) block. ``tau``: None (v already divided), a float or
    an (R, 1) tensor."""
    t = v.gather(-1, idx)
    b = v.sub_(t.amin(-1, keepdim=True))                                 # v - t_k
    if tau is not None:
        b.div_(tau)
    E, a = _top_block(t, tau, inplace=True, ws=ws)
    cut = _exp_cut(v.dtype)
    b = b.clamp_(-cut, 0.0).exp_()
    torch.nn.functional.threshold_(b, 2.0 * math.exp(-cut), 0.0)
    return _mask_from_parts(b, E, a, idx)


def softsort(v: torch.Tensor, tau, k: int) -> torch.Tensor:
    """Top-k rows of the SoftSort relaxation of the descending argsort of each row of ``v``.

    P[b, i, j] = softmax_j(-|v_[i] - v_j| / tau) with v_[i] the i-th largest entry of v[b].

    Parameters
    ----------
    v : Tensor of shape (B, N)
        Real float32 or float64 (float16 / bfloat16 raise DTypeError, as in the solvers), finite
        scores (the soft solvers pass magnitudes |w * c|).
    tau : float or 0-dim real Tensor
        Temperature > 0 (a tensor is kept in the graph, so d/dtau is available), at least the
        smallest normal number of v's dtype (1.2e-38 in float32). Stable for any such tau
        (tested on [1e-12, 1e3]): for tiny tau the rows are exactly one-hot.
    k : int
        Number of rows, 1 <= k <= N. k = 1 is exactly softmax(v / tau) (no sort).

    Returns
    -------
    Tensor of shape (B, k, N)
        Row-stochastic, nonnegative; differentiable w.r.t. v (through the sorted values too) and
        tau. Memory O(B k N).
    """
    caller = "softsort"
    if not isinstance(v, torch.Tensor):
        raise InvalidParameterError(f"{caller}: v must be a torch.Tensor; got {type(v).__name__}.")
    if v.dim() != 2:
        raise InvalidParameterError(f"{caller}: v must be of shape (B, N); got {tuple(v.shape)}.")
    if v.dtype not in (torch.float32, torch.float64):
        # the solvers' rule (_validation.SUPPORTED_DTYPES, real): float16 / bfloat16 are refused
        raise DTypeError(f"{caller}: v.dtype must be float32 or float64; got {v.dtype}.")
    check_finite(v, "v", caller)
    k = check_int("k", k, caller=caller, low=1, high=v.shape[1], high_name="N = v.shape[1]")
    return _softsort_rows(v, check_tau(tau, v.dtype, v.device, caller), k)
