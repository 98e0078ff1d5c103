"""Soft-vs-hard stage (results/tables/soft_vs_hard.csv): each soft solver against its hard
counterpart over a tau grid, on the same problems (reference deep_greedy_unfolding 5.2).

Per problem and tau: ``rel_err_soft``, ``rel_err_hard`` (recovery errors) and ``diff`` =
||x_soft - x_hard|| / ||x_hard|| (the "difference error"; ||x_soft|| when x_hard = 0). Solvers go
through the registry, so any entry pair works. With ``soft_vs_hard.bounds: true`` the column
``bound`` comes from ``greedybench.functional.bounds.soft_error_bound(entry, A, y, s=, tau=,
**params) -> (B,)``; without that function the stage fails (the config check refuses it first).
"""

from __future__ import annotations

import importlib

import torch

from .tables import SOFT_SORT, _sort_key

__all__ = ["soft_vs_hard_stage", "SOFT_COLUMNS"]

SOFT_COLUMNS = ("pair", "soft_solver", "hard_solver", "soft_version", "hard_version", "tau",
                "family", "ensemble", "signal", "amplitude", "m", "N", "s", "sigma", "seed", "problem",
                "rel_err_soft", "rel_err_hard", "diff", "bound", "device", "dtype", "torch_version",
                "numpy_version", "greedybench_version", "git_commit", "threads", "host")


def _params(entry, shared: dict, **fixed) -> dict:
    """First value of each declared parameter, replaced by ``shared`` / ``fixed`` where given."""
    out = {k: v[0] for k, v in entry.parameters.items() if isinstance(k, str)}
    out.update({k: v for k, v in shared.items() if k in entry.parameters})
    out.update(fixed)
    return out


def _ratio(num, den):
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), num)


def soft_vs_hard_stage(out_csv, *, pairs: list, tau: list, family_name: str, family: dict, m: int,
                       N: int, s: int, sigma: float, trials: int, seed: int, bounds: bool,
                       solver_files=(), versions: dict = None, device: str, dtype: str,
                       threads: int) -> None:
    """``versions`` (name -> solver version) is what the job was planned with (rerun trigger)."""
    from greedybench.analysis.metrics import recovery_metrics
    from greedybench.datasets import make_instance

    from ..registry import ProblemBatch, Variant, get_solver, run_solver
    from .generate import DTYPES, _family_kwargs
    from .io import provenance, set_threads, write_csv

    set_threads(threads)
    prov = provenance(device, dtype)
    inst = make_instance(m=m, N=N, s=s, batch=trials, seed=seed, sigma=float(sigma), dtype=DTYPES[dtype],
                         device=device, **_family_kwargs(family))
    problem = ProblemBatch.from_instance(inst, family=family_name)
    bound_fn = importlib.import_module("greedybench.functional.bounds").soft_error_bound if bounds else None
    rows = []
    for pair in pairs:
        soft_e, hard_e = get_solver(pair["soft"], solver_files), get_solver(pair["hard"], solver_files)
        shared = pair.get("parameters", {}) or {}
        hard = Variant(hard_e, _params(hard_e, shared))
        x_hard = run_solver(hard, problem).detach()
        err_hard = recovery_metrics(x_hard, inst.X, inst.A, inst.Y)["rel_err"]
        for t in tau:
            soft = Variant(soft_e, _params(soft_e, shared, tau=float(t)))
            x_soft = run_solver(soft, problem).detach()
            err_soft = recovery_metrics(x_soft, inst.X, inst.A, inst.Y)["rel_err"]
            diff = _ratio(torch.linalg.vector_norm(x_soft - x_hard, dim=-1),
                          torch.linalg.vector_norm(x_hard, dim=-1)).double().cpu()
            bound = None
            if bound_fn is not None:
                bound = bound_fn(soft_e.name, inst.A, inst.Y, s=s, tau=float(t),
                                 **{k: v for k, v in soft.params.items() if k != "tau"})
                bound = torch.as_tensor(bound).double().cpu().reshape(-1).expand(inst.B)
            for b in range(inst.B):
                rows.append({
                    "pair": f"{soft_e.name}/{hard_e.name}", "soft_solver": soft.name,
                    "hard_solver": hard.name, "soft_version": soft.version, "hard_version": hard.version,
                    "tau": float(t), "family": family_name, "ensemble": family["ensemble"],
                    "signal": family["signal"], "amplitude": family["amplitude"], "m": m, "N": N,
                    "s": s, "sigma": float(sigma), "seed": seed, "problem": b,
                    "rel_err_soft": err_soft[b], "rel_err_hard": err_hard[b], "diff": float(diff[b]),
                    "bound": None if bound is None else float(bound[b]), **prov})
    rows.sort(key=_sort_key(SOFT_SORT))
    write_csv(out_csv, SOFT_COLUMNS, rows)
