"""Solve stage: one solver variant on one instance slice -> a per-job CSV of result rows.

Each instance of the slice's manifest goes through the one solve core,
:func:`greedybench.pipeline.core.solve_instance`.
"""

from __future__ import annotations

from typing import Optional

from ..storage import set_threads, write_csv
from ..registry import load_variant
from .core import load_state, solve_instance
from .generate import load_slice_instance, read_manifest
from .tables import RESULT_COLUMNS

__all__ = ["solve_stage"]


def solve_stage(out_csv, *, instance_dir, experiment: str, entry: str, params_json: str,
                solver_files=(), version: Optional[str] = None, family_name: str, family: dict,
                success: dict, device: str, dtype: str, threads: int,
                state_path: Optional[str] = None) -> int:
    """Solve every instance of ``instance_dir`` (its manifest) and write the rows; returns their number."""
    set_threads(threads)
    variant = load_variant(entry, params_json, solver_files, version)
    state = load_state(state_path, device) if state_path else None
    rows = []
    manifest = read_manifest(instance_dir)
    for item in manifest["instances"]:
        inst, path = load_slice_instance(instance_dir, manifest, item, family, device=device)
        rows += solve_instance(variant, inst, state=state, success=success,
                               device=device, dtype=dtype, experiment=experiment, family_name=family_name,
                               family=family, source=str(path))
    write_csv(out_csv, RESULT_COLUMNS, rows)
    return len(rows)
