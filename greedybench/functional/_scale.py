"""Exact per-problem rescaling of the data (scale invariance at the ends of the float range).

Solvers that form squared norms (residual tests, step sizes) overflow for |y| >= ~1e154 and
underflow for |y| <= ~1e-160 in float64. Dividing each y by a power of two near its largest
modulus is exact (only the exponent changes, for normal numbers), so the solver sees the same
mantissas it would see at unit scale and the result is multiplied back exactly: the solvers are
then scale-equivariant, x(c y) = c x(y), bit for bit when c is a power of two.
"""

from __future__ import annotations

import torch


def pow2_scale(y: torch.Tensor) -> torch.Tensor:
    """Per-problem power of two c (B, 1), real, with max |y_b| / c in [0.5, 1); 1 where y_b = 0."""
    mx = y.detach().abs().amax(-1, keepdim=True)
    _, e = torch.frexp(mx)
    c = torch.ldexp(torch.ones_like(mx), e)
    return torch.where(mx > 0, c, torch.ones_like(mx))


def unscale(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """x (B, N) or a path (B, T, N) multiplied back by the per-problem c (B, 1)."""
    return x * (c if x.dim() == 2 else c.unsqueeze(-1)).to(x.dtype)
