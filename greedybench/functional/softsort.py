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
- ``_hard_topk_mask(v, k)``: the tau -> 0 limit, a 0/1 mask of the k largest entries.
"""

from __future__ import annotations

import math

import torch

from .._validation import InvalidParameterError, check_finite, check_int, check_positive


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


def _softmax_stable_(x: torch.Tensor) -> torch.Tensor:
    """In-place ``_softmax_stable`` for a contiguous x outside autograd (no (..., N) allocation
    kept; used by the Soft-OMP hot loop)."""
    cut = _exp_cut(x.dtype)
    torch.maximum(x, x.amax(dim=-1, keepdim=True).sub_(cut), out=x)
    return torch.threshold(torch.softmax(x, dim=-1), 2.0 * math.exp(-cut), 0.0, out=x)


def _softmax_top1(v: torch.Tensor, tau) -> torch.Tensor:
    """First SoftSort row: exactly softmax(v / tau) (v_[1] - v_j >= 0, so |v_[1] - v_j| = v_[1] - v_j).

    Shift invariance makes every logit <= 0 with maximum 0 inside the softmax; entries below
    exp(-cut) are returned as exact zeros (the same underflow as the definition, without the slow
    path). ``tau=None`` means v is already divided by tau.
    """
    return _softmax_stable(v if tau is None else v / tau)


def _softsort_rows(v: torch.Tensor, tau, k: int) -> torch.Tensor:
    """Top-k SoftSort rows of v (..., N): (..., k, N), rows in descending order of v."""
    if k == 1:
        return _softmax_top1(v, tau).unsqueeze(-2)
    top = torch.topk(v, k, dim=-1, largest=True, sorted=True).values          # (..., k)
    logits = (top.unsqueeze(-1) - v.unsqueeze(-2)).abs() / (-_row_tau(tau))   # (..., k, N), <= 0
    e = _exp_nonpos(logits)                                                    # self-entry = 1
    return e / e.sum(-1, keepdim=True)


def _soft_topk_mask(v: torch.Tensor, tau, k: int) -> torch.Tensor:
    """Column sums of the top-k SoftSort rows, q = P[:k]^T 1_k, for v (..., N): (..., N).

    Exact rewrite of the definition that avoids the (k, N) rows. With t = the k largest values
    (descending) and t_k the smallest of them, every index j outside the top-k set has
    v_j <= t_k <= t_i, so the kernel factorises:

        exp(-|t_i - v_j| / tau) = a_i * b_j,  a_i = exp(-(t_i - t_k) / tau),  b_j = exp(-(t_k - v_j) / tau),

    both factors in [0, 1]. Row normalisers are Z_i = sum_{l in top} E_il + a_i * sum_{j not in top} b_j
    with E_il = exp(-|t_i - t_l| / tau) (a k x k block, diagonal 1, so Z_i >= 1), and

        q_j = sum_i E_ij / Z_i  (j in top),     q_j = b_j * sum_i a_i / Z_i  (j not in top).

    Cost O(k^2 + N) per vector instead of O(k N), a handful of passes over (..., N); nothing
    overflows. ``tau=None`` means v is already divided by tau.
    """
    x = v if tau is None else v / tau
    top = torch.topk(x, k, dim=-1, largest=True, sorted=True)
    t, idx = top.values, top.indices                                          # (..., k)
    t_k = t[..., -1:]
    E = _exp_nonpos(-(t.unsqueeze(-1) - t.unsqueeze(-2)).abs())               # (..., k, k)
    a = _exp_nonpos(t_k - t)                                                   # (..., k)
    # b_j for every j; the top entries are clamped to exp(0) = 1 exactly, so the sum over the
    # others is sum(b) - k (an O(k eps) absolute error on Z_i >= 1), and their q is overwritten
    b = _exp_nonpos((x - t_k).clamp_max_(0.0))                                 # (..., N)
    rest = b.sum(-1, keepdim=True) - k                                         # (..., 1)
    Z = E.sum(-1) + a * rest                                                   # (..., k)
    q_top = (E / Z.unsqueeze(-1)).sum(-2)                                      # (..., k)
    q = b * (a / Z).sum(-1, keepdim=True)                                      # (..., N)
    return q.scatter_(-1, idx, q_top)


def _hard_topk_mask(v: torch.Tensor, k: int) -> torch.Tensor:
    """0/1 mask (v's dtype) of the k largest entries of v (..., N) (torch.topk's tie-breaking)."""
    idx = torch.topk(v, k, dim=-1, largest=True, sorted=True).indices
    return torch.zeros_like(v).scatter_(-1, idx, 1.0)


def softsort(v: torch.Tensor, tau, k: int) -> torch.Tensor:
    """Top-k rows of the SoftSort relaxation of the descending argsort of each row of ``v``.

    P[b, i, j] = softmax_j(-|v_[i] - v_j| / tau) with v_[i] the i-th largest entry of v[b].

    Parameters
    ----------
    v : Tensor of shape (B, N)
        Real, finite scores (the soft solvers pass magnitudes |w * c|).
    tau : float or 0-dim real Tensor
        Temperature > 0 (a tensor is kept in the graph, so d/dtau is available). Stable for any
        tau > 0 (tested on [1e-12, 1e3]): for tiny tau the rows are exactly one-hot.
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
    if not v.is_floating_point():
        raise InvalidParameterError(f"{caller}: v must be real floating point; got {v.dtype}.")
    check_finite(v, "v", caller)
    k = check_int("k", k, caller=caller, low=1, high=v.shape[1], high_name="N = v.shape[1]")
    tau = check_positive("tau", tau, caller=caller)
    if isinstance(tau, torch.Tensor):
        tau = tau.reshape(()).to(dtype=v.dtype, device=v.device)
    return _softsort_rows(v, tau, k)
