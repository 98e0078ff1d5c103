"""Pure batched kernels: no I/O, no global RNG, no hidden device choice.

Every solver maps y of shape (B, m) to x of shape (B, N), with A of shape (m, N) (shared by the
batch) or (B, m, N) (one per problem); float32/float64, real or complex, on any device.
"""

from .amp import amp
from .cosamp import cosamp, subspace_pursuit
from .htp import htp
from .iht import iht, niht
from .l1 import basis_pursuit
from .omp import omp
from .softcosamp import soft_cosamp
from .softhtp import soft_htp
from .softiht import soft_iht
from .softomp import soft_omp
from .softsort import softsort

__all__ = sorted([
    "amp", "basis_pursuit",
    "cosamp", "htp", "iht", "niht", "omp", "soft_cosamp", "soft_htp", "soft_iht", "soft_omp",
    "softsort", "subspace_pursuit",
])
