"""``greedybench compare``: rank a drop-in solver file on the official grid (or a subset)
against the stored rows, writing only under its output directory (docs/leaderboard.md).

The solver runs in its own process (:mod:`.sandbox`), scoring happens here; the stored files are
checksummed before and after (:mod:`.integrity`); ``--seed`` checks the score on fresh instances
(:mod:`.seedcheck`); the summary and the page are :mod:`.compare_report`."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .._validation import GreedybenchError
from ..datasets import InstanceFileError
from ..pipeline.config import REPO
from ..pipeline.tables import RESULT_COLUMNS
from ..registry import Variant, discover
from ..storage import atomic_write_text, fmt, set_threads, write_csv
from .compare_report import summary_text, tool_versions, write_report
from .grid import Grid, LeaderboardError, load_grid
from .integrity import OutLock, changed, digests, grid_instances, source_files, tree_files
from .rows import CELL_COLUMNS, cell_provenance, read_rows, write_rows
from .run import generate_family, instances_valid, run_family
from .sandbox import Sandbox, SandboxFailure
from .seedcheck import draw_seed, fresh_grid, fresh_instances, seed_agreement, table_interval
from .table import compute_leaderboard, write_leaderboard

__all__ = ["CompareError", "STORED_CSV", "STORED_ROWS", "STORED_INSTANCES", "compare", "instance_store"]

STORED_CSV = REPO / "results" / "leaderboard.csv"
STORED_ROWS = REPO / "results" / "leaderboard_rows.csv.gz"
STORED_INSTANCES = REPO / "results" / "leaderboard" / "instances"
#: the reference solver run next to the drop-in on fresh instances (--seed)
REFERENCE = "omp"


class CompareError(GreedybenchError, RuntimeError):
    """``greedybench compare`` cannot rank the file; the message is one paragraph naming it."""


def _paragraph(path, problem: str, hint: str, ending: Optional[str] = None, output: str = "") -> str:
    """One paragraph: the file, the problem, what to do, the tail of the solver's output, and
    (``ending``) what happened to the stored leaderboard (compare's checksums say it)."""
    if ending is None:
        ending = "Nothing was ranked and results/leaderboard.csv was not touched."
    problem = problem.rstrip(".")
    said = f" Its last output: {output}" + ("" if output.endswith(".") else ".") if output else ""
    text = (f"{path}: this solver file cannot be ranked on the official leaderboard grid: {problem}. "
            f"{hint}{said} {ending}")
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


_FAILURE_HINTS = {
    "hang": "Make solve return within the limit or raise it with --timeout-s (the limit is per batch of "
            "B problems, the warm-up call of the first batch of a family included).",
    "exit": "Do not call sys.exit, exit() or os._exit in the solver file: return x, or raise an exception "
            "to fail one batch (it then counts as failed problems).",
    "killed": "Run the file on one batch in a plain Python session to see the crash.",
    "crash": "Run the file on one batch in a plain Python session to see the failure.",
    "memory": "Use less memory (a batch is A of shape (m, N) or (B, m, N) and y of shape (B, m)) or raise "
              "the cap with --memory-gb.",
    "protocol": "The solver's process wrote into the channel compare uses; do not write to file descriptors "
                "the solver did not open.",
}


def _guarded(stored_csv: Path, stored_rows: Path, instance_dirs) -> Dict[str, List[Path]]:
    """The files whose checksums compare takes before and after the solver's process runs."""
    return {"stored leaderboard": [stored_csv, stored_rows],
            "instance store": [p for d in instance_dirs for p in tree_files(d)],
            "greedybench source": source_files()}


class _Tamper:
    """sha256 of the guarded files before the solver's code runs; :meth:`verdict` after."""

    def __init__(self, stored_csv: Path, stored_rows: Path, instance_dirs):
        self.stored_csv, self.stored_rows = stored_csv, stored_rows
        self.groups = _guarded(stored_csv, stored_rows, instance_dirs)
        self.before = {k: digests(v) for k, v in self.groups.items()}

    def verdict(self) -> Tuple[List[str], List[str]]:
        """``(modified files, lines for the summary)``."""
        modified, lines = [], []
        for k, files in self.groups.items():
            bad = changed(self.before[k], digests(files))
            modified += bad
            if bad:
                lines.append(f"check: {k}: MODIFIED during the run: {', '.join(bad)}")
            elif k == "stored leaderboard":
                shown = ", ".join(f"{Path(p).name} {(d or 'missing')[:12]}" for p, d in self.before[k].items())
                lines.append(f"check: stored leaderboard unchanged during the run (sha256 before = after: {shown})")
            else:
                lines.append(f"check: {k} unchanged during the run ({len(files)} files, sha256 before = after)")
        return modified, lines

    def ending(self) -> str:
        """The last sentence of a failure paragraph, true to the checksums."""
        modified, _ = self.verdict()
        if modified:
            return (f"Nothing was ranked, and these files were MODIFIED during the run (sha256 before != after): "
                    f"{', '.join(modified)}.")
        return (f"Nothing was ranked and {self.stored_csv} was not touched (sha256 checked before and after; "
                f"{self.stored_rows.name} too).")


def compare(solver_file, *, families: Optional[Sequence[str]] = None, quick: bool = False, out=None,
            device: Optional[str] = None, grid_path=None, stored_rows=None, stored_csv=None,
            instances_root=None, timeout_s: float = 60.0, memory_gb: Optional[float] = 8.0,
            seed: Union[None, int, str] = None, n_boot: int = 200,
            echo: Callable[[str], None] = print) -> Dict[str, Any]:
    """Rank a drop-in solver file on the official grid (or a subset) against the stored rows.

    The solver runs in its own process (:class:`.sandbox.Sandbox`: it gets A, y, the sizes, sigma
    and the public meta only; ``timeout_s`` per batch, ``memory_gb`` cap); scoring happens here.
    A batch where it raises, returns a wrong shape or NaN counts as failed problems (status
    ``errors``); failing on every batch, exiting, hanging, dying or exhausting memory raises
    :class:`CompareError` (one paragraph naming the file and what happened). The stored leaderboard
    files, the instance store and greedybench's source are checksummed before and after the
    solver's process runs: any change raises :class:`CompareError` naming the files. ``seed`` (an
    int, or ``"random"``) also runs the solver and omp on fresh instances drawn in memory with that
    seed and reports whether the scores agree (:func:`.seedcheck.seed_agreement`).

    Writes only under ``out`` (default ``results/compare/<name>/``), holding ``out/.compare.lock``
    while it runs, and only after every variant ran: ``results.csv``, ``cells.csv``,
    ``ranking.csv``, ``report.html``, ``summary.txt``.
    """
    path = Path(solver_file).expanduser().resolve()
    if not path.is_file():
        raise CompareError(_paragraph(path, "no such file", "Give the path of a Python solver entry file."))
    if path.suffix != ".py":
        raise CompareError(_paragraph(path, "not a .py file", "A solver entry is one Python module."))
    if isinstance(seed, str) and seed != "random":
        try:
            seed = int(seed)
        except ValueError:
            raise CompareError(f"--seed must be an integer or 'random'; got {seed!r}") from None
    if seed == "random":
        seed = draw_seed()
    try:  # a syntax error is reported without starting anything (compile() runs none of the file)
        compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as exc:
        reason = f"import failed: SyntaxError: {exc.msg} (line {exc.lineno})"
        raise CompareError(_paragraph(path, reason, _unavailable_hint(reason))) from None
    except ValueError:  # e.g. null bytes: the loader in the solver's process says it
        pass
    grid_full = load_grid(grid_path)
    try:
        grid = grid_full.subset(families, quick=quick)
    except LeaderboardError as exc:
        raise CompareError(str(exc)) from exc
    stored_csv = Path(stored_csv) if stored_csv is not None else STORED_CSV
    stored_rows = Path(stored_rows) if stored_rows is not None else STORED_ROWS
    if out is not None and Path(out).resolve() in (STORED_CSV.parent.resolve(), stored_csv.parent.resolve()):
        raise CompareError(f"--out {out} is the directory of the stored leaderboard; "
                           "choose another directory (compare never writes there)")
    device = device or grid.device
    set_threads(grid.threads)

    with ExitStack() as stack:
        if out is not None:  # refused early when another compare writes there
            out = Path(out)
            stack.enter_context(OutLock(out, echo=echo))
        sb = Sandbox(path, timeout_s=timeout_s, memory_gb=memory_gb, threads=grid.threads, device=device)
        stack.callback(sb.close)
        sb.spawn()  # python and torch start there while this process reads the stored files
        stored, notes = _stored(stored_rows, grid)
        fam_dirs = {f: instance_store(grid_full, f, root=instances_root, echo=echo) for f in grid.families}
        try:  # every instance loaded (and checked against its cell) before the solver's code runs
            loaded = {f: list(grid_instances(fam_dirs[f], grid, f, device=device)) for f in grid.families}
        except InstanceFileError as exc:
            raise CompareError(f"the instance store is not the leaderboard grid's: {exc}") from exc
        tamper = _Tamper(stored_csv, stored_rows, list(fam_dirs.values()))
        try:
            decl = sb.load()
        except SandboxFailure as exc:
            raise CompareError(_paragraph(path, str(exc), _FAILURE_HINTS.get(exc.kind, ""),
                                          tamper.ending(), sb.output_tail())) from None
        entry, variants = _declared(path, sb, decl, grid, tamper)
        if out is None:
            out = Path("results") / "compare" / entry.name
            stack.enter_context(OutLock(out, echo=echo))
        try:
            cells, problems = _run_all(sb, variants, grid, loaded, fam_dirs, device)
            fresh = _run_fresh(sb, variants, grid, seed, device, echo) if seed is not None else None
        except SandboxFailure as exc:
            sb.close()
            raise CompareError(_paragraph(path, str(exc), _FAILURE_HINTS.get(exc.kind, ""),
                                          tamper.ending(), sb.output_tail())) from None
        sb.close()  # the solver's process has ended: nothing can change the files from here on
        modified, checks = tamper.verdict()
        if modified:
            raise CompareError(" ".join(
                f"{path}: files were MODIFIED during the run (sha256 before != after), by the solver's process "
                f"or by something else running at the same time: {', '.join(modified)}. The comparison is void "
                "and nothing was written; restore them (git checkout results/, or regenerate the instance store) "
                "before trusting them again.".split()))
        run = [c for c in cells if c["status"] in ("ok", "error")]
        if run and all(c["status"] == "error" for c in run):
            first = next(c for c in run if c["status"] == "error")
            raise CompareError(_paragraph(path, f"every batch failed ({len(run)} of {len(run)}); the first: "
                                          f"{first['reason']}", _CONTRACT_HINT, tamper.ending()))
        return _finish(path, entry, variants, grid, stored, notes, cells, problems, fresh, seed, checks, out,
                       stored_csv, stored_rows, device, n_boot, echo)


def _stored(stored_rows: Path, grid: Grid):
    """The stored rows of this grid (read only) and notes."""
    notes: List[str] = []
    if not stored_rows.is_file():
        return [], [f"no stored rows at {stored_rows}: the solver is scored alone"]
    stored = read_rows(stored_rows)
    shas = {r["grid_sha"] for r in stored}
    if shas != {grid.sha}:
        notes.append(f"the stored rows {stored_rows} were made on grid {sorted(shas)}, not on this grid "
                     f"({grid.sha}, version {grid.version}): not ranked against them")
        stored = []
    return stored, notes


def _declared(path: Path, sb: Sandbox, decl: Dict[str, Any], grid: Grid, tamper: "_Tamper"):
    """The entry and its variants as the solver's process declared them; CompareError otherwise."""
    if not decl["available"]:
        raise CompareError(_paragraph(path, decl["reason"], _unavailable_hint(decl["reason"]), tamper.ending()))
    if decl["capabilities"].get("trained"):
        raise CompareError(_paragraph(
            path, "it declares capabilities['trained'] = True",
            f"Trained solvers are not ranked on grid v{grid.version} ({grid.trained_reason}).", tamper.ending()))
    if decl.get("variants_error"):
        raise CompareError(_paragraph(path, decl["variants_error"], _CONTRACT_HINT, tamper.ending()))
    entry = sb.entry()
    return entry, sb.variants(entry)


def _run_all(sb: Sandbox, variants, grid: Grid, loaded, fam_dirs, device: str):
    cells, problems = [], []
    for v in variants:
        for f in grid.families:
            c, p = run_family(v, grid, f, fam_dirs[f], device=device, per_problem=True, instances=loaded[f],
                              solve=sb.solve)
            cells += c
            problems += p
    return cells, problems


def _run_fresh(sb: Sandbox, variants, grid: Grid, seed: int, device: str, echo) -> Dict[str, List[dict]]:
    """Cells of every variant (sandboxed) and of omp (here) on instances drawn in memory with ``seed``."""
    g = fresh_grid(grid, seed)
    echo(f"fresh-seed check: drawing the instances of {', '.join(g.families)} with another seed, in memory")
    inst = {f: fresh_instances(g, f, device=device) for f in g.families}
    out: Dict[str, List[dict]] = {}
    for v in variants:
        out[v.name] = [c for f in g.families
                       for c in run_family(v, g, f, None, device=device, instances=inst[f], solve=sb.solve)[0]]
    ref = _reference_variant()
    if ref is not None:
        out[ref.name] = [c for f in g.families for c in run_family(ref, g, f, None, device=device,
                                                                     instances=inst[f])[0]]
    return out


def _reference_variant(name: str = REFERENCE) -> Optional[Variant]:
    e = discover().get(name)
    if e is None or not e.available:
        return None
    vs = e.variants()
    return next((v for v in vs if v.name == name), vs[0])


def _seed_checks(fresh, cells, stored, table_stored, grid: Grid, seed: int, n_boot: int):
    results, lines = [], []
    for name, fc in fresh.items():
        sc = [c for c in cells if c["solver"] == name] or [r for r in stored if r["solver"] == name]
        if not sc:
            continue
        row = next((r for r in table_stored if r["solver"] == name), None)
        res = seed_agreement(sc, fc, grid, interval=table_interval(row, grid), n_boot=n_boot)
        results.append(dict(res, solver=name, seed=str(seed)))
        verdict = ("agrees" if res["agree"] else
                   "DISAGREES: the score on the stored (public) instances is not reproduced on unseen ones")
        lines.append(f"check: fresh seed {seed}: {name} auc_mean {res['stored']:.4f} on the stored instances, "
                     f"{res['fresh']:.4f} on fresh ones; {res['method']}: {verdict}")
    return results, lines


def _finish(path, entry, variants, grid: Grid, stored, notes, cells, problems, fresh, seed, checks, out: Path,
            stored_csv: Path, stored_rows: Path, device: str, n_boot: int, echo):
    ref = {(r["family"], r["delta"], r["s"]): r["instance_sha256"] for r in stored if r.get("instance_sha256")}
    mism = [c for c in cells if c.get("instance_sha256") and
            ref.get((c["family"], fmt(c["delta"]), str(c["s"])), c["instance_sha256"]) != c["instance_sha256"]]
    if mism:
        notes.append(f"WARNING: {len(mism)} instances differ from the stored leaderboard's (checksums; e.g. "
                     "another torch version draws other random numbers, or a modified store): the ranking "
                     "compares different problems")
    own_names = {v.name for v in variants}
    pool = ([r for r in stored if r["solver"] not in own_names]
            + [{k: fmt(r.get(k)) for k in CELL_COLUMNS} for r in cells])
    table = compute_leaderboard(pool, grid)
    fams = list(grid.families)
    seed_results = None
    if fresh is not None:
        seed_results, lines = _seed_checks(fresh, cells, stored, compute_leaderboard(stored, grid) if stored else [],
                                           grid, seed, n_boot)
        checks = checks + lines
    else:
        checks = checks + ["check: no --seed given: the stored instances are public files, so a solver could read "
                           "them; run with --seed random to check the score on instances it cannot know"]
    write_csv(out / "results.csv", RESULT_COLUMNS, problems)
    write_rows(out / "cells.csv", cells)
    write_leaderboard(out / "ranking.csv", table, fams)
    summary = summary_text(table, own_names, grid, fams, notes, stored_csv, checks)
    atomic_write_text(out / "summary.txt", summary + "\n")
    prov = cell_provenance(device, grid.dtype)
    provenance = {"commit": prov["git_commit"], "device": device, "dtype": grid.dtype, "threads": prov["threads"],
                  "machine": prov["machine"], "grid": f"v{grid.version} {grid.sha}", "versions": tool_versions()}
    write_report(out / "report.html", name=entry.name, solver_file=path, table=table, own_names=own_names,
                 grid=grid, fams=fams, summary=summary, checks=checks, seed_results=seed_results,
                 provenance=provenance, n_problems=len(problems))
    echo(summary)
    echo(f"wrote {out / 'ranking.csv'}, {out / 'results.csv'}, {out / 'cells.csv'}, {out / 'report.html'}")
    mine = [r for r in table if r["solver"] in own_names]
    return {"out": out, "table": table, "rows": mine, "summary": summary, "notes": notes, "checks": checks,
            "seed": seed, "seed_check": seed_results}
