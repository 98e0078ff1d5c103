"""The one solve core: a solver variant on one instance -> one result row per problem.

Every path that solves benchmark problems goes through :func:`solve_instance`: the Snakemake
solve rule (:func:`greedybench.pipeline.solve.solve_stage`), ``greedybench solve``, the
leaderboard (:func:`greedybench.leaderboard.run.run_family`, whose cells are aggregations of
these rows) and ``greedybench compare``. The row schema is
:data:`greedybench.pipeline.tables.RESULT_COLUMNS`.

An instance (``trials`` problems of one (m, N, s) cell) is solved in a single batched call;
``time_per_problem_s`` is that call's wall time (device-synchronised, :func:`time_call`) divided
by the batch size. It is indicative only (one repeat); results/tables/timing.csv follows the
full timing protocol.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch

from ..analysis.metrics import recovery_metrics
from ..registry import ProblemBatch, SolverContractError, Variant, load_variant, run_solver_ex
from ..storage import provenance, set_threads
from .timing import time_call

__all__ = ["solve_instance", "problem_of", "score_rows", "load_variant", "load_state"]


def load_state(path, device):
    """A trained solver's state (a plain dict of tensors and Python values)."""
    return torch.load(path, map_location=device, weights_only=True)


def solve_instance(variant: Variant, instance, *, state=None, success: Dict[str, float], device: str,
                   dtype: str, threads: Optional[int] = None, experiment: str, family_name: str,
                   family: Dict[str, Any], source: Optional[str] = None, hide_hidden_set: bool = False,
                   warmup: int = 0) -> List[Dict[str, Any]]:
    """Solve one instance with one variant; returns one row (``RESULT_COLUMNS``) per problem.

    Parameters
    ----------
    variant : registry.Variant
    instance : datasets.Instance
        ``A`` (m, N) or (B, m, N), ``Y`` (B, m), ``X`` (B, N), on ``device``.
    state : dict, optional
        Trained state (required by a trained entry).
    success : dict
        ``threshold``, ``linf_threshold``, ``support_tol`` of the success rule.
    device, dtype : str
        Recorded in the provenance columns (the instance already lives on ``device``).
    threads : int, optional
        Pin torch's threads first (:func:`greedybench.storage.set_threads`); None leaves them.
    experiment, family_name, family : str, str, dict
        Identity columns (``family`` needs ``ensemble``, ``signal``, ``amplitude``).
    source : str, optional
        The instance's name, shown in error messages (``problem.meta["instance"]``).
    hide_hidden_set : bool
        Withhold the latent model's hidden set (``problem.meta["T"] = None``), as on the
        leaderboard grid.
    warmup : int
        Untimed calls before the timed one (lazy initialisation is not billed to the row).

    Raises
    ------
    registry.SolverContractError
        The solver raised, returned a wrong shape or non-finite values, or an output that cannot
        be scored (e.g. complex on a real problem); the message names the variant and the batch.
    """
    if threads is not None:
        set_threads(threads)
    problem = problem_of(instance, family_name=family_name, source=source, hide_hidden_set=hide_hidden_set)
    t = time_call(lambda: run_solver_ex(variant, problem, state=state), device=device, repeats=1,
                  warmup=warmup)
    x, n_iter = t.result
    return score_rows(variant, instance, x, n_iter, t.median, success=success, device=device, dtype=dtype,
                      experiment=experiment, family_name=family_name, family=family, where=problem.describe())


def problem_of(instance, *, family_name: str, source: Optional[str] = None,
               hide_hidden_set: bool = False) -> ProblemBatch:
    """The :class:`~greedybench.registry.ProblemBatch` that ``solve`` gets for ``instance`` (meta
    ``family``, ``instance``; the hidden set withheld with ``hide_hidden_set``)."""
    meta = {"family": family_name}
    if source is not None:
        meta["instance"] = source
    problem = ProblemBatch.from_instance(instance, **meta)
    if hide_hidden_set:
        problem.meta["T"] = None
    return problem


def score_rows(variant: Variant, instance, x: torch.Tensor, n_iter, call_time_s: float, *,
               success: Dict[str, float], device: str, dtype: str, experiment: str, family_name: str,
               family: Dict[str, Any], where: str) -> List[Dict[str, Any]]:
    """The result rows (``RESULT_COLUMNS``) of a solver output ``x`` (B, N) on ``instance``.

    The scoring half of :func:`solve_instance` (which runs the solver, then calls this); the
    sandboxed ``greedybench compare`` (:mod:`greedybench.leaderboard.sandbox`) runs the solver in
    a child process and scores its ``x`` here, in the parent. ``call_time_s`` is the timed call's
    wall time (the row's ``time_per_problem_s`` is it divided by B); ``where`` names the batch in
    errors. ``x`` must already have passed the contract checks (shape, finite).

    Raises
    ------
    registry.SolverContractError
        ``x`` cannot be scored (e.g. complex on a real problem).
    """
    try:
        met = recovery_metrics(x, instance.X, instance.A, instance.Y, threshold=success["threshold"],
                               linf_threshold=success["linf_threshold"], support_tol=success["support_tol"])
    except Exception as exc:  # noqa: BLE001 -- e.g. a complex or wrongly typed x
        raise SolverContractError(
            f"solver {variant.name} ({variant.entry.path}) on {where}: its output "
            f"(dtype {x.dtype}, device {x.device}) cannot be scored: {type(exc).__name__}: {exc}") from exc
    B = instance.B
    cell = {"experiment": experiment, "solver": variant.name, "entry": variant.entry.name,
            "solver_version": variant.version, "params": variant.params_json, "family": family_name,
            "ensemble": family["ensemble"], "signal": family["signal"], "amplitude": family["amplitude"],
            "m": instance.m, "N": instance.N, "s": instance.s, "delta": instance.m / instance.N,
            "rho": instance.s / instance.m, "sigma": float(instance.meta.get("sigma", 0.0)),
            "seed": int(instance.meta["seed"]), "time_per_problem_s": call_time_s / max(B, 1), "batch_size": B,
            **provenance(device, dtype)}
    rows = []
    for b in range(B):
        row = dict(cell, problem=b, n_iter=None if n_iter is None else int(n_iter[b]))
        row.update({k: v[b] for k, v in met.items()})
        rows.append(row)
    return rows
