"""The trained track of the leaderboard: the nets trained per task, scored on held-out problems,
with the untrained solvers and the oracles on the same test problems (docs/leaderboard.md,
"The trained track"; the configuration is :mod:`.trained_config`).

Per task (m, s) of ``config/leaderboard_trained.yaml``:

* one draw of ``n_train + n_val + n_test`` problems of the family (:func:`greedybench.datasets.make_instance`,
  seeded by ``seed`` and the task's sizes), so that A and the hidden set T are shared by the task,
  split into consecutive train / val / test problems (:func:`task_splits`): disjoint problems, one
  operator;
* every trained entry is trained on the train split (model selection on val) with ``train_seed``
  (:func:`train_variant`); the hidden set is withheld (``meta["T"] = None``): nets learn from
  examples only;
* every entry solves the test split through the one solve core
  (:func:`greedybench.pipeline.core.solve_instance`); T is withheld from every entry but the
  oracles. A net that fails to train, or any entry whose batch fails, counts every test problem of
  that task as failed (status ``error``).

Rows (:data:`ROW_COLUMNS`, one per entry, task and test problem) are the stored result; the table
(:func:`compute_trained_table`) is a pure function of them: success rate and mean NMSE (dB) per
task with paired-bootstrap intervals, the score (mean success rate over tasks) with its interval,
and shared ranks (:mod:`greedybench.analysis.ranking`). Oracles are references: shown, not ranked.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

from ..analysis.ranking import percentile_interval, resample_index, resampled_counts, shared_ranks
from ..datasets import Instance, make_instance
from ..pipeline.core import solve_instance
from ..pipeline.generate import DTYPES
from ..registry import ProblemBatch, SolverContractError, Variant, discover
from ..storage import read_csv, set_threads, write_csv, write_csv_sorted
from .grid import LeaderboardError
from .rows import PROVENANCE_KEYS, cell_provenance
from .trained_config import GROUPS, Track, load_track

__all__ = ["ROW_COLUMNS", "TIMING_ROW_COLUMNS", "STORED_TRAINED_CSV", "STORED_TRAINED_ROWS", "task_splits",
           "train_variant", "run_track", "write_trained_rows", "read_trained_rows", "compute_trained_table",
           "trained_columns", "write_trained_table", "trained_stage"]

_REPO = Path(__file__).resolve().parents[2]
STORED_TRAINED_CSV = _REPO / "results" / "leaderboard_trained.csv"
STORED_TRAINED_ROWS = _REPO / "results" / "leaderboard_trained_rows.csv.gz"

ROW_COLUMNS = (
    "track_version", "track_sha", "group", "entry", "variant", "solver_version", "params", "task", "m", "N",
    "s", "seed", "train_seed", "problem", "status", "reason", "success", "rel_err", "nmse", "exact_support",
    "time_per_problem_s", "train_seconds", "train_best_epoch") + PROVENANCE_KEYS
#: columns that measure time (differ between two otherwise identical runs)
TIMING_ROW_COLUMNS = ("time_per_problem_s", "train_seconds")
_EXPERIMENT = "leaderboard_trained"
_STATUS_ORDER = {"ok": 0, "errors": 1, "failed": 2, "reference": 3, "unavailable": 4}


# ------------------------------------------------------------------------------------------------
# problems and training


def _slice(inst: Instance, start: int, stop: int, split: str) -> Instance:
    A = inst.A if inst.A.dim() == 2 else inst.A[start:stop]
    meta = dict(inst.meta, batch=stop - start, split=split, split_start=start, draw_batch=inst.B)
    return Instance(A=A, X=inst.X[start:stop], Y=inst.Y[start:stop], support=inst.support[start:stop], meta=meta)


def task_splits(track: Track, task: str, *, device: Optional[str] = None) -> Dict[str, Instance]:
    """``{"train", "val", "test"}`` instances of one task: consecutive slices of one draw of
    ``n_train + n_val + n_test`` problems (one A, one hidden set T; disjoint problems)."""
    t = track.tasks[task]
    fam = {k: v for k, v in track.family.items() if v is not None}
    inst = make_instance(m=t["m"], N=track.N, s=t["s"], batch=track.n_total, seed=track.seed, sigma=track.sigma,
                         dtype=DTYPES[track.dtype], device=device or track.device, **fam)
    a, b = track.split["n_train"], track.split["n_train"] + track.split["n_val"]
    return {"train": _slice(inst, 0, a, "train"), "val": _slice(inst, a, b, "val"),
            "test": _slice(inst, b, inst.B, "test")}


def _training_batch(inst: Instance, task: str) -> ProblemBatch:
    batch = ProblemBatch.from_instance(inst, with_X=True, family=task)
    batch.meta["T"] = None  # the nets learn T from examples, never from the generator
    return batch


def train_variant(variant: Variant, splits: Dict[str, Instance], task: str, track: Track,
                  **overrides) -> Dict[str, Any]:
    """Train one trained variant on a task's train split (validation on val) with the track's
    ``training`` options (``overrides`` replace some, e.g. ``epochs``) and ``train_seed``.
    Returns the trained state (a plain dict); raises :class:`SolverContractError` naming it."""
    opts = {**track.training, **overrides}
    where = f"solver {variant.name} ({variant.entry.path}) training on task {task!r}"
    try:
        state = variant.entry.train(_training_batch(splits["train"], task), _training_batch(splits["val"], task),
                                    seed=track.train_seed, progress=False, **variant.params, **opts)
    except Exception as exc:  # noqa: BLE001 -- any failure of user code is reported, not raised raw
        raise SolverContractError(f"{where}: train raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict):
        raise SolverContractError(f"{where}: train must return a dict; got {type(state).__name__}")
    return state


# ------------------------------------------------------------------------------------------------
# running


def _base(track: Track, group: str, name: str, variant: Optional[Variant], task: str, version: str) -> Dict:
    t = track.tasks[task]
    return {"track_version": track.version, "track_sha": track.sha, "group": group, "entry": name,
            "variant": variant.name if variant is not None else name, "solver_version": version,
            "params": variant.params_json if variant is not None else "", "task": task, "m": t["m"],
            "N": track.N, "s": t["s"], "seed": track.seed,
            "train_seed": track.train_seed if group == "trained" else None}


def _failed_rows(base: Dict, n: int, reason: str, status: str = "error") -> List[Dict]:
    reason = " ".join(reason.split())
    return [dict(base, problem=b, status=status, reason=reason, success=0, exact_support=0) for b in range(n)]


def run_track(track: Track, *, solver_files: Iterable = (), entries: Optional[Sequence[str]] = None,
              echo: Callable[[str], None] = print) -> List[Dict[str, Any]]:
    """Train and solve every entry of the track (or only ``entries``) on every task; one row per
    entry, task and test problem (:data:`ROW_COLUMNS`). Failures become rows, never exceptions."""
    set_threads(track.threads)
    known = discover([Path(p).resolve() for p in solver_files])
    prov = cell_provenance(track.device, track.dtype)
    n_test = track.split["n_test"]
    rows: List[Dict[str, Any]] = []
    first_call = set()
    for task in track.tasks:
        splits = task_splits(track, task)
        for group in GROUPS:
            for name in track.entries[group]:
                if entries is not None and name not in entries:
                    continue
                e = known[name]
                version = e.version if e.available else ""
                if not e.available:
                    rows.append(dict(_base(track, group, name, None, task, version), **prov, status="unavailable",
                                     reason=" ".join(e.reason.split()), success=0))
                    continue
                for v in e.variants():
                    base = dict(_base(track, group, name, v, task, version), **prov)
                    state, t_train, best = None, None, None
                    try:
                        if e.trained:
                            t0 = time.perf_counter()
                            state = train_variant(v, splits, task, track)
                            t_train = time.perf_counter() - t0
                            best = state.get("best_epoch")
                        out = solve_instance(v, splits["test"], state=state, success=track.success,
                                             device=track.device, dtype=track.dtype, experiment=_EXPERIMENT,
                                             family_name=task, family=track.family, source=f"{task}/test",
                                             hide_hidden_set=(group != "oracle"),
                                             warmup=0 if v.name in first_call else 1)
                    except SolverContractError as exc:
                        echo(f"  {task}: {v.name} failed: {exc}")
                        rows += _failed_rows(dict(base, train_seconds=t_train), n_test, str(exc))
                        continue
                    first_call.add(v.name)
                    for r in out:
                        rel = float(r["rel_err"])
                        rows.append(dict(base, problem=int(r["problem"]), status="ok", reason="",
                                         success=int(bool(r["success"])), rel_err=rel, nmse=rel * rel,
                                         exact_support=int(bool(r["exact_support"])),
                                         time_per_problem_s=r["time_per_problem_s"], train_seconds=t_train,
                                         train_best_epoch=best))
                    k = sum(int(bool(r["success"])) for r in out)
                    echo(f"  {task}: {v.name:<36} {k}/{len(out)} successes"
                         + (f" (trained {t_train:.1f} s)" if t_train is not None else ""))
    return rows


# ------------------------------------------------------------------------------------------------
# rows files


def _row_key(r):
    p = r.get("problem", "")
    return (str(r["task"]), GROUPS.index(str(r["group"])), str(r["variant"]), int(p) if p not in ("", None) else -1)


def write_trained_rows(path, rows: Iterable[Dict[str, Any]]) -> None:
    """The rows, sorted, in the one CSV format; ``.gz`` is gzip with a zero mtime (same rows, same bytes)."""
    write_csv_sorted(path, ROW_COLUMNS, rows, _row_key)


def read_trained_rows(path) -> List[Dict[str, str]]:
    rows = read_csv(path)
    if rows and list(rows[0]) != list(ROW_COLUMNS):
        raise LeaderboardError(f"{path}: columns differ from greedybench.leaderboard.trained.ROW_COLUMNS; "
                               "it was written by another version: regenerate it")
    return rows


# ------------------------------------------------------------------------------------------------
# the table


def trained_columns(tasks: Sequence[str]) -> List[str]:
    per_task = [f"{k}_{t}{x}" for t in tasks for k in ("success", "nmse_db") for x in ("", "_lo", "_hi")]
    return (["rank", "group", "variant", "entry", "score", "score_lo", "score_hi"] + per_task
            + ["median_time_per_problem_s", "train_seconds", "n_test", "status", "status_detail",
               "solver_version", "track_version", "track_sha"])


def _f(x: float, d: int) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def _db(x):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(x)


def compute_trained_table(rows: Sequence[Dict[str, Any]], track: Track) -> List[Dict[str, str]]:
    """The trained track's table (rows of strings, in rank order) of the stored rows.

    Per entry (variant) and task: ``success_<task>`` (rate over the test problems) and
    ``nmse_db_<task>`` (10 log10 of the mean of ||x_hat - x||^2 / ||x||^2), each with the
    percentile interval of a paired bootstrap (the same resampled problem indices for every entry:
    :func:`greedybench.analysis.ranking.resample_index` keyed by the task). ``score`` = the mean
    success rate over the tasks, its interval from the same replicates. ``rank`` (trained and
    untrained entries together) = :func:`~greedybench.analysis.ranking.shared_ranks` of the score
    replicates: 1 + the number of entries significantly better at ``bootstrap.level``. Oracle rows
    (status ``reference``) and unavailable entries have no rank. Status ``errors``: some task failed
    (its problems count as failed); ``failed``: every task failed (not ranked).
    """
    tasks = list(track.tasks)
    n_test = track.split["n_test"]
    nb, bseed, level = track.bootstrap["n_boot"], track.bootstrap["seed"], track.bootstrap["level"]
    idx = {t: resample_index(n_test, nb, bseed, (_EXPERIMENT, t)) for t in tasks}
    by_var: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        if str(r["track_sha"]) != track.sha:
            raise LeaderboardError(f"rows of track {r['track_sha']} given to the track {track.sha} "
                                   f"({track.source}): regenerate them (greedybench leaderboard trained)")
        by_var.setdefault(str(r["variant"]), []).append(r)
    recs, reps = [], {}
    for var, rs in sorted(by_var.items()):
        first = rs[0]
        rec = {"group": first["group"], "variant": var, "entry": first["entry"],
               "solver_version": first["solver_version"], "track_version": str(track.version),
               "track_sha": track.sha, "n_test": str(n_test)}
        if any(r["status"] == "unavailable" for r in rs):
            rec.update(status="unavailable", status_detail=" ".join(str(first["reason"]).split()))
            recs.append(rec)
            continue
        rates, score_reps, notes, times, n_err = [], np.zeros(nb), [], [], 0
        train_s = 0.0
        for t in tasks:
            tr = sorted((r for r in rs if r["task"] == t), key=lambda r: int(r["problem"]))
            if [int(r["problem"]) for r in tr] != list(range(n_test)):
                raise LeaderboardError(f"{var}, task {t}: the rows do not hold test problems 0..{n_test - 1} "
                                       "exactly once: regenerate them")
            mask = np.array([int(float(r["success"])) for r in tr])
            rate_reps = resampled_counts(mask, idx[t]) / n_test
            rates.append(mask.mean())
            score_reps = score_reps + rate_reps / len(tasks)
            lo, hi = percentile_interval(rate_reps, level)
            rec.update({f"success_{t}": _f(mask.mean(), 4), f"success_{t}_lo": _f(lo, 4), f"success_{t}_hi": _f(hi, 4)})
            if any(r["status"] != "ok" for r in tr):
                n_err += 1
                notes.append(f"{t}: every problem failed ({' '.join(str(tr[0]['reason']).split())[:300]})")
                continue
            nmse = np.array([float(r["nmse"]) for r in tr])
            lo, hi = percentile_interval(_db(nmse[idx[t]].mean(axis=1)), level)
            rec.update({f"nmse_db_{t}": _f(float(_db(nmse.mean())), 2), f"nmse_db_{t}_lo": _f(lo, 2),
                        f"nmse_db_{t}_hi": _f(hi, 2)})
            times.append(float(tr[0]["time_per_problem_s"]))
            if tr[0]["train_seconds"] not in ("", None):
                train_s += float(tr[0]["train_seconds"])
        lo, hi = percentile_interval(score_reps, level)
        status = "failed" if n_err == len(tasks) else ("errors" if n_err else "ok")
        if first["group"] == "oracle" and status == "ok":
            status = "reference"
            notes.insert(0, "oracle: gets the hidden set T that every other entry must do without; a reference, "
                            "not ranked")
        rec.update(score=_f(float(np.mean(rates)), 4), score_lo=_f(lo, 4), score_hi=_f(hi, 4),
                   median_time_per_problem_s=f"{float(np.median(times)):.3e}" if times else "",
                   train_seconds=f"{train_s:.1f}" if first["group"] == "trained" else "",
                   status=status, status_detail="; ".join(notes))
        if status in ("ok", "errors"):
            reps[var] = score_reps
        recs.append(rec)
    ranks = shared_ranks(reps, level) if reps else {}
    for rec in recs:
        rec["rank"] = str(ranks[rec["variant"]]) if rec["variant"] in ranks else ""

    def key(rec):
        score = float(rec.get("score") or -1)
        return (0 if rec["rank"] else 1, int(rec["rank"] or 0), _STATUS_ORDER.get(rec["status"], 9), -score,
                rec["variant"])

    cols = trained_columns(tasks)
    return [{c: rec.get(c, "") for c in cols} for rec in sorted(recs, key=key)]


def write_trained_table(path, table: Sequence[Dict[str, str]], tasks: Sequence[str]) -> None:
    write_csv(path, trained_columns(tasks), table)


def trained_stage(out_csv, out_rows, *, config=None, solver_files: Sequence = (),
                  echo: Callable[[str], None] = print) -> List[Dict[str, str]]:
    """Run the whole track and write the rows and the table (both atomically; the table is computed
    from the rows as written, as the tests recompute it). Returns the table."""
    track = load_track(config, solver_files=solver_files)
    t0 = time.perf_counter()
    echo(f"trained track v{track.version} ({track.sha}): {len(track.tasks)} tasks x {len(track.all_entries())} "
         f"entries, {track.split['n_test']} test problems per task")
    rows = run_track(track, solver_files=solver_files, echo=echo)
    write_trained_rows(out_rows, rows)
    table = compute_trained_table(read_trained_rows(out_rows), track)
    write_trained_table(out_csv, table, list(track.tasks))
    echo(f"wrote {out_csv} ({len(table)} entries) and {out_rows} in {time.perf_counter() - t0:.0f} s")
    return table
