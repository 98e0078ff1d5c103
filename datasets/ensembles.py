"""Sensing ensembles: random matrices A of shape (m, N), or (B, m, N) with ``batch=B``.

Every ensemble is a function ``fn(m, N, generator, dtype, *, batch=None) -> Tensor`` registered in
:data:`ENSEMBLES`. ``dtype`` is the *real* precision (torch.float32 or torch.float64); a complex
ensemble returns the matching complex dtype (complex64 for float32, complex128 for float64). All
randomness comes from ``generator`` (a CPU ``torch.Generator``), never from the global RNG state,
and the result is on the CPU.

- ``gaussian``: iid N(0, 1) entries, then each column scaled to unit l2 norm.
- ``rademacher``: iid +-1/sqrt(m) entries (columns have unit norm by construction).
- ``partial_dft`` (complex): with F[k, j] = exp(-2 pi i k j / N), rows k = -N/2+1, ..., N/2 and
  columns j = 0, ..., N-1, take m of the first N-1 rows (frequencies -N/2+1 .. N/2-1, the Nyquist
  row k = N/2 is never used) uniformly without replacement, sorted, and divide by sqrt(m). Every
  entry has modulus 1/sqrt(m), so columns have unit norm, and A A^H = (N/m) I. N must be even.
- ``partial_dct`` (real): with C the orthonormal DCT-II matrix,
  C[k, n] = sqrt(2/N) c_k cos(pi k (2n + 1) / (2N)), c_0 = 1/sqrt(2), c_k = 1 otherwise,
  take m distinct rows uniformly without replacement, sorted, and multiply by sqrt(N/m).
  Scaling: rows stay orthogonal, A A^T = (N/m) I exactly, and ||A||_F^2 = N, so the *mean* squared
  column norm is exactly 1 and E||a_j||^2 = 1 over the row draw. A single column's squared norm is
  1 + (1/m) sum_{k in rows, k > 0} cos(pi k (2j + 1) / N): close to 1 for random rows but not exactly
  1 (unit columns and orthogonal rows cannot both hold exactly for a partial DCT).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch

from greedybench._validation import DTypeError, InvalidParameterError, check_int

__all__ = ["ENSEMBLES", "gaussian", "rademacher", "partial_dft", "partial_dct", "complex_dtype"]

_REAL = (torch.float32, torch.float64)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex64 for float32, complex128 for float64."""
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}[dtype]


def _check_common(m, N, generator, dtype, batch, caller, *, m_high=None, m_high_name=""):
    N = check_int("N", N, caller=caller, low=1)
    m = check_int("m", m, caller=caller, low=1, high=m_high(N) if m_high else None, high_name=m_high_name)
    if batch is not None:
        batch = check_int("batch", batch, caller=caller, low=0)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise InvalidParameterError(
            f"{caller}: generator must be a CPU torch.Generator; got {generator!r}.")
    if dtype not in _REAL:
        raise DTypeError(f"{caller}: dtype must be torch.float32 or torch.float64 (the real precision; "
                         f"complex ensembles pick the matching complex dtype); got {dtype}.")
    shape = (m, N) if batch is None else (batch, m, N)
    return m, N, batch, shape


def _rows_without_replacement(n_rows: int, m: int, batch: Optional[int], generator) -> torch.Tensor:
    """m distinct sorted row indices in [0, n_rows), shape (m,) or (batch, m)."""
    b = 1 if batch is None else batch
    keys = torch.rand((b, n_rows), generator=generator, dtype=torch.float64)
    rows = keys.argsort(dim=1, stable=True)[:, :m].sort(dim=1).values
    return rows[0] if batch is None else rows


def gaussian(m: int, N: int, generator: torch.Generator, dtype: torch.dtype = torch.float64, *,
             batch: Optional[int] = None) -> torch.Tensor:
    """iid N(0, 1) entries, each column normalised to unit l2 norm."""
    m, N, batch, shape = _check_common(m, N, generator, dtype, batch, "gaussian")
    A = torch.randn(shape, generator=generator, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=-2, keepdim=True)
    return A.to(dtype)


def rademacher(m: int, N: int, generator: torch.Generator, dtype: torch.dtype = torch.float64, *,
               batch: Optional[int] = None) -> torch.Tensor:
    """iid +-1/sqrt(m) entries with equal probability (unit-norm columns)."""
    m, N, batch, shape = _check_common(m, N, generator, dtype, batch, "rademacher")
    signs = torch.randint(0, 2, shape, generator=generator, dtype=torch.int64)
    A = (2 * signs - 1).to(torch.float64) / math.sqrt(m)
    return A.to(dtype)


def partial_dft(m: int, N: int, generator: torch.Generator, dtype: torch.dtype = torch.float64, *,
                batch: Optional[int] = None) -> torch.Tensor:
    """m random rows (of the first N-1, frequencies -N/2+1..N/2-1) of the DFT matrix, / sqrt(m).

    Complex: returns complex128 for float64 and complex64 for float32. N must be even and
    m <= N - 1. Columns have unit norm and A A^H = (N/m) I.
    """
    caller = "partial_dft"
    N = check_int("N", N, caller=caller, low=2)
    if N % 2:
        raise InvalidParameterError(f"{caller}: N must be even (rows are frequencies -N/2+1 .. N/2); got {N}.")
    m, N, batch, shape = _check_common(m, N, generator, dtype, batch, caller,
                                       m_high=lambda n: n - 1, m_high_name="N - 1 rows available")
    rows = _rows_without_replacement(N - 1, m, batch, generator)      # (m,) or (B, m)
    k = rows - (N // 2 - 1)                                           # frequencies
    j = torch.arange(N, dtype=torch.int64)
    # exact integer reduction of the phase k*j mod N keeps the angles accurate for large N;
    # the N possible entries are computed once and gathered
    r = torch.arange(N, dtype=torch.int64)
    table = torch.polar(torch.full((N,), 1.0 / math.sqrt(m), dtype=torch.float64),
                        -(r.to(torch.float64) * (2 * math.pi / N)))
    A = table[torch.remainder(k[..., :, None] * j, N)]
    assert A.shape == shape
    return A.to(complex_dtype(dtype))


def partial_dct(m: int, N: int, generator: torch.Generator, dtype: torch.dtype = torch.float64, *,
                batch: Optional[int] = None) -> torch.Tensor:
    """m random rows of the orthonormal DCT-II matrix, sorted, times sqrt(N/m).

    A A^T = (N/m) I; the mean squared column norm is exactly 1 (each column only on average,
    see the module docstring). Requires m <= N.
    """
    caller = "partial_dct"
    m, N, batch, shape = _check_common(m, N, generator, dtype, batch, caller,
                                       m_high=lambda n: n, m_high_name="N rows available")
    k = _rows_without_replacement(N, m, batch, generator)             # (m,) or (B, m)
    n = torch.arange(N, dtype=torch.int64)
    # cos(pi k (2n+1) / (2N)) with the integer argument reduced mod 4N, gathered from a table
    table = torch.cos(torch.arange(4 * N, dtype=torch.float64) * (math.pi / (2 * N))) * math.sqrt(2.0 / N)
    C = table[torch.remainder(k[..., :, None] * (2 * n + 1), 4 * N)]
    C = torch.where((k == 0)[..., None], C / math.sqrt(2.0), C)
    A = C * math.sqrt(N / m)
    assert A.shape == shape
    return A.to(dtype)


#: name -> fn(m, N, generator, dtype, *, batch=None)
ENSEMBLES: Dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": gaussian,
    "rademacher": rademacher,
    "partial_dft": partial_dft,
    "partial_dct": partial_dct,
}

#: ensembles whose matrices are complex
COMPLEX_ENSEMBLES = frozenset({"partial_dft"})
