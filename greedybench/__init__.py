"""greedybench: a reproducible benchmark suite for greedy sparse recovery, its soft
(differentiable) relaxations and trained unrolled networks.

The functional API (batched, ``(B, m) -> (B, N)``) is re-exported here::

    import greedybench as gb
    x = gb.omp(A, y, n_iter=s)
"""

from ._validation import (
    DeviceError,
    DTypeError,
    GreedybenchError,
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
)
from .functional import amp, basis_pursuit  # noqa: F401  (l1 references)
from .functional import (
    cosamp,
    htp,
    iht,
    niht,
    omp,
    soft_cosamp,
    soft_htp,
    soft_iht,
    soft_omp,
    softsort,
    subspace_pursuit,
)

try:  # one version, pyproject.toml's
    from importlib.metadata import version as _dist_version

    __version__ = _dist_version("greedybench")
except Exception:  # noqa: BLE001 - not installed (a bare checkout on sys.path)
    __version__ = "unknown"

__all__ = [
    "DTypeError", "DeviceError", "GreedybenchError", "InvalidParameterError", "NonFiniteError",
    "ShapeError", "cosamp", "htp", "iht", "niht", "omp", "soft_cosamp", "soft_htp", "soft_iht",
    "soft_omp", "softsort", "subspace_pursuit",
]
__all__ += ["amp", "basis_pursuit"]  # the l1 references (issue 14)
