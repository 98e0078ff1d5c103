"""Signal models (supports) and amplitude distributions.

A signal model is ``fn(batch, N, s, generator, **options) -> (support, info)`` registered in
:data:`SIGNALS`: ``support`` is a (batch, s) int64 tensor of sorted, distinct indices in [0, N) and
``info`` a JSON-able dict of what was drawn once for the whole batch (the hidden set ``T`` of the
latent model). An amplitude distribution is ``fn(shape, generator) -> float64 tensor`` registered in
:data:`AMPLITUDES`. All randomness comes from ``generator`` (a CPU ``torch.Generator``).

- ``uniform``: s indices drawn uniformly without replacement from {0, ..., N-1}.
- ``latent`` (sparsity in levels): a hidden set T of K indices is drawn once per batch
  (uniformly without replacement, reported sorted); each support is s indices drawn uniformly
  without replacement from T. ``K`` defaults to min(2 s, N).
- ``block``: the N indices form N/b aligned blocks {j b, ..., j b + b - 1}; s/b of them are drawn
  uniformly without replacement. b must divide both s and N.

Amplitudes: ``gaussian`` (iid N(0, 1)), ``rademacher`` (iid +-1), ``uniform_1_2`` (iid sign times
U[1, 2], so magnitudes lie in [1, 2]).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import torch

from greedybench._validation import InvalidParameterError, check_int

__all__ = ["SIGNALS", "AMPLITUDES", "uniform", "latent", "block", "default_K"]


def _choose(batch: int, n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """(batch, k) sorted distinct positions in [0, n), uniform without replacement."""
    keys = torch.rand((batch, n), generator=generator, dtype=torch.float64)
    return keys.argsort(dim=1, stable=True)[:, :k].sort(dim=1).values


def _check_sizes(batch, N, s, caller):
    batch = check_int("batch", batch, caller=caller, low=0)
    N = check_int("N", N, caller=caller, low=1)
    s = check_int("s", s, caller=caller, low=1, high=N, high_name="N")
    return batch, N, s


def default_K(s: int, N: int) -> int:
    """Default size of the latent set: 2 s, capped at N."""
    return min(2 * s, N)


def uniform(batch: int, N: int, s: int, generator: torch.Generator) -> Tuple[torch.Tensor, dict]:
    """s indices uniformly without replacement from range(N), per problem."""
    batch, N, s = _check_sizes(batch, N, s, "uniform")
    return _choose(batch, N, s, generator), {}


def latent(batch: int, N: int, s: int, generator: torch.Generator, *,
           K: Optional[int] = None) -> Tuple[torch.Tensor, dict]:
    """Sparsity in levels: supports are s-subsets of one hidden K-subset T (info["T"], sorted)."""
    caller = "latent"
    batch, N, s = _check_sizes(batch, N, s, caller)
    K = default_K(s, N) if K is None else check_int("K", K, caller=caller, low=s, high=N, high_name="N")
    T = _choose(1, N, K, generator)[0]                      # (K,) sorted
    pos = _choose(batch, K, s, generator)                   # sorted positions into T
    support = T[pos]                                        # T sorted => support sorted
    return support, {"T": [int(t) for t in T]}


def block(batch: int, N: int, s: int, generator: torch.Generator, *,
          block: int) -> Tuple[torch.Tensor, dict]:
    """s/b aligned blocks of length b = ``block``, chosen without replacement."""
    caller = "block"
    batch, N, s = _check_sizes(batch, N, s, caller)
    b = check_int("block", block, caller=caller, low=1)
    if s % b:
        raise InvalidParameterError(f"{caller}: block must divide s = {s}; got block = {b}.")
    if N % b:
        raise InvalidParameterError(f"{caller}: block must divide N = {N}; got block = {b}.")
    blocks = _choose(batch, N // b, s // b, generator)      # (batch, s/b) sorted block indices
    support = (blocks[:, :, None] * b + torch.arange(b)).reshape(batch, s)
    return support, {}


#: name -> fn(batch, N, s, generator, **options) -> (support (batch, s) int64, info dict)
SIGNALS: Dict[str, Callable[..., Tuple[torch.Tensor, dict]]] = {
    "uniform": uniform,
    "latent": latent,
    "block": block,
}

#: the options each signal model accepts (make_instance refuses the others)
SIGNAL_OPTIONS: Dict[str, Tuple[str, ...]] = {"uniform": (), "latent": ("K",), "block": ("block",)}


def _gaussian_amp(shape, generator):
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def _rademacher_amp(shape, generator):
    return (2 * torch.randint(0, 2, shape, generator=generator, dtype=torch.int64) - 1).to(torch.float64)


def _uniform_1_2_amp(shape, generator):
    mag = 1.0 + torch.rand(shape, generator=generator, dtype=torch.float64)
    return mag * _rademacher_amp(shape, generator)


#: name -> fn(shape, generator) -> float64 tensor of amplitudes
AMPLITUDES: Dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": _gaussian_amp,
    "rademacher": _rademacher_amp,
    "uniform_1_2": _uniform_1_2_amp,
}
