"""Seeded problem builders shared by the asv benchmarks (append-only: keep history comparable)."""

import torch


def gaussian_problem(B, m, N, s, *, dtype=torch.float64, seed=0):
    """Shared Gaussian A (unit-norm columns), s-sparse X with N(0,1) values, Y = A X."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=dtype)
    A = A / A.norm(dim=0, keepdim=True)
    idx = torch.rand(B, N, generator=g).argsort(dim=1)[:, :s]
    X = torch.zeros(B, N, dtype=dtype).scatter(1, idx, torch.randn(B, s, generator=g, dtype=dtype))
    return A, X, X @ A.T


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()
