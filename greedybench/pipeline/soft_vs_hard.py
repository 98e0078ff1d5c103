"""Soft-vs-hard stage (results/tables/soft_vs_hard.csv): each soft solver against its hard
counterpart over a tau grid, on the same problems (reference deep_greedy_unfolding 5.2).

Per problem and tau: ``rel_err_soft``, ``rel_err_hard`` (recovery errors) and ``diff`` =
||x_soft - x_hard|| / ||x_hard|| (the "difference error"; ||x_soft|| when x_hard = 0). Solvers go
through the registry, so any entry pair works. With ``soft_vs_hard.bounds: true`` the column
``bound`` comes from ``greedybench.functional.bounds.soft_error_bound(entry, A, y, s=, tau=,
**params) -> (B,)`` for the pairs the theorems cover (soft_omp, soft_iht; empty for other pairs);
without that module the stage fails (the config check refuses it first).

``fig2_stage`` (results/tables/fig2.csv) is the per-iteration table of the reference's Fig. 2: for
Soft-OMP vs OMP and Soft-IHT vs IHT, the difference error ||x^n - x~^n|| / ||x^n|| at the
iterations ``soft_vs_hard.fig2.{omp,iht}_iterations`` against the tau grid, summarised over trials
by ``greedybench.analysis.soft_vs_hard_study.bound_summary`` (geometric mean with 1e-12 added before the log, band
10^(mean +- std of log10)), next to the Theorem 1 / 2 bounds of ``greedybench.functional.bounds``
(``omp_bound`` / ``iht_bound``, which run the hard and soft paths and return the measured
difference with the bound, so that both come from the same iterates). Per (algorithm, n, tau):
``bound_geomean`` (and band) over the trials whose bound is finite, ``frac_finite``,
``violations`` (finite bound below the measured difference by more than rounding: relative 1e-9
plus the 1e-12 floor; must be 0), ``measured_finite_geomean`` (the measured difference over the
same trials) and ``tightness`` = geometric mean of (bound + 1e-12) / (measured + 1e-12) over them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..analysis.metrics import recovery_metrics
from ..analysis.soft_vs_hard_study import bound_summary
from ..datasets import make_instance
from ..functional import bounds as BD
from ..registry import ProblemBatch, Variant, get_solver, run_solver
from ..storage import provenance, set_threads, write_csv
from ..versioning import code_version as _code_version
from .config import BOUNDED, check_fig2, fig2_enabled, fig2_pairs  # noqa: F401 -- check_fig2 re-exported
from .generate import DTYPES, _family_kwargs
from .tables import FIG2_COLUMNS, SOFT_COLUMNS, SOFT_SORT, sort_key

__all__ = ["soft_vs_hard_stage", "fig2_stage", "fig2_enabled", "check_fig2", "code_version", "SOFT_COLUMNS", "FIG2_COLUMNS",
           "BOUNDED"]

#: the source files that define the numbers of fig2.csv beyond the solver entries (rerun trigger)
_FIG2_SOURCES = ("functional/bounds.py", "analysis/soft_vs_hard_study.py")


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
                       solver_files=(), versions: dict = None, code: str = None, device: str, dtype: str,
                       threads: int) -> None:
    """``versions`` (name -> solver version) and ``code`` (the bound sources' version) are what the
    job was planned with (rerun triggers)."""
    set_threads(threads)
    prov = provenance(device, dtype)
    inst = make_instance(m=m, N=N, s=s, batch=trials, seed=seed, sigma=float(sigma), dtype=DTYPES[dtype],
                         device=device, **_family_kwargs(family))
    problem = ProblemBatch.from_instance(inst, family=family_name)
    bound_fn = BD.soft_error_bound if bounds else None
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
            if bound_fn is not None and soft_e.name in BOUNDED:
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
    rows.sort(key=sort_key(SOFT_SORT))
    write_csv(out_csv, SOFT_COLUMNS, rows)


# ---------------------------------------------------------------------------------------- Fig. 2


def code_version() -> str:
    """Version (:func:`greedybench.versioning.code_version`) of the bound and Fig. 2 sources: a
    changed bound reruns the job; a comment or docstring edit does not."""
    root = Path(__file__).resolve().parents[1]
    return _code_version([root / rel for rel in _FIG2_SOURCES], root=root)


def fig2_stage(out_csv, *, pairs: list, tau: list, family_name: str, family: dict, m: int, N: int,
               s: int, sigma: float, trials: int, seed: int, bounds: bool, fig2: dict,
               solver_files=(), versions: dict = None, code: str = None, device: str, dtype: str,
               threads: int) -> int:
    """Write fig2.csv (module docstring); returns the number of rows. ``versions`` and ``code``
    (solver and bound-source versions) are rerun triggers only."""
    set_threads(threads)
    prov = provenance(device, dtype)
    taus = [float(t) for t in tau]
    rows = []
    for pair in fig2_pairs(pairs):
        algo, fn_name, iter_key, trials_key = BOUNDED[pair["soft"]]
        iters = sorted({int(n) for n in fig2.get(iter_key) or []})
        if not iters:
            continue
        soft_e, hard_e = get_solver(pair["soft"], solver_files), get_solver(pair["hard"], solver_files)
        shared = pair.get("parameters", {}) or {}
        B = int(fig2.get(trials_key) or trials)
        inst = make_instance(m=m, N=N, s=s, batch=B, seed=seed, sigma=float(sigma), dtype=DTYPES[dtype],
                             device=device, **_family_kwargs(family))
        step = None
        if algo == "OMP":
            res = BD.omp_bound(inst.A, inst.Y, max(iters), taus)
        else:
            step = float(fig2.get("iht_step") or shared.get("step") or 0.65)
            res = BD.iht_bound(inst.A, inst.Y, s, taus, step=step, n_iter=max(iters))
        xn = res.x_norm[:, None, :]                                             # (B, 1, n)
        den = torch.where(xn > 0, xn, torch.ones_like(xn))
        rel = (res.measured / den).cpu()                                        # (B, T, n)
        relb = (res.bound / den).cpu()
        stats = bound_summary(rel, relb, iters)
        for n in iters:
            st = {k: v.tolist() for k, v in stats[n].items()}
            for i, t in enumerate(taus):
                row = {"algorithm": algo, "soft_solver": soft_e.name, "hard_solver": hard_e.name, "n": n,
                       "tau": t, "trials": B, "geomean": st["geomean"][i], "lo": st["lo"][i], "hi": st["hi"][i],
                       "family": family_name, "m": m, "N": N, "s": s, "sigma": float(sigma), "step": step,
                       "seed": seed, "soft_version": soft_e.version, "hard_version": hard_e.version, **prov}
                if bounds:
                    row.update({k: st[k][i] for k in ("bound_geomean", "bound_lo", "bound_hi", "frac_finite",
                                                      "violations", "measured_finite_geomean", "tightness")})
                rows.append(row)
    rows.sort(key=lambda r: (r["algorithm"], r["n"], r["tau"]))
    write_csv(out_csv, FIG2_COLUMNS, rows)
    return len(rows)
