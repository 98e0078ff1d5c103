"""Transition stage: the adaptive location of rho*(delta) (issue 14) as pipeline jobs.

One job per (family, solver variant) locates the 50 % transition at every (N, delta) of the
config's ``transitions`` section with :func:`greedybench.analysis.transition.locate_transition`
(bisection bracket, dense sampling, logistic maximum likelihood, profile-likelihood interval).
Its trial function draws seeded noiseless problems with :func:`greedybench.datasets.make_instance`
and solves them through the one solve core, :func:`greedybench.pipeline.core.solve_instance`, so
success is scored by :func:`greedybench.analysis.metrics.recovery_metrics` with the section's
criterion (``rel_l2``: column ``success``, ``linf``: ``success_linf``, ``support``:
``exact_support``).

Determinism: the seed of a location depends on (``transitions.seed``, family, N, delta) only (not
on the solver: every solver meets the same problems at the same (stage, s)); within it the seed of
every (stage, s) call is :func:`greedybench.analysis.transition.trial_seed`, and a call's
``trials_per_matrix``-sized chunks each get their own A from (call seed, chunk index). A job
writes one CSV atomically (:func:`greedybench.storage.write_csv`): one row per (delta, stage, s)
count, with that delta's fit repeated on each row (:data:`JOB_COLUMNS`); :func:`merge_transitions`
splits the job files into ``tables/transitions.csv`` (one row per location) and
``tables/transition_counts.csv`` (every raw count).

Resume: each finished location is also written atomically to ``<job>.parts/N<N>-delta<delta>-
<key>.csv``, where ``<key>`` hashes everything the location's result depends on (solver entry,
parameters and version, family, N, delta, protocol, criterion, trials per matrix, seed, s range,
device, dtype, the instance generator's version, the meaning of the protocol and scoring sources,
torch and numpy versions). A job killed mid-way (Snakemake then deletes its incomplete CSV) keeps the parts
of the locations it finished; the rerun reads those back instead of recomputing them, so it
locates only the missing ones, and writes the same CSV, byte for byte, as an uninterrupted run
(the fit is a function of the counts, every value round-trips through the CSV). Parts made with
other inputs have another key and are ignored; the parts directory is removed once the job's CSV
is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import pandas as pd
import torch

from ..analysis.l1 import rho_weak
from ..analysis.transition import TransitionProtocol, fit_counts, locate_transition
from ..datasets import make_instance
from ..datasets.instance import GENERATOR_VERSION
from ..registry import load_variant
from ..storage import provenance, read_csv, set_threads, write_csv
from ..versioning import code_version
from .core import solve_instance

__all__ = ["RULE_COLUMN", "JOB_COLUMNS", "FIT_COLUMNS", "COUNT_COLUMNS", "location_seed",
           "trial_function", "transitions_stage", "parts_dir", "merge_transitions", "refit"]

#: success rule of the section -> column of recovery_metrics
RULE_COLUMN = {"rel_l2": "success", "linf": "success_linf", "support": "exact_support"}

_KEY = ["family", "solver", "entry", "params", "solver_version", "ensemble", "signal", "amplitude",
        "rule", "threshold", "N", "delta", "m", "seed"]
_FIT = ["rho_star", "ci_lo", "ci_hi", "b0", "width_10_90", "flag", "s_lo", "s_hi", "n_trials",
        "rho_W"]
_PROV = list(provenance("cpu", "float64"))
_COUNT = ["s", "rho", "successes", "trials", "stage"]
JOB_COLUMNS = _KEY + _FIT + _COUNT + _PROV
FIT_COLUMNS = _KEY + _FIT + _PROV
COUNT_COLUMNS = _KEY + _COUNT
#: sources (under greedybench/) whose meaning a location's result depends on besides the solver's
_RESULT_SOURCES = ("analysis/transition.py", "analysis/phase.py", "analysis/metrics.py",
                   "pipeline/core.py", "pipeline/transitions.py")


def location_seed(base: int, family: str, N: int, delta: float) -> int:
    """Seed of one location: from (base, family, N, delta) only (a 63-bit integer)."""
    key = (zlib.crc32(family.encode()), int(N), int(round(float(delta) * 1_000_000)))
    a, b = np.random.SeedSequence(entropy=int(base), spawn_key=key).generate_state(2)
    return int((int(a) << 31) ^ int(b)) & ((1 << 63) - 1)


def _chunk_seed(seed: int, chunk: int) -> int:
    a, b = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(chunk),)).generate_state(2)
    return int((int(a) << 31) ^ int(b)) & ((1 << 62) - 1)


def _success_rule(success: dict) -> dict:
    """The solve core's ``success`` dict for the section's criterion (the other two thresholds
    keep their defaults; only the criterion's column is read)."""
    rule, thr = success["rule"], float(success["threshold"])
    return {"threshold": thr if rule == "rel_l2" else 1e-3,
            "linf_threshold": thr if rule == "linf" else 1e-2,
            "support_tol": float(success.get("support_tol", 1e-6))}


def trial_function(variant, *, family_name: str, family: dict, N: int, m: int, success: dict,
                   trials_per_matrix: int, device: str, dtype: str):
    """``run(s, n_trials, seed) -> successes`` for :func:`locate_transition`: ``n_trials`` noiseless
    problems of the family in chunks of ``trials_per_matrix`` (one A per chunk), each chunk solved
    by :func:`solve_instance` and scored by the section's criterion."""
    column = RULE_COLUMN[success["rule"]]
    rule = _success_rule(success)
    tdtype = getattr(torch, dtype)
    extra = {k: family[k] for k in ("normalize", "K", "block") if family.get(k) is not None}

    def run(s: int, n: int, seed: int) -> int:
        total = 0
        for c in range(math.ceil(n / trials_per_matrix)):
            b = min(trials_per_matrix, n - c * trials_per_matrix)
            inst = make_instance(ensemble=family["ensemble"], signal=family["signal"],
                                 amplitude=family["amplitude"], m=m, N=N, s=s, batch=b,
                                 seed=_chunk_seed(seed, c), shared_A=True, dtype=tdtype,
                                 device=device, **extra)
            rows = solve_instance(variant, inst, success=rule, device=device, dtype=dtype,
                                  experiment="transition", family_name=family_name, family=family)
            total += int(sum(bool(r[column]) for r in rows))
        return total

    return run


def parts_dir(out_csv) -> Path:
    """Directory of a job's finished locations (``<job>.parts`` beside the job CSV)."""
    out = Path(out_csv)
    return out.with_name(out.stem + ".parts")


def _part_path(parts: Path, N: int, delta: float, inputs: dict) -> Path:
    """Part file of one location: its name carries a hash of every input of its result."""
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return parts / f"N{N}-delta{delta!r}-{key}.csv"


def transitions_stage(out_csv, *, entry: str, params_json: str, solver_files: Iterable = (),
                      version: Optional[str] = None, family_name: str, family: dict,
                      sizes: List, protocol: dict, success: dict, trials_per_matrix: int,
                      seed: int, device: str, dtype: str, rho_max: float = 1.0,
                      threads: int = 1) -> pd.DataFrame:
    """Locate rho* at every (N, delta) of ``sizes`` ([[N, [delta, ...]], ...]) for one (family,
    variant); write the job CSV, return it.

    The search runs over 1 <= s <= ceil(rho_max m) (a greedy solver asked for s near m costs the
    most and never succeeds there); a transition beyond it shows as s_hi = s_max and flag
    "separated"/"no_failure" in the row. Finished locations are kept in :func:`parts_dir` until the
    CSV is written, and a rerun reuses those made with the same inputs (module docstring).
    """
    set_threads(threads)
    variant = load_variant(entry, params_json, solver_files, version)
    proto = TransitionProtocol(**protocol)
    prov = provenance(device, dtype)
    parts = parts_dir(out_csv)
    root = Path(__file__).resolve().parents[1]
    job_inputs = {"entry": variant.entry.name, "params": variant.params_json,
                  "version": variant.version, "family_name": family_name, "family": family,
                  "protocol": protocol, "success": success, "trials_per_matrix": trials_per_matrix,
                  "device": device, "dtype": dtype, "generator": GENERATOR_VERSION,
                  "code": code_version([root / r for r in _RESULT_SOURCES], root=root),
                  "torch": prov["torch_version"], "numpy": prov["numpy_version"]}
    rows: List[Dict] = []
    for N, delta in [(int(n), float(d)) for n, ds in sizes for d in ds]:
        m = int(round(float(delta) * N))
        if m < 2:
            raise ValueError(f"transitions: N = {N}, delta = {delta} gives m = {m} < 2 measurements; "
                             "raise N or delta")
        loc_seed = location_seed(seed, family_name, N, delta)
        s_max = max(2, min(m, int(math.ceil(rho_max * m))))
        part = _part_path(parts, N, delta, {**job_inputs, "N": N, "delta": delta, "m": m,
                                            "seed": loc_seed, "s_max": s_max})
        if part.is_file():
            done = read_csv(part)
            rows.extend(done)
            print(f"{variant.name} {family_name} N={N} delta={delta}: rho* = "
                  f"{float(done[0]['rho_star']):.4f} (resumed from {part.name})", flush=True)
            continue
        run = trial_function(variant, family_name=family_name, family=family, N=N, m=m,
                             success=success, trials_per_matrix=trials_per_matrix, device=device,
                             dtype=dtype)
        t0 = time.perf_counter()
        res = locate_transition(run, m, protocol=proto, seed=loc_seed, s_max=s_max)
        dt = time.perf_counter() - t0
        key = {"family": family_name, "solver": variant.name, "entry": variant.entry.name,
               "params": variant.params_json, "solver_version": variant.version,
               "ensemble": family["ensemble"], "signal": family["signal"],
               "amplitude": family["amplitude"], "rule": success["rule"],
               "threshold": float(success["threshold"]), "N": int(N), "delta": float(delta), "m": m,
               "seed": loc_seed}
        fit = {"rho_star": res.rho_star, "ci_lo": res.ci_lo, "ci_hi": res.ci_hi, "b0": res.b0,
               "width_10_90": res.width, "flag": res.flag, "s_lo": res.s_lo, "s_hi": res.s_hi,
               "n_trials": int(res.counts["trials"].sum()),
               "rho_W": float(rho_weak(float(delta)))}
        print(f"{variant.name} {family_name} N={N} delta={delta}: rho* = {res.rho_star:.4f} "
              f"[{res.ci_lo:.4f}, {res.ci_hi:.4f}], {fit['n_trials']} trials, {dt:.1f}s", flush=True)
        loc_rows = [{**key, **fit, **{k: c[k] for k in _COUNT}, **prov}
                    for c in res.counts.to_dict("records")]
        write_csv(part, JOB_COLUMNS, loc_rows)
        rows.extend(loc_rows)
    write_csv(out_csv, JOB_COLUMNS, rows)
    shutil.rmtree(parts, ignore_errors=True)
    return pd.read_csv(out_csv, dtype={c: str for c in ("params", "solver_version", "git_commit")})


def refit(counts: pd.DataFrame, protocol: dict) -> pd.DataFrame:
    """rho*, ci_lo, ci_hi per location, recomputed from raw counts alone (they reproduce the
    table: the fit is a function of the counts)."""
    proto = TransitionProtocol(**protocol)
    out = []
    for key, g in counts.groupby(["family", "solver", "N", "delta"], sort=True):
        fit, lo, hi = fit_counts(g, int(g["m"].iloc[0]), proto, seed=int(g["seed"].iloc[0]))
        out.append(dict(zip(["family", "solver", "N", "delta"], key), rho_star=fit.rho_star,
                        ci_lo=lo, ci_hi=hi))
    return pd.DataFrame(out)


def merge_transitions(job_csvs: Iterable, table_csv, counts_csv) -> int:
    """Per-job CSVs -> ``table_csv`` (one row per location, FIT_COLUMNS) and ``counts_csv`` (every
    raw count, COUNT_COLUMNS). Returns the number of locations."""
    frames = [pd.read_csv(p) for p in sorted(str(p) for p in job_csvs)]
    if not frames:
        write_csv(table_csv, FIT_COLUMNS, [])
        write_csv(counts_csv, COUNT_COLUMNS, [])
        return 0
    d = pd.concat(frames, ignore_index=True)
    missing = sorted(set(JOB_COLUMNS) - set(d.columns))
    if missing:
        raise ValueError(f"merge_transitions: job files lack columns {missing}; rerun those jobs")
    order = ["family", "solver", "N", "delta"]
    fits = d.drop_duplicates(subset=order)[FIT_COLUMNS].sort_values(order, kind="stable")
    counts = d[COUNT_COLUMNS].sort_values(order + ["s"], kind="stable")
    for p in (table_csv, counts_csv):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    write_csv(table_csv, FIT_COLUMNS, fits.to_dict("records"))
    write_csv(counts_csv, COUNT_COLUMNS, counts.to_dict("records"))
    return len(fits)
