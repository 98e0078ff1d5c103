"""Input validation for every public entry point, in one place.

Public functions call these checks once, at the boundary; private kernels (``_omp`` ...) and the
``nn`` layers trust their input. Messages follow one template: "<caller>: <name> must be
<expected>; got <actual>." and are formatted only when a check fails.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import torch

SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


class GreedybenchError(Exception):
    """Base class of every error greedybench raises on bad input."""


class ShapeError(GreedybenchError, ValueError):
    """A tensor has the wrong number of dimensions or the wrong size."""

    def __init__(self, message: str, *, expected=None, got=None):
        super().__init__(message)
        self.expected = expected
        self.got = got


class InvalidParameterError(GreedybenchError, ValueError, TypeError):
    """A scalar parameter has the wrong type or is out of range."""


class DTypeError(GreedybenchError, TypeError):
    """Unsupported dtype, or dtypes of A, y and weights that do not go together."""


class NonFiniteError(GreedybenchError, ValueError):
    """NaN or Inf in an input tensor."""


class DeviceError(GreedybenchError, ValueError):
    """Tensors on different devices."""


class Problem(NamedTuple):
    """A validated batch of problems y = A x (+ e).

    A : (m, N) or (B, m, N); y : (B, m); weights : None, (N,) or (B, N) with A's real dtype.
    """

    A: torch.Tensor
    y: torch.Tensor
    weights: Optional[torch.Tensor]
    B: int
    m: int
    N: int


def _fail(caller: str, name: str, expected: str, got) -> str:
    return f"{caller}: {name} must be {expected}; got {got}."


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for complex64, float64 for complex128, identity for real dtypes."""
    return torch.empty((), dtype=dtype).real.dtype


def check_operator(A, *, caller: str) -> torch.Tensor:
    """A 2-D float or complex tensor (m, N) shared by the batch (the operator of a learned model),
    detached and copied so that the model owns it."""
    if isinstance(A, torch.Tensor):
        check_dense(A, "A", caller)
    if not isinstance(A, torch.Tensor) or A.dim() != 2:
        raise ShapeError(f"{caller}: A must be a 2-D tensor (m, N) shared by the batch; got "
                         f"{tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__}.")
    if not (A.is_floating_point() or A.is_complex()):
        raise InvalidParameterError(f"{caller}: A must be a float or complex tensor; got {A.dtype}.")
    return A.detach().clone()


def all_finite(t: torch.Tensor) -> bool:
    """True if no entry of t is NaN or Inf (complex: neither part)."""
    if t.is_conj():                      # a lazy conjugate view: same finiteness, and view_as_real
        t = t.conj()                     # rejects it
    r = torch.view_as_real(t) if t.is_complex() else t
    if not r.is_floating_point() or not r.numel():
        return True
    return bool(torch.isfinite(torch.stack([r.amax(), r.amin()])).all())


def check_finite(t: torch.Tensor, name: str, caller: str) -> None:
    """Raise NonFiniteError naming ``name`` if ``t`` holds NaN or Inf.

    Tested through the extremes (amax and amin propagate NaN, and are finite iff every entry is):
    two reductions, ~10x faster than ``isfinite(t).all()``, which writes a mask first.
    """
    if not all_finite(t):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(torch.isinf(t).sum())
        raise NonFiniteError(f"{caller}: {name} contains non-finite values ({n_nan} NaN, {n_inf} Inf).")


def check_dense(t: torch.Tensor, name: str, caller: str) -> torch.Tensor:
    """A dense (strided) tensor that holds data: sparse layouts and meta tensors are refused (the
    checks below, and the kernels, need the values)."""
    if t.layout != torch.strided:
        raise InvalidParameterError(_fail(caller, name, "a dense (strided) tensor", f"layout {t.layout}")
                                    + " Convert it with .to_dense().")
    if t.is_meta:
        raise DeviceError(_fail(caller, name, "a tensor with data (on cpu or cuda)",
                                "a meta tensor (shape only, no values)"))
    return t


def _check_tensor(t, name: str, caller: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise InvalidParameterError(_fail(caller, name, "a torch.Tensor", type(t).__name__))
    check_dense(t, name, caller)
    if t.dtype not in SUPPORTED_DTYPES:
        raise DTypeError(
            _fail(caller, f"{name}.dtype", "float32, float64, complex64 or complex128", t.dtype)
        )
    return t


def check_problem(A, y, *, caller: str, weights=None) -> Problem:
    """Validate a batch of problems and return it in canonical form.

    Parameters
    ----------
    A : Tensor of shape (m, N) or (B, m, N)
        Sensing matrix, shared by the batch or one per problem.
    y : Tensor of shape (B, m)
        Measurements. A real y with a complex A is promoted to complex; a complex y with a real A
        is an error (the real solvers would silently drop the imaginary part).
    weights : None, sequence or Tensor of shape (N,) or (B, N)
        Real, finite selection weights; cast to A's real dtype.
    caller : str
        Name of the public function, used in messages.
    """
    A = _check_tensor(A, "A", caller)
    y = _check_tensor(y, "y", caller)
    if A.dim() not in (2, 3):
        raise ShapeError(_fail(caller, "A", "of shape (m, N) or (B, m, N)", tuple(A.shape)),
                         expected="(m, N) or (B, m, N)", got=tuple(A.shape))
    m, N = A.shape[-2], A.shape[-1]
    if y.dim() != 2 or y.shape[1] != m:
        hint = " (a single problem needs a leading batch axis: y[None])" if y.dim() == 1 else ""
        raise ShapeError(
            _fail(caller, "y", f"of shape (B, m) with m = A.shape[-2] = {m}", tuple(y.shape)) + hint,
            expected=f"(B, {m})", got=tuple(y.shape))
    B = y.shape[0]
    if A.dim() == 3 and A.shape[0] != B:
        raise ShapeError(
            _fail(caller, "A", f"(m, N) or (B, m, N) with B = y.shape[0] = {B}", tuple(A.shape)),
            expected=f"({B}, {m}, {N})", got=tuple(A.shape))
    if m < 1 or N < 1:
        raise ShapeError(_fail(caller, "A", "non-empty (m >= 1 and N >= 1)", tuple(A.shape)))
    if A.device != y.device:
        raise DeviceError(_fail(caller, "y.device", f"A.device = {A.device}", y.device))
    if real_dtype(A.dtype) != real_dtype(y.dtype):
        raise DTypeError(
            f"{caller}: A and y must have the same precision; got A {A.dtype} and y {y.dtype}. "
            "Cast both, e.g. y.to(A.dtype).")
    if y.is_complex() and not A.is_complex():
        raise DTypeError(f"{caller}: y is complex ({y.dtype}) but A is real ({A.dtype}); "
                         "a real solver would drop the imaginary part. Use a complex A.")
    if A.is_complex() and not y.is_complex():
        y = y.to(A.dtype)
    check_finite(A, "A", caller)
    check_finite(y, "y", caller)
    w = check_weights(weights, B=B, N=N, dtype=real_dtype(A.dtype), device=A.device, caller=caller)
    return Problem(A, y, w, B, m, N)


def check_weights(weights, *, B: int, N: int, dtype, device, caller: str):
    """None, or real finite weights of shape (N,) or (B, N) cast to ``dtype`` on ``device``."""
    if weights is None:
        return None
    if not isinstance(weights, torch.Tensor):
        try:
            weights = torch.as_tensor(weights)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(_fail(caller, "weights", "a real tensor", type(weights).__name__)) from exc
    check_dense(weights, "weights", caller)
    if weights.is_complex() or not (weights.is_floating_point() or weights.dtype in (torch.int32, torch.int64, torch.bool)):
        raise DTypeError(_fail(caller, "weights.dtype", "real", weights.dtype))
    if weights.shape not in ((N,), (B, N)):
        raise ShapeError(_fail(caller, "weights", f"of shape (N,) = ({N},) or (B, N) = ({B}, {N})",
                               tuple(weights.shape)), expected=f"({N},) or ({B}, {N})", got=tuple(weights.shape))
    if weights.device != torch.device(device) and weights.device.type != torch.device(device).type:
        raise DeviceError(_fail(caller, "weights.device", f"A.device = {device}", weights.device))
    if weights.is_floating_point():
        check_finite(weights, "weights", caller)          # before the cast: NaN/Inf as given
    cast = weights.to(dtype=dtype, device=device)
    if not all_finite(cast):                              # finite before, Inf after: overflow
        big = float(weights.detach().abs().max())
        raise NonFiniteError(
            f"{caller}: weights overflow on the cast to {dtype} (A's precision): max |weight| = {big:.3g} "
            f"> {torch.finfo(dtype).max:.3g}. Rescale the weights (selection is scale-invariant) or use "
            f"{'float64' if dtype == torch.float32 else 'smaller values'}.")
    return cast


def check_int(name: str, value, *, caller: str, low: int = 1, high: Optional[int] = None,
              high_name: str = "") -> int:
    """An integer in [low, high]; bools and floats are refused."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        value = int(check_dense(value, name, caller))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(_fail(caller, name, "an integer", repr(value)))
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]" + (f" ({high_name})" if high_name else "")
        raise InvalidParameterError(_fail(caller, name, f"an integer {rng}", value))
    return value


def check_positive(name: str, value, *, caller: str, allow_zero: bool = False):
    """A finite float > 0 (or >= 0), as a Python float or a 0-dim real tensor (kept, for autograd)."""
    if isinstance(value, torch.Tensor):
        check_dense(value, name, caller)
        if value.numel() != 1 or value.is_complex():
            raise InvalidParameterError(_fail(caller, name, "a real scalar", f"tensor of shape {tuple(value.shape)}"))
        v = float(value.detach())
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
    else:
        raise InvalidParameterError(_fail(caller, name, "a positive real number", repr(value)))
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise InvalidParameterError(_fail(caller, name, "finite and " + (">= 0" if allow_zero else "> 0"), v))
    return value


def check_bool(name: str, value, *, caller: str) -> bool:
    """A Python bool (or numpy bool); strings, ints and tensors are refused."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise InvalidParameterError(_fail(caller, name, "a bool (True or False)", repr(value)))


def check_option(name: str, value, options, *, caller: str):
    """One of ``options`` (names are listed in the message)."""
    if value not in options:
        raise InvalidParameterError(_fail(caller, name, "one of " + ", ".join(map(repr, sorted(options))), repr(value)))
    return value
