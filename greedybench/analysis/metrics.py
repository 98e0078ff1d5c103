"""Per-problem recovery metrics from batched tensors: the outcome columns of the results table.

Every function takes ``x_hat`` and ``x`` of shape ``(B, N)`` (real or complex), ``A`` of shape
``(m, N)`` or ``(B, m, N)`` and ``y`` of shape ``(B, m)``, and returns NumPy arrays of shape
``(B,)`` (float64 for errors, bool for flags), ready to become DataFrame columns.

Conventions (docs/architecture.md, "Results table"):

- ``rel_err = ||x_hat - x||_2 / ||x||_2``; when ``x = 0`` the error is ``||x_hat||_2`` (absolute).
- ``linf_err = ||x_hat - x||_inf / ||x||_inf`` (GAGA's criterion), same convention at ``x = 0``.
- ``residual = ||y - A x_hat||_2 / ||y||_2``; when ``y = 0`` it is ``||A x_hat||_2``.
- Supports: the true support is ``{i : x_i != 0}``. The estimated support is, by default, the
  ``s`` largest ``|x_hat_i|`` (ties broken by index, exact zeros never counted), with ``s`` the
  true sparsity unless given. A second estimate counts the entries with
  ``|x_hat_i| > support_tol * ||x||_inf`` (the ``*_nz`` columns).
- ``success = rel_err <= threshold`` (default 1e-3, benchmark_practice 6.3; the Maleki-Donoho rule
  is 1e-2). ``success_linf = linf_err <= linf_threshold`` (GAGA, default 1e-2).
"""

from __future__ import annotations

import torch

__all__ = ["recovery_metrics", "METRIC_COLUMNS"]

METRIC_COLUMNS = (
    "rel_err", "linf_err", "residual", "support_precision", "support_recall", "exact_support",
    "support_precision_nz", "support_recall_nz", "exact_support_nz", "success", "success_linf",
)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den where den > 0, else num (the absolute value when the reference is zero)."""
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, num)


def _support_scores(pred: torch.Tensor, true: torch.Tensor):
    """Precision, recall and exact equality of two boolean (B, N) support masks."""
    hit = (pred & true).sum(-1).double()
    n_pred = pred.sum(-1).double()
    n_true = true.sum(-1).double()
    precision = torch.where(n_pred > 0, hit / n_pred.clamp_min(1), (n_true == 0).double())
    recall = torch.where(n_true > 0, hit / n_true.clamp_min(1), torch.ones_like(hit))
    exact = (pred == true).all(-1)
    return precision, recall, exact


def recovery_metrics(x_hat, x, A, y, *, s=None, threshold: float = 1e-3,
                     linf_threshold: float = 1e-2, support_tol: float = 1e-6) -> dict:
    """Outcome metrics of a batch of recoveries, one value per problem.

    Parameters
    ----------
    x_hat, x : Tensor (B, N)
        Estimate and ground truth.
    A : Tensor (m, N) or (B, m, N)
    y : Tensor (B, m)
        Measurements the estimate was computed from (noisy ones, if noise was added).
    s : int, sequence or Tensor of shape (B,), optional
        Size of the top-s estimated support; defaults to the true sparsity of each problem.
    threshold : float
        Success rule ``rel_err <= threshold``.
    linf_threshold : float
        Success rule ``linf_err <= linf_threshold`` (column ``success_linf``).
    support_tol : float
        Relative tolerance of the "nonzero" support estimate (``*_nz`` columns).

    Returns
    -------
    dict of str -> ndarray (B,), keys ``METRIC_COLUMNS``.
    """
    x_hat = torch.as_tensor(x_hat)
    x = torch.as_tensor(x)
    A = torch.as_tensor(A)
    y = torch.as_tensor(y)
    if x_hat.ndim != 2 or x.shape != x_hat.shape:
        raise ValueError(f"recovery_metrics: x_hat and x must both be (B, N); got "
                         f"{tuple(x_hat.shape)} and {tuple(x.shape)}")
    B, N = x.shape
    if y.ndim != 2 or y.shape[0] != B or A.shape[-1] != N or A.shape[-2] != y.shape[1] \
            or A.ndim not in (2, 3) or (A.ndim == 3 and A.shape[0] != B):
        raise ValueError(f"recovery_metrics: expected A (m, N) or (B, m, N) and y (B, m) with "
                         f"B={B}, N={N}; got A {tuple(A.shape)}, y {tuple(y.shape)}")
    dtype = torch.promote_types(torch.promote_types(x_hat.dtype, x.dtype),
                                torch.promote_types(A.dtype, y.dtype))
    dtype = torch.promote_types(dtype, torch.float64)  # metrics in double precision
    x_hat, x, A, y = (t.detach().to(dtype) for t in (x_hat, x, A, y))
    y = y.to(A.device)
    x_hat_a = x_hat.to(A.device)

    diff = x_hat - x
    rel_err = _ratio(torch.linalg.vector_norm(diff, dim=-1), torch.linalg.vector_norm(x, dim=-1))
    linf_err = _ratio(diff.abs().amax(-1), x.abs().amax(-1))
    Ax = (A @ x_hat_a.unsqueeze(-1)).squeeze(-1) if A.ndim == 3 else x_hat_a @ A.transpose(-2, -1)
    residual = _ratio(torch.linalg.vector_norm(y - Ax, dim=-1), torch.linalg.vector_norm(y, dim=-1))
    residual = residual.to(x.device)

    true = x != 0
    mag = x_hat.abs()
    if s is None:
        s_b = true.sum(-1)
    else:
        s_b = torch.as_tensor(s, device=x.device).reshape(-1).to(torch.long).expand(B)
    order = torch.argsort(mag, dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(N, device=x.device).expand(B, N))
    pred_top = (rank < s_b.unsqueeze(-1)) & (mag > 0)
    prec, rec, exact = _support_scores(pred_top, true)
    scale = x.abs().amax(-1, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    pred_nz = mag > support_tol * scale
    prec_nz, rec_nz, exact_nz = _support_scores(pred_nz, true)

    out = {
        "rel_err": rel_err, "linf_err": linf_err, "residual": residual,
        "support_precision": prec, "support_recall": rec, "exact_support": exact,
        "support_precision_nz": prec_nz, "support_recall_nz": rec_nz, "exact_support_nz": exact_nz,
        "success": rel_err <= threshold, "success_linf": linf_err <= linf_threshold,
    }
    return {k: v.cpu().numpy() if v.dtype == torch.bool else v.double().cpu().numpy()
            for k, v in out.items()}
