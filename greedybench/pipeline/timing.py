"""Timing protocol and the timing stage (results/tables/timing.csv).

Protocol (benchmark_practice 6.2), enforced by :func:`time_call`:

1. Threads are pinned before anything runs (``torch.set_num_threads`` and the BLAS environment
   variables, :func:`greedybench.storage.set_threads`) and recorded in every row.
2. Warm-up calls are run and excluded; the first one goes through
   :func:`greedybench.registry.run_solver`, so the contract (finite (B, N) output) is checked
   outside the timed region.
3. Each timed repeat is ``sync; t0; fn(); sync; t1`` with ``torch.cuda.synchronize`` *inside* the
   timed region on CUDA, so asynchronous kernels are billed to the solver (benchopt#581).
4. The median over repeats is reported with the IQR and the minimum; time per problem is the
   batch time divided by the batch size, reported next to the batch size.
5. Instances are drawn before timing starts and live on the job's device already; evaluation
   (metrics) is never inside the timed region.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, List

import torch

from ..datasets import make_instance
from ..registry import ProblemBatch, load_variant, run_solver
from ..storage import provenance, set_threads, write_csv
from .config import cell_sizes
from .generate import DTYPES, _family_kwargs
from .tables import TIMING_COLUMNS

__all__ = ["TimingResult", "time_call", "sync", "timing_stage", "TIMING_COLUMNS"]


def sync(device) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


@dataclass
class TimingResult:
    times: List[float]
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        q = statistics.quantiles(self.times, n=4, method="inclusive")
        return q[2] - q[0]

    @property
    def min(self) -> float:
        return min(self.times)


def time_call(fn: Callable[[], Any], *, device="cpu", repeats: int = 1, warmup: int = 0,
              first: Callable[[], Any] = None) -> TimingResult:
    """Time ``fn`` following the protocol above; ``result`` is the last call's return value.

    ``first``, if given, replaces ``fn`` for the first warm-up call (e.g. a contract-checked call).
    """
    out = None
    for i in range(warmup):
        out = (first if (i == 0 and first is not None) else fn)()
        sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return TimingResult(times, out)


def timing_stage(out_csv, *, entry: str, params_json: str, solver_files=(), version: str = None,
                 family_name: str, family: dict, delta: float, rho: float, N: List[int], batch_for_N: int,
                 batch_sizes: List[int], N_for_batch: int, repeats: int, warmup: int, seed: int,
                 device: str, dtype: str, threads: int) -> None:
    """Time one solver variant vs N (batch ``batch_for_N``) and vs batch size (N ``N_for_batch``)."""
    set_threads(threads)
    variant = load_variant(entry, params_json, solver_files, version)
    prov = provenance(device, dtype)
    sweeps = [("N", n, batch_for_N) for n in N] + [("batch", N_for_batch, b) for b in batch_sizes]
    rows = []
    for sweep, n, b in sweeps:
        m, s = cell_sizes(n, delta, rho)
        inst = make_instance(m=m, N=n, s=s, batch=b, seed=seed, dtype=DTYPES[dtype], device=device,
                             **_family_kwargs(family))
        problem = ProblemBatch.from_instance(inst, family=family_name)
        kwargs = dict(variant.params)
        t = time_call(lambda: variant.entry.solve(problem, **kwargs), device=device, repeats=repeats,
                      warmup=max(1, warmup), first=lambda: run_solver(variant, problem))
        rows.append({
            "solver": variant.name, "entry": variant.entry.name, "solver_version": variant.version,
            "params": variant.params_json, "family": family_name, "ensemble": family["ensemble"],
            "signal": family["signal"], "amplitude": family["amplitude"], "sweep": sweep, "m": m,
            "N": n, "s": s, "batch_size": b, "warmup": max(1, warmup), "repeats": repeats,
            "median_s": t.median, "iqr_s": t.iqr, "min_s": t.min, "time_per_problem_s": t.median / b,
            **prov})
    write_csv(out_csv, TIMING_COLUMNS, rows)
