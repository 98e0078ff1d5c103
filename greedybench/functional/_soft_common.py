"""Pieces shared by the soft solvers (``softomp``, ``softiht``, ``softhtp``, ``softcosamp``).

The public wrappers validate once here (``setup``) and the kernels share the (B, T, .) products,
the graph test and the least-squares helpers. Selection convention of every soft kernel: the
statistic v = |w * c| is formed without the temperature, and the logits are differences of v
divided by tau (``(v - max v) / tau`` for a softmax row, ``(t_k - v) / tau`` for the top-s mask),
so nothing overflows for any tau that is a normal number of the dtype, whatever the scale of v.
"""

from __future__ import annotations

import math

import torch

from .._validation import (InvalidParameterError, ShapeError, check_bool, check_positive,
                           check_problem, real_dtype)
from ._linalg import matvec, rmatvec


def mv(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """A x for X (B, T, N) -> (B, T, m); one (batched) GEMM, A (m, N) or (B, m, N)."""
    return X @ A.mT


def rmv(A: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """A^H r for R (B, T, m) -> (B, T, N)."""
    return R @ A.conj()


def stat(c: torch.Tensor, w) -> torch.Tensor:
    """Selection statistic |w * c| (reference 1: weights multiply the statistic)."""
    v = c.abs()
    return v if w is None else v * w.abs()


def needs_graph(*ts) -> bool:
    """True if autograd records: some tensor argument requires grad and grad mode is on."""
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in ts)


def check_per_iter(W, n_iter: int, N: int) -> None:
    """Per-iteration weights must be a (n_iter, N) tensor (internal contract, checked once)."""
    if not isinstance(W, torch.Tensor) or W.shape != (n_iter, N):
        got = tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__
        raise ShapeError(f"per-iteration weights must have shape (n_iter, N) = ({n_iter}, {N}); got {got}.",
                         expected=f"({n_iter}, {N})", got=got)


def w3(w):
    """weights (N,) or (B, N) -> broadcastable to (B, T, N)."""
    return w if w is None or w.dim() == 1 else w.unsqueeze(1)


def path_out(path, return_path: bool):
    """Stack iterates x^0..x^n to (B, n+1, N), or return the last one."""
    return torch.stack(path, dim=1) if return_path else path[-1]


# --------------------------------------------------------------------------------------------
# least squares on soft rows (Soft-HTP, Soft-CoSaMP)
# --------------------------------------------------------------------------------------------


def gradient_step(A, x, y, step):
    """u = x + step * A^H (y - A x) for (B, N) vectors (IHT/HTP's first half-step)."""
    return x + step * rmatvec(A, y - matvec(A, x))


def ls_on_rows(A: torch.Tensor, rows: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x = rows^T z with z = argmin ||A rows^T z - y|| (minimum norm if rank deficient).

    rows (B, k, N) real (soft or one-hot selection rows), y (B, m) -> x (B, N). Duplicated or
    nearly parallel rows make A rows^T (nearly) rank deficient; the truncated solve then gives
    the minimum-norm solution, whose x is the least-squares fit on the union of the atoms.
    """
    R = rows.to(A.dtype)
    Bt = R @ A.mT                                                   # (B, k, m) = (A rows^T)^T
    z = lstsq_trunc(Bt.mT, y)                                       # (B, k)
    return (z.unsqueeze(-2) @ R).squeeze(-2)


def lstsq_trunc(M: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Truncated-SVD least squares z = M^+ y, M (B, m, k), y (B, m) -> (B, k).

    Soft selection rows overlap (Soft-CoSaMP stacks the previous soft top-s rows under the new
    soft top-2s rows, and an index present in both gives two rows that differ by ~exp(-gap/tau)),
    so A rows^T is often nearly singular: condition numbers up to 1e16 were seen at tau = 1e-2.
    The normal equations (``_linalg.lstsq``) square that, and even an exact QR solve then fits the
    noise with huge cancelling coefficients. Singular values below sqrt(eps) * sigma_max are
    therefore treated as zero (minimum-norm solution of the truncated problem): as tau -> 0 the
    duplicated rows become exact and this is the least-squares fit on the union of the atoms,
    i.e. the hard algorithm. Differentiable (SVD-based pseudo-inverse).
    """
    rtol = torch.finfo(real_dtype(M.dtype)).eps ** 0.5
    return (torch.linalg.pinv(M, rtol=rtol) @ y.unsqueeze(-1)).squeeze(-1)


# --------------------------------------------------------------------------------------------
# the public boundary
# --------------------------------------------------------------------------------------------


def _scalar(value, name: str, caller: str, dtype, device):
    """Validated positive scalar: a Python float, or a 0-dim tensor (kept for autograd)."""
    value = check_positive(name, value, caller=caller)
    if isinstance(value, torch.Tensor):
        return value.reshape(()).to(dtype=dtype, device=device)
    return float(value)


def check_tau(tau, dtype, device, caller: str):
    """A positive temperature, at least the smallest normal number of the real ``dtype``
    (1.2e-38 in float32, 2.2e-308 in float64): below it tau is not represented to full precision
    (a Python float may even round to 0 in the dtype), while the soft rows are exactly one-hot
    (the hard algorithm) from far larger temperatures on. Returns a float or a 0-dim tensor."""
    tau = _scalar(tau, "tau", caller, dtype, device)
    tiny = torch.finfo(dtype).tiny
    t = float(tau.detach()) if isinstance(tau, torch.Tensor) else tau
    if t < tiny:
        raise InvalidParameterError(
            f"{caller}: tau must be >= {tiny:.3g} (the smallest normal {dtype} number) for this "
            f"{dtype} input; got {t:.3g}. The soft rows are exactly one-hot (the hard "
            "algorithm) long before that: use a larger tau or the hard solver.")
    return tau


def setup(A, y, weights, return_path, caller: str, tau, step=None):
    """Validate a soft solver's arguments: (problem, tau, step, return_path); tau as in
    ``check_tau``."""
    prob = check_problem(A, y, caller=caller, weights=weights)
    rdt, dev = real_dtype(prob.A.dtype), prob.A.device
    tau = check_tau(tau, rdt, dev, caller)
    if step is not None:
        step = _scalar(step, "step", caller, rdt, dev)
    return prob, tau, step, check_bool("return_path", return_path, caller=caller)


# exponent range in which a problem is used as given: squares and products of two entries stay
# normal numbers (float64: [2^-255, 2^255], float32: [2^-31, 2^31])
def _safe_exponent(dtype) -> int:
    return int(-math.log2(torch.finfo(dtype).tiny)) // 4


def _absmax(t: torch.Tensor) -> float:
    r = torch.view_as_real(t.detach().resolve_conj()) if t.is_complex() else t.detach()
    if not r.numel():
        return 0.0
    return float(torch.maximum(r.amax(), -r.amin()))


def pow2_exponent(t: torch.Tensor) -> int:
    """e with max |t| * 2^e in [1/2, 1) if max |t| lies outside the safe range, else 0.

    A power of two scales every entry exactly, so a kernel run on 2^e t is the run on t up to the
    overflow and underflow that the scaling avoids (subnormal data: squared norms that vanish and
    singular values whose inverses overflow gave NaN)."""
    amax = _absmax(t)
    if amax == 0.0:
        return 0
    e = math.frexp(amax)[1]                                     # amax = f * 2^e, f in [1/2, 1)
    return -e if abs(e) > _safe_exponent(real_dtype(t.dtype)) else 0


def ldexp(t, e: int):
    """t * 2^e for a tensor or a float, in steps of at most 2^100 (a normal number in float32 as
    well), exact unless the result itself under- or overflows."""
    while e:
        k = max(-100, min(100, e))
        t = t * 2.0 ** k
        e -= k
    return t


def normalise(prob):
    """Exact power-of-two rescaling of a problem whose A or y lies outside the safe range.

    Returns (A', y', eA, eY) with A' = 2^eA A and y' = 2^eY y (eA = eY = 0, and A, y themselves,
    for the usual data). The solution of A' x' = y' is x' = 2^(eY - eA) x; a soft solver's
    temperature and step are rescaled by its caller to match (see ``scaled_tau``)."""
    eA, eY = pow2_exponent(prob.A), pow2_exponent(prob.y)
    return ldexp(prob.A, eA), ldexp(prob.y, eY), eA, eY


def scaled_tau(tau, e: int, dtype):
    """tau * 2^e for a statistic that the rescaling multiplied by 2^e, kept >= the smallest
    normal number of ``dtype`` (below it the rows are one-hot anyway; tau = 0 would give 0 / 0)."""
    if not e:
        return tau
    tau = ldexp(tau, e)
    tiny = torch.finfo(dtype).tiny
    return tau.clamp_min(tiny) if isinstance(tau, torch.Tensor) else max(tau, tiny)
