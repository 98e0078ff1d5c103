"""Batched linear-algebra pieces shared by the solvers: column gathers, scatters, least squares.

Shapes: A (m, N) or (B, m, N); idx (B, k) integer column indices; y (B, m).
"""

from __future__ import annotations

import torch


def gather_columns(A: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """A[:, idx[b]] for each problem: (B, m, k)."""
    if A.dim() == 2:
        # (m, N) shared: index the transposed matrix so the gather is one contiguous read per atom
        return A.mT[idx].mT
    m = A.shape[1]
    return torch.gather(A, 2, idx.unsqueeze(1).expand(-1, m, -1))


def scatter_support(values: torch.Tensor, idx: torch.Tensor, N: int) -> torch.Tensor:
    """Dense (B, N) vector with values (B, k) placed at columns idx (B, k); other entries 0."""
    out = values.new_zeros(values.shape[0], N)
    return out.scatter(1, idx, values)


def matvec(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A x for each problem: (B, N) -> (B, m). One GEMM when A is shared."""
    if A.dim() == 2:
        return x @ A.mT
    return torch.bmm(A, x.unsqueeze(-1)).squeeze(-1)


def rmatvec(A: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """A^H r for each problem: (B, m) -> (B, N). One GEMM when A is shared."""
    if A.dim() == 2:
        return r @ A.conj()
    return torch.bmm(A.mH, r.unsqueeze(-1)).squeeze(-1)


def lstsq(M: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares solution z = argmin ||M z - y|| for each problem, M (B, m, k), y (B, m).

    Fast path: Cholesky of the k x k normal equations. Problems whose Gram matrix is not
    numerically positive definite (dependent or duplicated columns, zero columns) fall back to a
    rank-revealing solve (minimum-norm solution), so the batch never fails as a whole.
    """
    G = M.mH @ M
    rhs = (M.mH @ y.unsqueeze(-1))
    L, info = torch.linalg.cholesky_ex(G)
    z = torch.cholesky_solve(rhs, L)
    # a Cholesky that "succeeds" on a numerically singular Gram gives garbage: check the pivots too
    eps = torch.finfo(G.real.dtype).eps
    diag = torch.diagonal(L, dim1=-2, dim2=-1).real
    scale = torch.diagonal(G, dim1=-2, dim2=-1).real.amax(-1, keepdim=True).clamp_min(torch.finfo(G.real.dtype).tiny)
    bad = (info != 0) | ~torch.isfinite(z).all(dim=(-2, -1)) | ((diag**2) <= 1e3 * eps * scale).any(-1)
    if bool(bad.any()):
        z = z.clone()
        z[bad] = pinv_solve(M[bad], y[bad].unsqueeze(-1))
    return z.squeeze(-1)


def pinv_solve(M: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares via SVD (any rank, CPU and CUDA)."""
    if M.device.type == "cpu":
        return torch.linalg.lstsq(M, rhs, driver="gelsd").solution
    return torch.linalg.pinv(M) @ rhs


def top_k_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, k) of the k largest entries of real scores (B, N), largest first."""
    return torch.topk(scores, k, dim=-1, largest=True, sorted=True).indices
