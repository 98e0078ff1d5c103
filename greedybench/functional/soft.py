"""Soft (differentiable) greedy solvers: Soft-OMP, Soft-IHT, Soft-HTP, Soft-CoSaMP (reference 3).

Each replaces the hard argmax / top-s selection of its greedy algorithm by SoftSort rows at
temperature ``tau`` (``functional/softsort.py``) and equals the hard algorithm as tau -> 0
(exactly, once the rows underflow to one-hot). One module per algorithm:

- ``softomp``: ``soft_omp`` and ``_omp_kernel`` (also OMP itself with ``hard=True``; OMP-Net);
- ``softiht``: ``soft_iht`` and ``_iht_kernel`` (also IHT with ``hard=True``; IHT-Net);
- ``softhtp``: ``soft_htp``; ``softcosamp``: ``soft_cosamp``;
- ``_soft_common``: validation at the boundary and the shared helpers.

This module gathers them under one name (``greedybench.functional.soft._omp_kernel`` etc.), for
the nets, the bound study and the paper figures.
"""

from ._soft_common import w3 as _w3
from .softcosamp import soft_cosamp
from .softhtp import soft_htp
from .softiht import _iht_kernel, soft_iht
from .softomp import _omp_kernel, soft_omp

__all__ = ["soft_cosamp", "soft_htp", "soft_iht", "soft_omp"]
