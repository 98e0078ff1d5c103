"""``greedybench compare``: rank a drop-in solver file on the official grid (or a subset)
against the stored rows, writing only under its output directory (docs/leaderboard.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .._validation import GreedybenchError
from ..pipeline.config import REPO
from ..pipeline.tables import RESULT_COLUMNS
from ..registry import SolverContractError, discover
from ..report import render_report
from ..storage import atomic_write_text, fmt, set_threads, write_csv
from .grid import Grid, LeaderboardError, load_grid
from .rows import CELL_COLUMNS, cell_provenance, read_rows, write_rows
from .run import generate_family, instances_valid, run_family
from .table import compute_leaderboard, write_leaderboard

__all__ = ["CompareError", "STORED_CSV", "STORED_ROWS", "STORED_INSTANCES", "compare", "instance_store"]

STORED_CSV = REPO / "results" / "leaderboard.csv"
STORED_ROWS = REPO / "results" / "leaderboard_rows.csv.gz"
STORED_INSTANCES = REPO / "results" / "leaderboard" / "instances"


class CompareError(GreedybenchError, RuntimeError):
    """``greedybench compare`` cannot rank the file; the message is one paragraph naming it."""


def _paragraph(path, problem: str, hint: str) -> str:
    text = (f"{path}: this solver file cannot be ranked on the official leaderboard grid: {problem}. "
            f"{hint} Nothing was ranked and results/leaderboard.csv was not touched.")
    return " ".join(text.split())


_CONTRACT_HINT = ("The contract (docs/leaderboard.md): module-level `name` (a new lower-case identifier), "
                  "`capabilities` (differentiable, trained, complex, gpu: True/False), `parameters` "
                  "(dict of non-empty lists) and `solve(problem, **params)` returning a finite "
                  "torch.Tensor of shape (problem.B, problem.N) for every batch.")


def _unavailable_hint(reason: str) -> str:
    if "SyntaxError" in reason or "IndentationError" in reason:
        return "Fix the syntax error (python -m py_compile FILE shows it)."
    if reason.startswith("import failed"):
        return "The file raised while being imported; run `python FILE` to see the traceback."
    if "already used" in reason:
        return "Built-in names cannot be reused: rename `name` in the file."
    return _CONTRACT_HINT


def instance_store(grid: Grid, family: str, *, root=None, echo: Callable[[str], None] = print) -> Path:
    """The one store of the official grid's instances of ``family``, made once and shared.

    The store is the leaderboard's own (``results/leaderboard/instances/<family>``, where the
    Snakemake rule ``leaderboard_instances`` writes; ``root`` replaces that folder): every
    ``compare``, whatever the solver, and the leaderboard itself solve the same files. A family
    directory is reused when it holds this grid's instances (the ``instance_key`` of the family,
    a checksum of everything they depend on, and every delta); otherwise the whole family (every
    official delta, as the Snakemake rule makes it) is generated there atomically, so that an
    interrupted or failed run leaves no partial directory behind. A valid store in the working
    directory's ``results/leaderboard/instances`` (Snakemake run with --directory) is used too.
    """
    store = Path(root) if root is not None else STORED_INSTANCES
    candidates = [store] if root is not None else [store, Path("results/leaderboard/instances")]
    for r in candidates:
        if instances_valid(r / family, grid, family):
            return r / family
    echo(f"generating the instances of {family} (official grid v{grid.version}) under {store / family}; "
         "they are reused by every later compare and by the leaderboard")
    return generate_family(store / family, grid, family)


def compare(solver_file, *, families: Optional[Sequence[str]] = None, quick: bool = False, out=None,
            device: Optional[str] = None, grid_path=None, stored_rows=None, stored_csv=None,
            instances_root=None, echo: Callable[[str], None] = print) -> Dict[str, Any]:
    """Rank a drop-in solver file on the official grid (or a subset) against the stored rows.

    Writes its results only under ``out`` (default ``results/compare/<name>/`` in the working
    directory), and only after every variant ran: ``results.csv`` (one row per problem),
    ``cells.csv``, ``ranking.csv`` (the leaderboard of the same subset with the new entry),
    ``report.html`` and ``summary.txt``. The instances come from the one shared store
    (:func:`instance_store`, ``instances_root`` replaces its folder), made on first use. Raises
    :class:`CompareError` (one paragraph naming the file) for a file that does not load, declares
    a trained solver, or breaks the contract on any batch.
    """
    path = Path(solver_file).expanduser().resolve()
    if not path.is_file():
        raise CompareError(_paragraph(path, "no such file", "Give the path of a Python solver entry file."))
    if path.suffix != ".py":
        raise CompareError(_paragraph(path, "not a .py file", "A solver entry is one Python module."))
    grid_full = load_grid(grid_path)
    try:
        grid = grid_full.subset(families, quick=quick)
    except LeaderboardError as exc:
        raise CompareError(str(exc)) from exc
    entries = discover([path], refresh=True)
    entry = next((e for e in entries.values() if Path(e.path) == path), None)
    if entry is None:  # pragma: no cover - discover always returns the drop-in
        raise CompareError(_paragraph(path, "the registry did not load it", _CONTRACT_HINT))
    if not entry.available:
        raise CompareError(_paragraph(path, entry.reason, _unavailable_hint(entry.reason)))
    if entry.trained:
        raise CompareError(_paragraph(
            path, "it declares capabilities['trained'] = True",
            f"Trained solvers are not ranked on grid v{grid.version} ({grid.trained_reason})."))
    try:
        variants = entry.variants()
    except GreedybenchError as exc:
        raise CompareError(_paragraph(path, str(exc), _CONTRACT_HINT)) from exc

    out = Path(out) if out is not None else Path("results") / "compare" / entry.name
    stored_csv = Path(stored_csv) if stored_csv is not None else STORED_CSV
    stored_rows = Path(stored_rows) if stored_rows is not None else STORED_ROWS
    if out.resolve() in (STORED_CSV.parent.resolve(), stored_csv.parent.resolve()):
        raise CompareError(f"--out {out} is the directory of the stored leaderboard; "
                           "choose another directory (compare never writes there)")
    device = device or grid.device
    set_threads(grid.threads)

    # stored rows (read only)
    stored: List[Dict[str, str]] = []
    notes = []
    if stored_rows.is_file():
        stored = read_rows(stored_rows)
        shas = {r["grid_sha"] for r in stored}
        if shas != {grid.sha}:
            notes.append(f"the stored rows {stored_rows} were made on grid {sorted(shas)}, not on this grid "
                         f"({grid.sha}, version {grid.version}): not ranked against them")
            stored = []
    else:
        notes.append(f"no stored rows at {stored_rows}: the solver is scored alone")

    fam_dirs = {f: instance_store(grid_full, f, root=instances_root, echo=echo) for f in grid.families}

    cells, problems = [], []
    for v in variants:
        for f in grid.families:
            try:
                c, p = run_family(v, grid, f, fam_dirs[f], device=device, fail_fast=True, per_problem=True)
            except SolverContractError as exc:
                msg = str(exc)
                where = f"variant {v.name}, family {f}"
                raise CompareError(_paragraph(path, f"{where}: {msg}", _CONTRACT_HINT)) from exc
            cells += c
            problems += p

    # same instances as the stored leaderboard?
    ref = {(r["family"], r["delta"], r["s"]): r["instance_sha256"] for r in stored if r.get("instance_sha256")}
    mism = [c for c in cells if c.get("instance_sha256") and
            ref.get((c["family"], fmt(c["delta"]), str(c["s"])), c["instance_sha256"]) != c["instance_sha256"]]
    if mism:
        notes.append(f"{len(mism)} instances differ from the stored leaderboard's (checksums; e.g. another "
                     "torch version draws other random numbers): the ranking compares different problems")

    own_names = {v.name for v in variants}
    pool = ([r for r in stored if r["solver"] not in own_names]
            + [{k: fmt(r.get(k)) for k in CELL_COLUMNS} for r in cells])
    table = compute_leaderboard(pool, grid)
    fams = list(grid.families)

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", RESULT_COLUMNS, problems)
    write_rows(out / "cells.csv", cells)
    write_leaderboard(out / "ranking.csv", table, fams)
    summary = _compare_summary(table, own_names, grid, fams, notes, stored_csv)
    atomic_write_text(out / "summary.txt", summary + "\n")
    _compare_report(out, grid, table, problems, summary, device)
    echo(summary)
    echo(f"wrote {out / 'ranking.csv'}, {out / 'results.csv'}, {out / 'cells.csv'}, {out / 'report.html'}")
    mine = [r for r in table if r["solver"] in own_names]
    return {"out": out, "table": table, "rows": mine, "summary": summary, "notes": notes}


def _compare_summary(table, own_names, grid: Grid, fams, notes, stored_csv) -> str:
    ranked = [r for r in table if r["rank"]]
    subset = ("the full official grid" if grid.is_full else
              f"a subset of it (families {', '.join(fams)}; deltas {', '.join(f'{d:g}' for d in grid.delta)})")
    lines = [f"Official leaderboard grid v{grid.version} ({grid.sha}), {subset}; "
             f"{len(ranked)} ranked solvers (score: area under rho*(delta), mean over families; "
             "ties by median time per successful problem, then name)."]
    for r in table:
        if r["solver"] not in own_names:
            continue
        if not r["rank"]:
            lines.append(f"{r['solver']}: not ranked, status {r['status']}: {r['status_detail']}")
            continue
        i = int(r["rank"])
        above = ranked[i - 2] if i >= 2 else None
        below = ranked[i] if i < len(ranked) else None
        lines.append(f"{r['solver']} ranks {i} of {len(ranked)} (status {r['status']}"
                     + (f": {r['status_detail']}" if r["status_detail"] else "") + ").")
        show = [x for x in (above, r, below) if x is not None]
        w = max(12, *(len(x["solver"]) for x in show))
        head = f"  {'':<24}" + "".join(f"{('#' + x['rank'] + ' ' + x['solver'])[:w + 4]:>{w + 5}}" for x in show)
        lines.append(head)
        for f in fams:
            lines.append(f"  {'auc_' + f:<24}" + "".join(f"{x['auc_' + f] or '-':>{w + 5}}" for x in show))
        lines.append(f"  {'auc_mean':<24}" + "".join(f"{x['auc_mean'] or '-':>{w + 5}}" for x in show))
        lines.append(f"  {'median time/success (s)':<24}"
                     + "".join(f"{x['median_time_success_s'] or '-':>{w + 5}}" for x in show))
        why = []
        for other, word in ((above, "below"), (below, "above")):
            if other is None:
                continue
            if other["auc_mean"] == r["auc_mean"]:
                by_time = other["median_time_success_s"] != r["median_time_success_s"]
                why.append(f"tied with {other['solver']} on auc_mean {r['auc_mean']}, {word} it by "
                           + ("median time" if by_time else "name"))
            else:
                best = max(fams, key=lambda f: abs(float(r["auc_" + f] or 0) - float(other["auc_" + f] or 0)))
                why.append(f"{word} {other['solver']} by auc_mean {r['auc_mean']} vs {other['auc_mean']} "
                           f"(largest gap on {best}: {r['auc_' + best]} vs {other['auc_' + best]})")
        if why:
            lines.append("  why: " + "; ".join(why) + ".")
    for n in notes:
        lines.append(f"note: {n}")
    if not grid.is_full:
        lines.append("note: scores on a subset are not comparable with the auc columns of "
                     f"{stored_csv}; they are recomputed for every solver from the stored rows of the same cells.")
    return "\n".join(lines)


def _compare_report(out: Path, grid: Grid, table, problems, summary: str, device: str) -> None:
    data = (out / "results.csv").read_bytes()
    manifest = {"figures": [], "skipped": [], "out_dir": str(out),
                "results": {"path": "results.csv", "rows": len(problems), "sha256": hashlib.sha256(data).hexdigest()}}
    prov = cell_provenance(device, grid.dtype)
    provenance = {"commit": prov["git_commit"], "config": grid.to_dict(), "threads": prov["threads"],
                  "device": device, "cpu": prov["machine"],
                  "versions": {"torch": prov["torch_version"], "numpy": prov["numpy_version"],
                               "greedybench": prov["greedybench_version"]},
                  "comparison": summary}
    render_report(manifest, out / "report.html", provenance=provenance, leaderboard_csv=out / "ranking.csv")
