"""Solve stage: one solver variant on one instance slice -> a per-job CSV of result rows.

Each instance in the slice is one batch (``trials`` problems of one (m, N, s) cell) solved in a
single call; ``time_per_problem_s`` is that call's wall time (device-synchronised) divided by the
batch size. It is indicative only (no warm-up, one repeat); results/tables/timing.csv follows the
full timing protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .tables import RESULT_COLUMNS

__all__ = ["solve_stage", "load_state"]


def load_state(path, device):
    """A trained solver's state (a plain dict of tensors and Python values)."""
    return torch.load(path, map_location=device, weights_only=True)


def solve_stage(out_csv, *, instance_dir, experiment: str, entry: str, params_json: str,
                solver_files=(), version: Optional[str] = None, family_name: str, family: dict,
                success: dict, device: str, dtype: str, threads: int,
                state_path: Optional[str] = None) -> int:
    """Solve every instance of ``instance_dir`` (its manifest) and write the rows; returns their number."""
    from greedybench.analysis.metrics import recovery_metrics
    from greedybench.datasets import load_instance

    from ..registry import ProblemBatch, run_solver_ex
    from .plan import load_variant
    from .generate import read_manifest
    from ..storage import provenance, set_threads, write_csv
    from .timing import time_call

    set_threads(threads)
    variant = load_variant(entry, params_json, solver_files, version)
    state = load_state(state_path, device) if state_path else None
    manifest = read_manifest(instance_dir)
    prov = provenance(device, dtype)
    base = {"experiment": experiment, "solver": variant.name, "entry": variant.entry.name,
            "solver_version": variant.version, "params": variant.params_json, "family": family_name,
            "ensemble": family["ensemble"], "signal": family["signal"], "amplitude": family["amplitude"]}
    rows = []
    for item in manifest["instances"]:
        path = Path(instance_dir) / item["file"]
        inst = load_instance(path, device=device)
        problem = ProblemBatch.from_instance(inst, family=family_name, instance=str(path))
        t = time_call(lambda: run_solver_ex(variant, problem, state=state), device=device, repeats=1)
        x, n_iter = t.result
        met = recovery_metrics(x, inst.X, inst.A, inst.Y, threshold=success["threshold"],
                               linf_threshold=success["linf_threshold"], support_tol=success["support_tol"])
        cell = dict(base, m=inst.m, N=inst.N, s=inst.s, delta=inst.m / inst.N, rho=inst.s / inst.m,
                    sigma=float(inst.meta.get("sigma", 0.0)), seed=int(inst.meta["seed"]),
                    time_per_problem_s=t.median / max(inst.B, 1), batch_size=inst.B, **prov)
        for b in range(inst.B):
            row = dict(cell, problem=b, n_iter=None if n_iter is None else int(n_iter[b]))
            row.update({k: v[b] for k, v in met.items()})
            rows.append(row)
    write_csv(out_csv, RESULT_COLUMNS, rows)
    return len(rows)
