"""Computable bounds on the soft-vs-hard difference ||x^n - x~^n|| (reference 3.4).

Every quantity is taken from the HARD run of the same problem (gaps, supports, singular values,
iterate norms) and the recursions of Theorem 1 (Soft-OMP vs OMP) and Theorem 2 (Soft-IHT vs IHT)
are evaluated exactly as written in the reference, batched over problems and a grid of
temperatures, in float64. A bound is ``inf`` from the first iteration at which an assumption
fails (a gap condition, eta_k >= 1, a singular selection); once infinite it stays infinite.

Each function also runs the soft algorithm on the same problems for every tau and returns the
measured difference, so that validity (bound >= measured) and tightness (bound / measured) can
be reported side by side.

Shapes: B problems, T temperatures (T is dropped when ``tau`` is a scalar), n iterations.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._validation import InvalidParameterError, check_int, check_positive, check_problem
from ._soft_common import w3 as _w3
from .softiht import _iht_kernel
from .softomp import _omp_kernel
from .softsort import _exp_nonpos

_SQRT2 = math.sqrt(2.0)


class OMPBound(NamedTuple):
    """Theorem 1 diagnostics. (B, T, n) per-tau fields, (B, n) or (B,) per-problem fields."""

    tau: torch.Tensor          # (T,)
    bound: torch.Tensor        # b_k >= ||x^k - x~^k||, k = 1..n (inf where assumptions fail)
    measured: torch.Tensor     # ||x^k - x~^k||
    ratio: torch.Tensor        # bound / measured (nan where the bound is inf or measured == 0)
    x_norm: torch.Tensor       # ||x^k|| of the hard run (B, n), for relative errors
    eps: torch.Tensor          # epsilon_k bound used in the chain (B, T, n)
    delta: torch.Tensor        # top-2 gap delta_k of v^k = |w * A^H r^(k-1)| (B, n)
    sigma_min: torch.Tensor    # sigma_min(A_{S_k}) (B, n)
    norm_A: torch.Tensor       # ||A||_2 (B,)
    c_prime: torch.Tensor      # max_j ||A^H a_j||_2 (B,)
    omega: torch.Tensor        # ||w||_inf (B,)
    y_norm: torch.Tensor       # ||y||_2 (B,)


class IHTBound(NamedTuple):
    """Theorem 2 diagnostics. (B, T, n) per-tau fields, (B, n) or (B,) per-problem fields."""

    tau: torch.Tensor          # (T,)
    bound: torch.Tensor        # b_k >= ||x^k - x~^k||, k = 1..n
    measured: torch.Tensor
    ratio: torch.Tensor
    x_norm: torch.Tensor       # (B, n)
    E: torch.Tensor            # E_k, k = 0..n-1 (B, T, n)
    Delta: torch.Tensor        # boundary gap Delta_s(|w * u^k|), k = 0..n-1 (B, n)
    g_s: torch.Tensor          # min consecutive gap g_(s)(|w * u^k|) (B, n)
    lam: torch.Tensor          # restricted contraction lambda_k = ||M_{S^k, S^(k-1)}|| (nan at k = 0)
    u_norm: torch.Tensor       # ||u^k|| (B, n)
    L: torch.Tensor            # ||I - step A^H A||_2 (B,)
    L_row: torch.Tensor        # max_j ||(I - step A^H A)_{j,:}||_2 (B,)
    omega: torch.Tensor        # (B,)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _setup(A, y, weights, tau, caller):
    """float64 problem, tau grid (T,) and a flag for a scalar tau."""
    prob = check_problem(A, y, caller=caller, weights=weights)
    cdt = torch.complex128 if prob.A.is_complex() else torch.float64
    A64, y64 = prob.A.to(cdt), prob.y.to(cdt)
    w = None if prob.weights is None else prob.weights.to(torch.float64)
    scalar = not isinstance(tau, (list, tuple)) and not (isinstance(tau, torch.Tensor) and tau.dim() > 0)
    taus = torch.as_tensor([tau] if scalar else tau, dtype=torch.float64).reshape(-1)
    if taus.numel() == 0:
        raise InvalidParameterError(f"{caller}: tau must be a positive number or a non-empty sequence.")
    for t in taus.tolist():
        check_positive("tau", t, caller=caller)
    return prob._replace(A=A64, y=y64, weights=w), taus.to(A64.device), scalar


def _per_problem(t: torch.Tensor, B: int) -> torch.Tensor:
    """A per-matrix scalar (shared A: shape ()) as (B,)."""
    return t.expand(B) if t.dim() == 0 else t


def _spectral_norm(A: torch.Tensor) -> torch.Tensor:
    """||A||_2 per matrix, from the eigenvalues of the smaller Gram matrix (much cheaper than an SVD)."""
    G = A @ A.mH if A.shape[-2] <= A.shape[-1] else A.mH @ A
    return torch.linalg.eigvalsh(G)[..., -1].clamp_min(0.0).sqrt()


def _omega(w, B, ref):
    if w is None:
        return torch.ones(B, dtype=torch.float64, device=ref.device)
    om = w.abs().amax(-1)
    return _per_problem(om, B)


def _ratio(bound, measured):
    ok = torch.isfinite(bound) & (measured > 0)
    return torch.where(ok, bound / torch.where(ok, measured, 1.0), torch.nan)


def _finish(cls, scalar, **fields):
    if scalar:
        fields = {k: (v.squeeze(1) if k in ("bound", "measured", "ratio", "eps", "E") else v)
                  for k, v in fields.items()}
    return cls(**fields)


def _soft_hard_paths(kernel, prob, taus, **kw):
    """Hard path (B, n+1, N) with its records, and soft paths (B, T, n+1, N) on the tau grid."""
    Y = prob.y.unsqueeze(1)
    W = _w3(prob.weights)
    with torch.no_grad():
        hard = kernel(prob.A, Y, tau=None, W=W, hard=True, return_path=True, record=True, **kw)
        soft = kernel(prob.A, Y.expand(-1, taus.numel(), -1), tau=taus.reshape(1, -1, 1), W=W,
                      return_path=True, **kw)
    xh, xs = hard["x"][:, 0], soft["x"]
    measured = torch.linalg.vector_norm(xs[:, :, 1:] - xh[:, None, 1:], dim=-1)   # (B, T, n)
    x_norm = torch.linalg.vector_norm(xh[:, 1:], dim=-1)                           # (B, n)
    return hard, measured, x_norm


# --------------------------------------------------------------------------------------------
# Theorem 1: Soft-OMP vs OMP
# --------------------------------------------------------------------------------------------


def omp_bound(A, y, n_iter, tau, *, weights=None, refined=True) -> OMPBound:
    """Theorem 1 of reference 3.4 for Soft-OMP vs OMP, per problem and temperature.

    Recursion (b_0 = 0), for k = 1..n, with all quantities from the hard OMP run:
    delta'_k = delta_k - 2 omega c' b_(k-1) must be > 0;
    eps_k = min(1, sum_(l != j_k) exp(-(v_(j_k) - v_l - 2 omega c' b_(k-1)) / tau)) (``refined``)
    or min(1, (N - 1) exp(-delta'_k / tau)) (simple); F_k = sqrt(2) (sum_(i<=k) eps_i^2)^(1/2);
    eta_k = ||A|| F_k / sigma_k must be < 1; b_k = ||y|| F_k (1 + sqrt(2) ||A|| / sigma_k) /
    (sigma_k (1 - eta_k)).

    Parameters
    ----------
    A, y, weights : as in ``greedybench.omp`` (computed in float64).
    n_iter : int
    tau : float or sequence of floats
        A scalar gives (B, n) outputs, a sequence of T values (B, T, n).
    refined : bool
        Use the exact-sum eps_k (default) or the simple (N - 1) exp(-delta'_k / tau).

    Returns
    -------
    OMPBound
    """
    caller = "omp_bound"
    prob, taus, scalar = _setup(A, y, weights, tau, caller)
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1, high=min(prob.m, prob.N),
                       high_name="min(m, N)")
    A64, B, N = prob.A, prob.B, prob.N
    hard, measured, x_norm = _soft_hard_paths(_omp_kernel, prob, taus, n_iter=n_iter)
    v = hard["v"][:, 0]                                                   # (B, n, N)
    top2 = torch.topk(v, 2, dim=-1)
    delta = top2.values[..., 0] - top2.values[..., 1]                     # (B, n)
    j = top2.indices[..., 0]                                              # (B, n), j_k
    # sigma_min of the selected columns A_{S_k}, k = 1..n
    idx = j
    if A64.dim() == 2:
        cols = A64.mT[idx].mT                                             # (B, m, n)
    else:
        cols = torch.gather(A64, 2, idx.unsqueeze(1).expand(-1, A64.shape[1], -1))
    sigma = torch.stack([torch.linalg.svdvals(cols[..., :k + 1])[..., -1] for k in range(n_iter)], -1)
    G = A64.mH @ A64
    norm_A = _per_problem(_spectral_norm(A64), B)
    c_prime = _per_problem(torch.linalg.vector_norm(G, dim=-2).amax(-1), B)
    omega = _omega(prob.weights, B, A64)
    y_norm = torch.linalg.vector_norm(prob.y, dim=-1)

    tau3 = taus.reshape(1, -1, 1)                                          # (1, T, 1)
    T = taus.numel()
    b_prev = torch.zeros(B, T, dtype=torch.float64, device=A64.device)
    sum_eps2 = torch.zeros_like(b_prev)
    ok = torch.ones_like(b_prev, dtype=torch.bool)
    bounds, epss = [], []
    for k in range(n_iter):
        corr = torch.where(torch.isfinite(b_prev), 2.0 * (omega * c_prime)[:, None] * b_prev, torch.inf)
        dprime = delta[:, k, None] - corr                                  # (B, T)
        ok = ok & (dprime > 0)
        if refined:
            gaps = (v[:, k, :].gather(-1, j[:, k, None]) - v[:, k, :])      # (B, N) >= 0
            gaps = gaps.scatter(-1, j[:, k, None], torch.inf)              # exclude l = j_k
            # log sum_l exp(-(gap_l - corr) / tau); only needed where ok (corr < delta <= gap_l)
            corr_ok = torch.where(ok, corr, 0.0)
            arg = -(gaps[:, None, :] - corr_ok[..., None]) / tau3          # (B, T, N)
            lse = torch.logsumexp(arg, dim=-1)
            eps = torch.exp(lse.clamp_max(0.0))
        else:
            eps = ((N - 1) * torch.exp(-dprime.clamp_min(0.0) / taus)).clamp_max(1.0)
        eps = torch.where(ok, eps, 1.0)
        sum_eps2 = sum_eps2 + eps.square()
        F = _SQRT2 * sum_eps2.sqrt()
        sig = sigma[:, k, None]
        ok = ok & (sig > 0)
        eta = norm_A[:, None] * F / torch.where(sig > 0, sig, 1.0)
        ok = ok & (eta < 1)
        safe_sig = torch.where(ok, sig, 1.0)
        b = y_norm[:, None] * F * (1 + _SQRT2 * norm_A[:, None] / safe_sig) / (safe_sig * (1 - torch.where(ok, eta, 0.0)))
        b = torch.where(ok, b, torch.inf)
        bounds.append(b)
        epss.append(eps)
        b_prev = b
    bound = torch.stack(bounds, -1)
    return _finish(OMPBound, scalar, tau=taus, bound=bound, measured=measured,
                   ratio=_ratio(bound, measured), x_norm=x_norm, eps=torch.stack(epss, -1),
                   delta=delta, sigma_min=sigma, norm_A=norm_A, c_prime=c_prime, omega=omega,
                   y_norm=y_norm)


# --------------------------------------------------------------------------------------------
# Theorem 2: Soft-IHT vs IHT
# --------------------------------------------------------------------------------------------


def _gather_block(M, rows, cols):
    """M[rows, cols] per problem: M (N, N) or (B, N, N), rows (B, s), cols (B, s) -> (B, s, s)."""
    if M.dim() == 2:
        return M[rows.unsqueeze(-1), cols.unsqueeze(-2)]
    b = torch.arange(M.shape[0], device=M.device)[:, None, None]
    return M[b, rows.unsqueeze(-1), cols.unsqueeze(-2)]


def iht_bound(A, y, s, tau, *, step, n_iter, weights=None, refined=True) -> IHTBound:
    """Theorem 2 of reference 3.4 for Soft-IHT vs IHT, per problem and temperature.

    With M = I - step A^H A, L = ||M||, L_row = max_j ||M_{j,:}|| and, from the hard run, u^k,
    S^k, Delta_k = Delta_s(|w u^k|), lambda_k = ||M_{S^k, S^(k-1)}||: b_0 = 0, rho_(-1) = 0 and,
    for k = 0..n-1, require 2 omega L_row b_k < Delta_k;
    E_k = sum_(i<=s) min(1, sum_(l != i) exp(-(|v_[i] - v_[l]| - 2 omega L_row b_k)_+ / tau));
    rho_k = min(2 E_k, 2 s) (||u^k|| + L b_k); b_(k+1) = L b_k + rho_k (simple) or
    b_(k+1) = lambda_k b_k + L rho_(k-1) + rho_k for k >= 1 (``refined``, b_1 = rho_0).

    Parameters
    ----------
    A, y, weights : as in ``greedybench.iht`` (computed in float64).
    s, step, n_iter : IHT's sparsity, step size and number of iterations.
    tau : float or sequence of floats (a sequence adds a T axis).
    refined : bool
        Refined (restricted-contraction) update, default; False gives the simple one.

    Returns
    -------
    IHTBound
    """
    caller = "iht_bound"
    prob, taus, scalar = _setup(A, y, weights, tau, caller)
    s = check_int("s", s, caller=caller, low=1, high=prob.N - 1, high_name="N - 1")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    step = float(check_positive("step", step, caller=caller))
    A64, B, N = prob.A, prob.B, prob.N
    hard, measured, x_norm = _soft_hard_paths(_iht_kernel, prob, taus, s=s, step=step, n_iter=n_iter)
    u = hard["u"][:, 0]                                                   # (B, n, N), u^0..u^(n-1)
    vw = u.abs() if prob.weights is None else u.abs() * _w3(prob.weights).abs()
    vs, order = torch.sort(vw, dim=-1, descending=True)                   # (B, n, N)
    S = order[..., :s]                                                    # hard supports S^k
    Delta = vs[..., s - 1] - vs[..., s]
    g_s = (vs[..., :s] - vs[..., 1:s + 1]).amin(-1)
    u_norm = torch.linalg.vector_norm(u, dim=-1)
    eye = torch.eye(N, dtype=A64.dtype, device=A64.device)
    M = eye - step * (A64.mH @ A64)
    L = _per_problem(torch.linalg.eigvalsh(M).abs().amax(-1), B)
    L_row = _per_problem(torch.linalg.vector_norm(M, dim=-1).amax(-1), B)
    lam = torch.full((B, n_iter), torch.nan, dtype=torch.float64, device=A64.device)
    for k in range(1, n_iter):
        lam[:, k] = torch.linalg.matrix_norm(_gather_block(M, S[:, k], S[:, k - 1]), ord=2)
    omega = _omega(prob.weights, B, A64)

    T = taus.numel()
    tau4 = taus.reshape(1, -1, 1, 1)
    b = torch.zeros(B, T, dtype=torch.float64, device=A64.device)
    rho_prev = torch.zeros_like(b)
    ok = torch.ones_like(b, dtype=torch.bool)
    bounds, Es = [], []
    # pairwise distances |v_[i] - v_[l]| of the top-s entries to all entries, self excluded
    diff = (vs[..., :s, None] - vs[..., None, :]).abs()                   # (B, n, s, N)
    diff.diagonal(dim1=-2, dim2=-1).fill_(torch.inf)
    for k in range(n_iter):
        corr = torch.where(ok, 2.0 * (omega * L_row)[:, None] * b, 0.0)   # (B, T)
        ok = ok & (corr < Delta[:, k, None])
        arg = -((diff[:, k, None] - corr[..., None, None]).clamp_min(0.0)) / tau4   # (B, T, s, N)
        E = _exp_nonpos(arg).sum(-1).clamp_max(1.0).sum(-1)               # (B, T)
        rho = torch.minimum(2.0 * E, torch.full_like(E, 2.0 * s)) * (u_norm[:, k, None] + L[:, None] * b)
        if refined and k >= 1:
            b_next = lam[:, k, None] * b + L[:, None] * rho_prev + rho
        else:
            b_next = L[:, None] * b + rho
        b_next = torch.where(ok, b_next, torch.inf)
        ok = ok & torch.isfinite(b_next)
        bounds.append(b_next)
        Es.append(E)
        b, rho_prev = torch.where(ok, b_next, 0.0), rho
    bound = torch.stack(bounds, -1)
    return _finish(IHTBound, scalar, tau=taus, bound=bound, measured=measured,
                   ratio=_ratio(bound, measured), x_norm=x_norm, E=torch.stack(Es, -1),
                   Delta=Delta, g_s=g_s, lam=lam, u_norm=u_norm, L=L, L_row=L_row, omega=omega)


# --------------------------------------------------------------------------------------------
# pipeline entry point
# --------------------------------------------------------------------------------------------


def soft_error_bound(solver, A, y, *, s, tau, n_iter=None, step=0.65, weights=None):
    """Bound on ||x_hard - x_soft|| at the last iteration, per problem (B,), for a solver entry.

    ``solver`` is the entry name: "soft_omp" (Theorem 1, n_iter defaults to s, as the entry) or
    "soft_iht" (Theorem 2 refined, step 0.65 and n_iter 300 by default, as the entry). inf where
    the assumptions of the theorem fail.
    """
    if solver == "soft_omp":
        return omp_bound(A, y, s if n_iter is None else n_iter, float(tau), weights=weights).bound[:, -1]
    if solver == "soft_iht":
        return iht_bound(A, y, s, float(tau), step=step, n_iter=300 if n_iter is None else n_iter,
                         weights=weights).bound[:, -1]
    raise InvalidParameterError(f"soft_error_bound: solver must be 'soft_omp' or 'soft_iht' "
                                f"(the theorems of reference 3.4); got {solver!r}.")
