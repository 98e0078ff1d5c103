"""Uncertainty of scores and ranks: a paired bootstrap over problems, and shared ranks.

Every solver is scored on the *same* problems. Resampling the problems (with replacement, within
each cell) with the same draws for every solver gives score replicates that are *paired*: the
difference of two solvers' replicates is the bootstrap distribution of their score difference on
the same problems, so two names of one algorithm differ by exactly 0 in every replicate.

* :func:`resample_index` -- the draws of one cell, a function of the bootstrap seed and the cell's
  key only (not of which solvers are scored, nor in what order);
* :func:`percentile_interval` -- the percentile interval of replicates;
* :func:`shared_ranks` -- rank = 1 + the number of entries that are *significantly* better (the
  paired difference's interval lies above 0). Entries that the data cannot separate share a rank.
"""

from __future__ import annotations

import hashlib
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

__all__ = ["resample_index", "resampled_counts", "percentile_interval", "separated", "shared_ranks"]


def resample_index(n: int, n_boot: int, seed: int, key: Sequence) -> np.ndarray:
    """Indices ``(n_boot, n)`` drawn with replacement from ``range(n)``, seeded by ``seed`` and the
    cell ``key`` (e.g. ``(family, delta, s)``): the same cell gets the same draws for every solver."""
    digest = hashlib.sha256(repr((int(seed), tuple(str(k) for k in key))).encode()).digest()
    rng = np.random.default_rng(np.frombuffer(digest[:16], dtype=np.uint32))
    return rng.integers(0, n, size=(n_boot, n))


def resampled_counts(mask: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Successes ``(n_boot,)`` of one cell in each replicate: ``mask`` ``(n,)`` 0/1 per problem,
    ``index`` from :func:`resample_index`."""
    return np.asarray(mask, dtype=np.int64)[index].sum(axis=1)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> Tuple[float, float]:
    """``((1 - level)/2, (1 + level)/2)`` percentiles of the finite replicates (NaN if none)."""
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(r, [50.0 * (1 - level), 50.0 * (1 + level)])
    return float(lo), float(hi)


def separated(better: np.ndarray, worse: np.ndarray, level: float = 0.95) -> bool:
    """True when ``better`` beats ``worse`` at ``level``: the percentile interval of the paired
    differences ``better - worse`` lies entirely above 0."""
    lo, _ = percentile_interval(np.asarray(better, dtype=float) - np.asarray(worse, dtype=float), level)
    return bool(lo > 0)


def shared_ranks(replicates: Mapping[str, np.ndarray], level: float = 0.95) -> Dict[str, int]:
    """Rank of each entry: 1 + the number of entries significantly better (:func:`separated`).

    Equal algorithms get equal ranks; a rank is shared by every entry that nothing separates from
    the entries above it, so ranks may skip (1, 1, 3). Replicates must be paired (same draws).
    """
    names = list(replicates)
    reps = {k: np.asarray(v, dtype=float) for k, v in replicates.items()}
    lengths = {v.shape for v in reps.values()}
    if len(lengths) > 1:
        raise ValueError(f"replicates must be paired (same length); got shapes {sorted(lengths)}")
    return {a: 1 + sum(separated(reps[b], reps[a], level) for b in names if b != a) for a in names}
