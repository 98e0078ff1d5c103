"""Basis pursuit (min ||x||_1 subject to A x = y) by ADMM, batched.

The convex (l1) reference of the suite, solved to a stated tolerance. The constraint is handled
exactly by a projection onto {x : A x = y}, precomputed once per matrix, so every iteration is
two GEMMs and elementwise work, on any device.
"""

from __future__ import annotations

import torch

from .._validation import ShapeError, check_bool, check_int, check_positive, check_problem
from ._scale import pow2_scale, unscale
from ._select import Path, freeze
from .amp import soft_threshold

__all__ = ["basis_pursuit"]


def basis_pursuit(A, y, *, n_iter=2000, tol=None, return_path=False):
    r"""Basis pursuit, min ||x||_1 s.t. A x = y, by ADMM with residual balancing, batched.

    With Ab = L^{-1} A and yb = L^{-1} y, where L L^H = A A^H (so Ab has orthonormal rows and
    P(v) = v - Ab^H (Ab v - yb) is the projection onto {A x = y}), and x = z = u = 0:

        x = P(z - u),   xr = 1.6 x + (1 - 1.6) z,   z' = eta(xr + u ; tau),   u = u + xr - z',

    eta the (complex) soft thresholding, 1.6 the over-relaxation of Boyd et al. (3.4.3).
    tau = 1/rho starts at max |Ab^H yb| / 10 and is adapted per problem by residual balancing
    (Boyd et al. 2011, 3.4.1): halved (with u) when ||x - z'|| > 10 ||z' - z||, doubled (u too)
    in the opposite case, checked every 10 iterations.

    A problem stops when ||x - z'|| <= tol ||z'|| and ||z' - z|| <= tol ||z'|| (primal and dual
    residuals of ADMM); then z' is returned (exactly sparse; ||A z' - y|| <= ||A|| tol ||z'||).

    Parameters
    ----------
    A : Tensor (m, N) or (B, m, N)
        Sensing matrix with full row rank (m <= N), shared or one per problem; float32/float64,
        real or complex.
    y : Tensor (B, m)
        Measurements.
    n_iter : int
        Maximum number of iterations, >= 1 (default 2000). Problems that BP recovers
        converge in a few hundred iterations up to the transition; above it the l1 minimiser
        is a degenerate vertex with about m nonzeros, which ADMM approaches slowly (such
        problems usually run to n_iter, with an objective correct to about 1e-5).
    tol : None or float > 0
        Relative primal and dual residual at which a problem stops. None: 1e-8 in float64,
        1e-5 in float32.
    return_path : bool
        If True return all iterates z, shape (B, n_iter + 1, N), iterate 0 = 0.

    Returns
    -------
    x : Tensor (B, N), or the path (B, n_iter + 1, N).

    Notes
    -----
    Set-up: A A^H (2 m^2 N flops per matrix), its Cholesky and a triangular solve with A (m^2 N).
    Per iteration: two GEMMs (Ab v, Ab^H w: 4 m N B flops for a shared A) and O(N B)
    elementwise work; one host read every 10 iterations (any problem still active?).
    Each y is divided by a power of two near its largest entry and x multiplied back (exact), so
    the result is scale-equivariant, also at 1e-160 and 1e154.

    References
    ----------
    S. S. Chen, D. L. Donoho and M. A. Saunders, "Atomic decomposition by basis pursuit",
    SIAM J. Sci. Comput. 20(1), 1998.
    S. Boyd, N. Parikh, E. Chu, B. Peleato and J. Eckstein, "Distributed optimization and
    statistical learning via the alternating direction method of multipliers", Found. Trends
    Mach. Learn. 3(1), 2011 (sections 3.3, 3.4.1, 6.2).
    """
    caller = "basis_pursuit"
    p = check_problem(A, y, caller=caller)
    if p.m > p.N:
        raise ShapeError(f"{caller}: A must have m <= N (full row rank) for the equality "
                         f"constraint; got A of shape {tuple(p.A.shape)}.")
    n_iter = check_int("n_iter", n_iter, caller=caller, low=1)
    if tol is None:
        tol = 1e-8 if p.A.real.dtype == torch.float64 else 1e-5
    tol = float(check_positive("tol", tol, caller=caller))
    return_path = check_bool("return_path", return_path, caller=caller)
    Ab, L = _whiten(p.A, caller)
    c = pow2_scale(p.y)
    yb = _solve_lower(L, p.y / c.to(p.y.dtype))
    x = _admm(Ab, yb, n_iter, tol, return_path)
    return unscale(x, c)


def _whiten(A, caller):
    """Ab = L^{-1} A with L the Cholesky factor of A A^H ((m, N) or (B, m, N)); and L."""
    G = A @ A.mH
    L, info = torch.linalg.cholesky_ex(G)
    if bool((info != 0).any()):
        raise ValueError(f"{caller}: A must have full row rank (A A^H is singular to working "
                         "precision).")
    Ab = torch.linalg.solve_triangular(L, A, upper=False)
    return Ab, L


def _solve_lower(L, y):
    """L^{-1} y for each problem: y (B, m), L (m, m) or (B, m, m)."""
    if L.dim() == 2:
        return torch.linalg.solve_triangular(L, y.mT, upper=False).mT
    return torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False).squeeze(-1)


def _mv(Ab, v):
    return v @ Ab.mT if Ab.dim() == 2 else torch.bmm(Ab, v.unsqueeze(-1)).squeeze(-1)


def _rmv(Ab, w):
    return w @ Ab.conj() if Ab.dim() == 2 else torch.bmm(Ab.mH, w.unsqueeze(-1)).squeeze(-1)


def _norm(v):
    return torch.linalg.vector_norm(v, dim=-1, keepdim=True)


def _admm(Ab, yb, n_iter, tol, return_path, mu=10.0, every=10, relax=1.6):
    """ADMM kernel for basis pursuit; trusts its input (Ab with orthonormal rows, yb rescaled)."""
    B, N = yb.shape[0], Ab.shape[-1]
    rdt = yb.real.dtype
    x0 = _rmv(Ab, yb)                     # least-norm solution: feasible start for the scale of tau
    tau = (x0.abs().amax(-1, keepdim=True) / 10).clamp_min(torch.finfo(rdt).tiny).to(rdt)
    z = yb.new_zeros(B, N)
    u = yb.new_zeros(B, N)
    active = _norm(yb).squeeze(-1) > 0
    path = Path(z, n_iter, return_path)
    for it in range(n_iter):
        v = z - u
        x = v - _rmv(Ab, _mv(Ab, v) - yb)
        xr = relax * x + (1 - relax) * z
        z_new = soft_threshold(xr + u, tau)
        u_new = u + xr - z_new
        if (it + 1) % every == 0:
            r = _norm(x - z_new)
            s = _norm(z_new - z)
            zn = _norm(z_new)
            done = ((r <= tol * zn) & (s <= tol * zn)).squeeze(-1)
            shrink = r > mu * s               # primal residual too large: smaller tau (larger rho)
            grow = s > mu * r
            f = torch.where(shrink, 0.5, torch.where(grow, 2.0, 1.0)).to(rdt)
            z_new = freeze(active, z_new, z)
            u_new = freeze(active, u_new * f, u)
            tau = freeze(active, tau * f, tau)
            active = active & ~done
            z, u = z_new, u_new
            path.record(z)
            if not bool(active.any()):
                break
        else:
            z = freeze(active, z_new, z)
            u = freeze(active, u_new, u)
            path.record(z)
    return path.finish(z)
