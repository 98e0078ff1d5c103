"""Problem instances: a batch of y = A x + e, deterministic from (parameters, seed).

Determinism
-----------
The generator seed is the first 63 bits of SHA-256 over the canonical JSON (sorted keys, no
whitespace) of every parameter that defines the draw -- ensemble, signal, amplitude, m, N, s,
batch, sigma, normalize, shared_A, K, block, seed and the generation scheme version -- so any
change to one of them gives a different, independent instance. Everything is drawn on the CPU in
float64 from one ``torch.Generator`` in a fixed order (A, latent set T, supports, amplitudes,
noise), then cast to ``dtype`` and moved to ``device``. ``dtype`` and ``device`` are therefore *not*
part of the seed: the float32 instance is the float64 instance rounded, and CPU and CUDA get the
same instance. The global RNG state is never read or changed.
Bit-for-bit reproduction across torch versions is not promised by torch's RNG; an instance file
(:func:`greedybench.datasets.save_instance`) is the durable artefact.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from greedybench._validation import (
    DeviceError,
    DTypeError,
    InvalidParameterError,
    ShapeError,
    check_int,
    check_option,
    check_positive,
)

from .ensembles import COMPLEX_ENSEMBLES, ENSEMBLES, complex_dtype
from .signals import AMPLITUDES, SIGNAL_OPTIONS, SIGNALS, default_K

__all__ = ["Instance", "make_instance", "FORMAT_VERSION", "GENERATOR_VERSION", "canonical_json",
           "derive_seed"]

#: version of the on-disk layout (see greedybench.datasets.files)
FORMAT_VERSION = 1
#: version of the generation scheme; bump it whenever the same parameters would draw differently
GENERATOR_VERSION = 1

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64",
                torch.complex64: "complex64", torch.complex128: "complex128"}


def canonical_json(obj) -> str:
    """Sorted keys, no whitespace, ASCII, NaN/Inf refused: one string per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def derive_seed(params: dict) -> int:
    """A 63-bit generator seed from SHA-256 of the canonical JSON of ``params``."""
    digest = hashlib.sha256(canonical_json(params).encode("ascii")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True, eq=False)
class Instance:
    """A batch of B sparse recovery problems Y = A X + E.

    Attributes
    ----------
    A : Tensor (m, N) shared by the batch, or (B, m, N) one per problem; real, or complex for a
        complex ensemble.
    X : Tensor (B, N), real, the s-sparse signals.
    Y : Tensor (B, m), A's dtype, the measurements.
    support : Tensor (B, s) int64, sorted support of each signal.
    meta : dict, JSON-able: every generation parameter, the seed, ``format_version``,
        ``generator_version``, ``dtype`` (real precision), ``A_dtype``, ``complex``, ``T`` (sorted
        hidden set of the latent model, else None) and ``rng_seed`` (the derived generator seed).

    The dataclass is frozen, but tensors and the meta dict are not copied on access: treat them as
    read-only. Instances compare by identity; compare fields with ``torch.equal``.
    """

    A: torch.Tensor
    X: torch.Tensor
    Y: torch.Tensor
    support: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        A, X, Y, S = self.A, self.X, self.Y, self.support
        for name, t in (("A", A), ("X", X), ("Y", Y), ("support", S)):
            if not isinstance(t, torch.Tensor):
                raise InvalidParameterError(f"Instance: {name} must be a torch.Tensor; got {type(t).__name__}.")
        if A.dim() not in (2, 3) or X.dim() != 2 or Y.dim() != 2 or S.dim() != 2:
            raise ShapeError(f"Instance: expected A (m, N) or (B, m, N), X (B, N), Y (B, m), support (B, s); "
                             f"got A {tuple(A.shape)}, X {tuple(X.shape)}, Y {tuple(Y.shape)}, "
                             f"support {tuple(S.shape)}.")
        m, N = A.shape[-2:]
        B = X.shape[0]
        ok = (X.shape[1] == N and Y.shape == (B, m) and S.shape[0] == B
              and (A.dim() == 2 or A.shape[0] == B))
        if not ok:
            raise ShapeError(f"Instance: inconsistent shapes A {tuple(A.shape)}, X {tuple(X.shape)}, "
                             f"Y {tuple(Y.shape)}, support {tuple(S.shape)}.")
        if S.dtype != torch.int64:
            raise DTypeError(f"Instance: support must be int64; got {S.dtype}.")
        if X.is_complex() or Y.dtype != A.dtype:
            raise DTypeError(f"Instance: X must be real and Y must have A's dtype; got A {A.dtype}, "
                             f"X {X.dtype}, Y {Y.dtype}.")
        if not isinstance(self.meta, dict):
            raise InvalidParameterError(f"Instance: meta must be a dict; got {type(self.meta).__name__}.")

    @property
    def B(self) -> int:
        return self.X.shape[0]

    @property
    def m(self) -> int:
        return self.A.shape[-2]

    @property
    def N(self) -> int:
        return self.A.shape[-1]

    @property
    def s(self) -> int:
        return self.support.shape[1]

    @property
    def shared_A(self) -> bool:
        return self.A.dim() == 2

    def to(self, device) -> "Instance":
        """The same instance on another device (meta is copied)."""
        return Instance(self.A.to(device), self.X.to(device), self.Y.to(device),
                        self.support.to(device), copy.deepcopy(self.meta))

    def __repr__(self) -> str:
        md = self.meta
        keys = ("ensemble", "signal", "amplitude", "m", "N", "s", "batch", "sigma", "seed")
        desc = ", ".join(f"{k}={md[k]!r}" for k in keys if k in md)
        return f"Instance({desc}, A={tuple(self.A.shape)} {self.A.dtype}, device={self.A.device})"


def _check_bool(name, value, caller):
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{caller}: {name} must be True or False; got {value!r}.")
    return value


def _check_name(name, value, options, caller):
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"{caller}: {name} must be one of {', '.join(map(repr, sorted(options)))}; got {value!r}.")
    return check_option(name, value, options, caller=caller)


def _check_device(device, caller):
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise DeviceError(f"{caller}: device must be a torch device such as 'cpu' or 'cuda'; got {device!r}.") from exc
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise DeviceError(f"{caller}: device {device!r} is not available here ({exc}).") from exc
    return dev


def make_instance(*, ensemble: str, signal: str, m: int, N: int, s: int, batch: int, seed: int,
                  sigma: float = 0.0, amplitude: str = "gaussian", normalize: bool = False,
                  shared_A: bool = True, K: Optional[int] = None, block: Optional[int] = None,
                  dtype: torch.dtype = torch.float64, device="cpu") -> Instance:
    """Draw a batch of ``batch`` problems Y = A X + E, deterministic from the parameters and ``seed``.

    Parameters
    ----------
    ensemble : one of :data:`ENSEMBLES` ('gaussian', 'rademacher', 'partial_dft', 'partial_dct').
    signal : one of :data:`SIGNALS` ('uniform', 'latent', 'block').
    m, N, s : measurements, dimension and sparsity; 1 <= s <= min(m, N).
    batch : number of problems B >= 0 (0 gives empty X, Y, support).
    seed : integer >= 0.
    sigma : noise level >= 0: E = sigma * g / sqrt(m) with g standard normal (complex normal,
        real and imaginary parts N(0, 1/2), for a complex ensemble), so E||e||^2 = sigma^2.
    amplitude : one of :data:`AMPLITUDES` ('gaussian', 'rademacher', 'uniform_1_2').
    normalize : scale every x to unit l2 norm (before computing Y).
    shared_A : one A (m, N) for the batch, else one per problem (B, m, N).
    K : size of the hidden set of the 'latent' model (default min(2 s, N)); only for 'latent'.
    block : block length b of the 'block' model (required there, must divide s and N); only there.
    dtype : real precision, torch.float64 (default) or torch.float32; 'partial_dft' gives
        complex128 / complex64 A and Y. X is always real.
    device : where the tensors end up; they are always drawn on the CPU.
    """
    caller = "make_instance"
    ensemble = _check_name("ensemble", ensemble, ENSEMBLES, caller)
    signal = _check_name("signal", signal, SIGNALS, caller)
    amplitude = _check_name("amplitude", amplitude, AMPLITUDES, caller)
    m = check_int("m", m, caller=caller, low=1)
    N = check_int("N", N, caller=caller, low=1)
    s = check_int("s", s, caller=caller, low=1)
    if s > m:
        raise InvalidParameterError(f"{caller}: s must be <= m = {m} (at most m nonzeros can be recovered); got s = {s}.")
    if s > N:
        raise InvalidParameterError(f"{caller}: s must be <= N = {N}; got s = {s}.")
    batch = check_int("batch", batch, caller=caller, low=0)
    seed = check_int("seed", seed, caller=caller, low=0)
    if isinstance(sigma, torch.Tensor):
        if sigma.numel() != 1 or sigma.is_complex():
            raise InvalidParameterError(f"{caller}: sigma must be a real number >= 0; got a tensor of shape {tuple(sigma.shape)}.")
        sigma = float(sigma)
    check_positive("sigma", sigma, caller=caller, allow_zero=True)
    sigma = float(sigma)
    normalize = _check_bool("normalize", normalize, caller)
    shared_A = _check_bool("shared_A", shared_A, caller)
    if dtype not in (torch.float32, torch.float64):
        raise DTypeError(f"{caller}: dtype must be torch.float32 or torch.float64 (the real precision; "
                         f"'partial_dft' picks complex64 / complex128 itself); got {dtype!r}.")
    dev = _check_device(device, caller)

    # options of the signal model: refuse those it does not use, fill defaults, check ranges
    options = {"K": K, "block": block}
    allowed = SIGNAL_OPTIONS[signal]
    for name, value in options.items():
        if name not in allowed and value is not None:
            users = [k for k, v in SIGNAL_OPTIONS.items() if name in v]
            raise InvalidParameterError(f"{caller}: {name} is only used by signal = {users[0]!r}; "
                                        f"got {name} = {value!r} with signal = {signal!r}.")
    if signal == "latent":
        if K is None:
            K = default_K(s, N)
        K = check_int("K", K, caller=caller, low=1)
        if K < s:
            raise InvalidParameterError(f"{caller}: K must be >= s = {s} (each support is s indices of the "
                                        f"hidden set of size K); got K = {K}.")
        if K > N:
            raise InvalidParameterError(f"{caller}: K must be <= N = {N}; got K = {K}.")
    if signal == "block":
        if block is None:
            raise InvalidParameterError(f"{caller}: block (the block length) is required with signal = 'block'.")
        block = check_int("block", block, caller=caller, low=1)
        if s % block:
            raise InvalidParameterError(f"{caller}: block must divide s = {s}; got block = {block}.")
        if N % block:
            raise InvalidParameterError(f"{caller}: block must divide N = {N}; got block = {block}.")
    if ensemble == "partial_dft":
        if N % 2:
            raise InvalidParameterError(f"{caller}: N must be even for ensemble = 'partial_dft'; got N = {N}.")
        if m > N - 1:
            raise InvalidParameterError(f"{caller}: m must be <= N - 1 = {N - 1} for ensemble = 'partial_dft' "
                                        f"(rows are drawn without replacement from N - 1 frequencies); got m = {m}.")
    if ensemble == "partial_dct" and m > N:
        raise InvalidParameterError(f"{caller}: m must be <= N = {N} for ensemble = 'partial_dct' "
                                    f"(rows are drawn without replacement); got m = {m}.")

    params = {"generator_version": GENERATOR_VERSION, "ensemble": ensemble, "signal": signal,
              "amplitude": amplitude, "m": m, "N": N, "s": s, "batch": batch, "seed": seed,
              "sigma": sigma, "normalize": normalize, "shared_A": shared_A, "K": K, "block": block}
    rng_seed = derive_seed(params)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(rng_seed)

    is_complex = ensemble in COMPLEX_ENSEMBLES
    A = ENSEMBLES[ensemble](m, N, gen, torch.float64, batch=None if shared_A else batch)
    sig_opts = {k: v for k, v in (("K", K), ("block", block)) if k in allowed}
    support, info = SIGNALS[signal](batch, N, s, gen, **sig_opts)
    values = AMPLITUDES[amplitude]((batch, s), gen)
    X = torch.zeros((batch, N), dtype=torch.float64).scatter_(1, support, values)
    if normalize and batch:
        X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    g = torch.randn((batch, m), generator=gen, dtype=torch.float64)
    if is_complex:
        g_im = torch.randn((batch, m), generator=gen, dtype=torch.float64)
        g = torch.complex(g, g_im) / math.sqrt(2.0)
    E = g * (sigma / math.sqrt(m))
    Xa = X.to(A.dtype)
    Y = (Xa @ A.transpose(-2, -1) if shared_A else torch.einsum("bmn,bn->bm", A, Xa)) + E

    real = dtype
    cplx = complex_dtype(dtype)
    a_dtype = cplx if is_complex else real
    meta = dict(params)
    meta.update({
        "format_version": FORMAT_VERSION,
        "dtype": _DTYPE_NAMES[real],
        "A_dtype": _DTYPE_NAMES[a_dtype],
        "complex": is_complex,
        "T": info.get("T"),
        "rng_seed": rng_seed,
    })
    return Instance(A=A.to(a_dtype).to(dev), X=X.to(real).to(dev), Y=Y.to(a_dtype).to(dev),
                    support=support.to(dev), meta=meta)
