"""The ``greedybench`` command.

    greedybench run [--configfile F] [--cores N] [-n] [-- SNAKEMAKE ARGS]   the pipeline
    greedybench solvers [--solver-file F] [--json]       entries, capabilities, availability
    greedybench instance --ensemble gaussian ... -o F    generate and save one instance
    greedybench solve SOLVER INSTANCE [-o F]             one variant on one instance file
    greedybench compare FILE [--quick] [--seed random]   rank a drop-in on the leaderboard grid
    greedybench leaderboard instances|solve|aggregate|verify|trained ...   the leaderboard's stages
    greedybench fig2 [ARGS]                              the paper's Fig. 2 (greedybench.experiments.fig2)
    greedybench fig3 [ARGS]                              the paper's Fig. 3 (greedybench.experiments.fig3)

This is the one command-line tool of the package. Each subcommand is a ``cmd_<name>(args) -> int``
registered in :data:`COMMANDS` by an ``add_<name>(subparsers)`` function; a new subcommand adds one
pair and one line in :func:`build_parser`. ``fig2`` and ``fig3`` hand their arguments unchanged to
the scripts' ``main(argv)`` (:data:`PASSTHROUGH`), so ``greedybench fig2 --help`` is the script's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Dict, List, Optional

from . import __version__
from . import leaderboard as lb
from .leaderboard import trained as lbt
from .leaderboard.trained_config import TRACK_FILE
from ._validation import GreedybenchError
from .datasets import AMPLITUDES, ENSEMBLES, SIGNALS, load_instance, make_instance, save_instance
from .experiments import fig2, fig3
from .pipeline.config import CONFIG_DIR, REPO, load_config
from .pipeline.core import load_state, solve_instance
from .pipeline.generate import DTYPES
from .pipeline.plan import Plan
from .pipeline.tables import RESULT_COLUMNS
from .registry import CAPABILITY_KEYS, Variant, discover, get_solver, parse_variant
from .storage import write_csv

__all__ = ["main", "build_parser", "snakemake_command", "COMMANDS", "PASSTHROUGH"]

COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {}


def _command(fn):
    COMMANDS[fn.__name__[len("cmd_"):]] = fn
    return fn


class CliError(GreedybenchError, ValueError):
    """A command-line mistake; printed as one line ``greedybench COMMAND: error: ...``, exit code 2."""


class _Formatter(argparse.HelpFormatter):
    """Descriptions and epilogs: a paragraph on one line is wrapped, a paragraph with line breaks
    (examples, tables) is kept as written; options are wrapped as usual."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=min(100, shutil.get_terminal_size().columns))

    def _fill_text(self, text, width, indent):
        return "\n\n".join(para if "\n" in para else textwrap.fill(para, width, initial_indent=indent,
                                                                   subsequent_indent=indent)
                             for para in text.split("\n\n"))


def _first_line(obj) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _choices_text(title: str, table: Dict[str, Callable]) -> str:
    """One line per valid value with the first line of its function's docstring (the datasets')."""
    width = max(len(k) for k in table)
    lines = [f"{title}:"]
    for name, fn in table.items():
        lines.append(f"  {name:<{width}}  {_first_line(fn).replace('``', '')}".rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# run


def snakemake_command(configfile: Optional[str], cores, *, dry_run: bool = False,
                      directory: Optional[str] = None, extra: List[str] = ()) -> List[str]:
    """The snakemake command line ``greedybench run`` executes."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--workflow-profile", str(REPO / "profiles" / "local"), "--cores", str(cores)]
    if directory:
        cmd += ["--directory", directory]
    if configfile:
        cmd += ["--configfile", str(Path(configfile).resolve())]
    if dry_run:
        cmd += ["--dry-run"]
    return cmd + list(extra)


def add_run(sub):
    p = sub.add_parser("run", help="run the Snakemake pipeline (results/ in the working directory)",
                       formatter_class=_Formatter,
                       description="Validate the config, print the job matrix, then run snakemake with the "
                                   "local profile. Arguments after -- go to snakemake unchanged.",
                       epilog="examples:\n"
                              "  greedybench run --configfile config/tiny.yaml --cores 2\n"
                              "  greedybench run -n                       # what the default config would run\n"
                              "  greedybench run -- --forcerun report     # extra snakemake arguments after --")
    p.add_argument("--configfile", help="experiment config (default: config/default.yaml)")
    p.add_argument("--cores", default="all", help="CPU cores for snakemake (default: all)")
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would run")
    p.add_argument("--directory", help="working directory for results/ (default: current)")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, help="-- then extra snakemake arguments")


@_command
def cmd_run(args) -> int:
    cfg = load_config(args.configfile or CONFIG_DIR / "default.yaml")
    print(Plan(cfg).summary(), flush=True)
    extra = [a for a in args.snakemake_args if a != "--"]
    cmd = snakemake_command(args.configfile, args.cores, dry_run=args.dry_run,
                            directory=args.directory, extra=extra)
    return subprocess.call(cmd)


# ------------------------------------------------------------------------------------------------
# solvers


def add_solvers(sub):
    p = sub.add_parser("solvers", help="list solver entries: description, capabilities, version, variants",
                       formatter_class=_Formatter,
                       description="List the solver entries (solvers/*.py and any --solver-file): a one-line "
                                   "description, the capabilities (differentiable, trained, complex, gpu), the "
                                   "version hash, the variants (parameter combinations) and, for a file that "
                                   "cannot be used, the reason.")
    p.add_argument("--solver-file", action="append", default=[], metavar="FILE",
                   help="also load this drop-in entry file (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output (a JSON list)")


def entry_summary(entry) -> str:
    """The entry's description: the first paragraph of its module docstring on one line (the
    registry's ``description`` is the docstring's first line only, which may stop mid-sentence)."""
    mod = sys.modules.get(entry.module_name)
    doc = (getattr(mod, "__doc__", None) or "").strip()
    if not doc:
        return entry.description
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "")


@_command
def cmd_solvers(args) -> int:
    entries = discover(args.solver_file)
    if args.json:
        out = []
        for e in entries.values():
            d = {"name": e.name, "path": str(e.path), "available": e.available, "reason": e.reason}
            if e.available:
                d.update(capabilities=e.capabilities, version=e.version,
                         variants=[v.name for v in e.variants()], description=entry_summary(e))
            out.append(d)
        print(json.dumps(out, indent=1))
        return 0
    if not entries:
        print("no solver entries found")
        return 0
    width = max(len("solver"), *(len(n) for n in entries))
    heads = ["solver".ljust(width)] + list(CAPABILITY_KEYS) + ["version".ljust(16), "variants"]
    print("  ".join(heads))
    cols = shutil.get_terminal_size().columns
    for name, e in entries.items():
        if not e.available:
            print(f"{name:<{width}}  unavailable: {e.reason}")
            continue
        flags = ["yes".ljust(len(k)) if e.capabilities.get(k) else "-".ljust(len(k)) for k in CAPABILITY_KEYS]
        print("  ".join([name.ljust(width)] + flags + [e.version.ljust(16), ", ".join(v.name for v in e.variants())]))
        for line in textwrap.wrap(entry_summary(e), width=max(40, cols - 4)) or [""]:
            print(f"    {line}")
    return 0


# ------------------------------------------------------------------------------------------------
# instance


INSTANCE_EXAMPLES = """examples:
  greedybench instance --ensemble gaussian -m 64 -N 128 -s 8 --batch 100 -o gauss.npz
  greedybench instance --ensemble partial_dft --signal latent -m 64 -N 128 -s 8 --batch 100 --seed 1 -o latent.npz
  greedybench solve omp gauss.npz

The file holds A (m, N) (or (B, m, N) with --per-problem-A), X (B, N), Y (B, m) and the support,
plus the parameters and the seed (datasets/README.md); the same arguments give the same file."""


def add_instance(sub):
    p = sub.add_parser(
        "instance", help="generate one instance (a batch of problems Y = A X + E) and save it (.npz)",
        formatter_class=_Formatter, epilog=INSTANCE_EXAMPLES,
        description="Draw a batch of sparse recovery problems Y = A X + E, deterministic from the "
                    "arguments and --seed, and save them as one instance file for greedybench solve.\n\n"
                    + "\n\n".join([_choices_text("ensembles (--ensemble, the matrix A)", ENSEMBLES),
                                   _choices_text("signal models (--signal, the supports)", SIGNALS),
                                   "amplitudes (--amplitude, the nonzero values): " + ", ".join(AMPLITUDES)]))
    p.add_argument("--ensemble", default="gaussian", choices=list(ENSEMBLES), metavar="NAME",
                   help=f"sensing matrix: {', '.join(ENSEMBLES)} (default: %(default)s)")
    p.add_argument("--signal", default="uniform", choices=list(SIGNALS), metavar="NAME",
                   help=f"support model: {', '.join(SIGNALS)} (default: %(default)s)")
    p.add_argument("--amplitude", default="gaussian", choices=list(AMPLITUDES), metavar="NAME",
                   help=f"nonzero values: {', '.join(AMPLITUDES)} (default: %(default)s)")
    p.add_argument("-m", type=int, required=True, help="measurements (rows of A), >= s (required)")
    p.add_argument("-N", type=int, required=True, help="dimension (columns of A), >= s (required)")
    p.add_argument("-s", type=int, required=True, help="sparsity: nonzeros per x, >= 1 (required)")
    p.add_argument("--batch", type=int, default=1, metavar="B", help="problems in the file (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default: %(default)s)")
    p.add_argument("--sigma", type=float, default=0.0,
                   help="noise level >= 0, E = sigma g / sqrt(m), g standard normal (default: %(default)s, "
                        "noiseless)")
    p.add_argument("--normalize", action="store_true", help="scale every x to unit l2 norm (default: off)")
    p.add_argument("--per-problem-A", action="store_true",
                   help="a fresh A per problem, shape (B, m, N) (default: one A shared by the batch)")
    p.add_argument("-K", type=int, help="size of the hidden set T, latent model only (default: min(2 s, N))")
    p.add_argument("--block", type=int,
                   help="block length, block model only (required there; must divide s and N)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="real precision; partial_dft gives complex A and Y (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file, .npz (required)")


@_command
def cmd_instance(args) -> int:
    inst = make_instance(ensemble=args.ensemble, signal=args.signal, amplitude=args.amplitude, m=args.m,
                         N=args.N, s=args.s, batch=args.batch, seed=args.seed, sigma=args.sigma,
                         normalize=args.normalize, shared_A=not args.per_problem_A, K=args.K,
                         block=args.block, dtype=DTYPES[args.dtype])
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    save_instance(inst, args.output)
    print(f"wrote {args.output}: {inst!r}")
    return 0


# ------------------------------------------------------------------------------------------------
# solve


def add_solve(sub):
    p = sub.add_parser(
        "solve", help="run one solver variant on one instance file and print its metrics",
        formatter_class=_Formatter,
        description="Run one solver variant on every problem of an instance file (greedybench instance) "
                    "through the pipeline's solve core, print the success rate, median relative error "
                    "and time per problem, and optionally write one result row per problem.",
        epilog="examples:\n"
               "  greedybench solve omp gauss.npz\n"
               "  greedybench solve 'iht[n_iter=30,step=0.5]' gauss.npz -o iht.csv\n"
               "  # after greedybench run (default config): the trained OMP-Net on its test split\n"
               "  greedybench solve omp_net results/instances/train/latent_small/test/test.npz \\\n"
               "      --state results/models/omp_net/latent_small.pt\n\n"
               "greedybench solvers lists the solver names and their default variants.")
    p.add_argument("solver", help="name or variant, e.g. omp or 'iht[n_iter=30,step=0.5]'")
    p.add_argument("instance", help="instance file (.npz) written by greedybench instance")
    p.add_argument("--solver-file", action="append", default=[], metavar="FILE",
                   help="also load this drop-in entry file (repeatable)")
    p.add_argument("--state", metavar="FILE",
                   help="trained state (.pt) of a trained solver; the pipeline writes them to "
                        "results/models/<variant>/<training set>.pt (required for trained solvers)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=1e-3,
                   help="a problem is solved when its relative error <= threshold (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the result rows (CSV) here")


def _state_for(entry, state_path: Optional[str], device: str):
    """The trained state named by --state, checked against the entry (messages name the flag)."""
    if entry.trained and not state_path:
        raise CliError(f"{entry.name} is a trained solver: give its trained state with --state FILE.pt "
                       "(the pipeline writes them to results/models/<variant>/<training set>.pt)")
    if not state_path:
        return None
    if not entry.trained:
        raise CliError(f"--state {state_path}: {entry.name} is not a trained solver (it takes no state)")
    if not Path(state_path).is_file():
        raise CliError(f"--state {state_path}: no such file")
    try:
        return load_state(state_path, device)
    except Exception as exc:  # noqa: BLE001 -- any unreadable file: one line naming it
        raise CliError(f"--state {state_path}: not a trained state file ({type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:200]})") from exc


@_command
def cmd_solve(args) -> int:
    name, params = parse_variant(args.solver)
    entry = get_solver(name, args.solver_file)
    point = {k: v[0] for k, v in entry.parameters.items() if isinstance(k, str)}
    point.update(params)
    variant = Variant(entry, point)
    state = _state_for(entry, args.state, args.device)
    inst = load_instance(args.instance, device=args.device)  # errors name the path as the user wrote it
    family = {k: inst.meta.get(k) for k in ("ensemble", "signal", "amplitude")}
    rows = solve_instance(variant, inst, state=state,
                          success={"threshold": args.threshold, "linf_threshold": 1e-2, "support_tol": 1e-6},
                          device=args.device, dtype=str(inst.meta.get("dtype", "float64")),
                          threads=os.cpu_count() or 1, experiment="cli", family_name="cli", family=family,
                          source=args.instance)
    if args.output:
        write_csv(args.output, RESULT_COLUMNS, rows)
    ok = sum(bool(r["success"]) for r in rows)
    errs = sorted(float(r["rel_err"]) for r in rows)
    print(f"{variant.name} on {args.instance}: {len(rows)} problems, success {ok}/{len(rows)}, "
          f"median rel_err {errs[len(errs) // 2]:.3e}, time/problem {float(rows[0]['time_per_problem_s']):.3e} s")
    if args.output:
        print(f"wrote {args.output}")
    return 0


# ------------------------------------------------------------------------------------------------
# compare


def add_compare(sub):
    p = sub.add_parser(
        "compare", help="rank a drop-in solver file on the official leaderboard grid (docs/leaderboard.md)",
        description="Load a solver entry file (outside the repository is fine) with the registry, run it on "
                    "the official leaderboard grid (config/leaderboard.yaml, the same instances), and print "
                    "where it ranks among the stored results/leaderboard.csv rows and why. Writes its results "
                    "only under --out, after every variant ran; never modifies the stored leaderboard. The "
                    "grid's instances are made once, in the leaderboard's own store "
                    "(results/leaderboard/instances/ of the repository), and reused by every later compare "
                    "and by the leaderboard. The solver runs in its own process, which never receives the true "
                    "signals; scoring stays in compare, which checksums the stored leaderboard before and after. "
                    "Exit code 2 for a file that cannot be ranked (also: it exits, hangs, dies or exhausts memory).",
        formatter_class=_Formatter,
        epilog="examples:\n"
               "  greedybench compare docs/examples/my_solver.py --quick\n"
               "  greedybench compare my_solver.py --families dct_gaussian dft_latent --out /tmp/cmp\n"
               "  greedybench compare my_solver.py --quick --seed random   # also on instances it cannot know")
    p.add_argument("solver_file", help="path to the solver entry (.py), see docs/examples/my_solver.py")
    p.add_argument("--families", nargs="+", metavar="FAMILY", help="only these grid families (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="the grid's quick subset (one family, two deltas; same instances, scores recomputed "
                        "for every solver on that subset)")
    p.add_argument("--out", help="output directory (default: results/compare/<name>/)")
    p.add_argument("--device", help="cpu or cuda (default: the grid's, cpu; times are comparable on one device only)")
    p.add_argument("--timeout-s", type=float, default=60.0, metavar="S",
                   help="limit per batch for the solver's process (warm-up call included); a solver that "
                        "exceeds it is killed and compare exits with code 2")
    p.add_argument("--memory-gb", type=float, default=8.0, metavar="GB",
                   help="address-space cap of the solver's process (RLIMIT_AS; not applied on cuda; 0: none)")
    p.add_argument("--seed", metavar="S|random",
                   help="also run the solver and omp on fresh instances drawn in memory with this seed ('random': "
                        "one drawn and printed) and say whether the scores agree with the stored ones")
    p.add_argument("--grid", help=argparse.SUPPRESS)
    p.add_argument("--stored-rows", help=argparse.SUPPRESS)
    p.add_argument("--stored-csv", help=argparse.SUPPRESS)


@_command
def cmd_compare(args) -> int:
    lb.compare(args.solver_file, families=args.families, quick=args.quick, out=args.out, device=args.device,
               grid_path=args.grid, stored_rows=args.stored_rows, stored_csv=args.stored_csv,
               timeout_s=args.timeout_s, memory_gb=args.memory_gb or None, seed=args.seed)
    return 0


# ------------------------------------------------------------------------------------------------
# leaderboard stages (workflow/rules/leaderboard.smk: one call each)


def add_leaderboard(sub):
    p = sub.add_parser("leaderboard", help="the leaderboard's pipeline stages (docs/leaderboard.md)",
                       formatter_class=_Formatter,
                       description="The stages the Snakemake leaderboard rules run, one call into "
                                   "greedybench.leaderboard each. Regenerate the stored leaderboard with\n"
                                   "  snakemake --cores 2 leaderboard --forcerun leaderboard")
    stages = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    grid = argparse.ArgumentParser(add_help=False)  # the option every stage shares
    grid.add_argument("--grid", default=str(lb.GRID_FILE), help="the grid file (default: config/leaderboard.yaml)")
    a = stages.add_parser("instances", parents=[grid], help="the instances of one family of the grid")
    a.add_argument("--family", required=True, help="a family of the grid (its families: keys)")
    a.add_argument("--out", required=True, help="output directory (one slice directory per delta)")
    a = stages.add_parser("solve", parents=[grid], help="one variant on every family -> its cells CSV")
    a.add_argument("--entry", required=True, help="solver entry name")
    a.add_argument("--params-json", required=True, help="the variant's parameters as JSON")
    a.add_argument("--version", required=True, help="the planned solver version (refused if it changed)")
    a.add_argument("--solver-file", action="append", default=[], metavar="FILE",
                   help="also load this drop-in entry file (repeatable)")
    a.add_argument("--instances", required=True, help="root holding one directory per family")
    a.add_argument("--out", required=True, help="the cells CSV to write")
    a = stages.add_parser("aggregate", parents=[grid], help="cells + status rows -> the rows file and the table")
    a.add_argument("--status-json", required=True, help="JSON list of status rows (entries not run)")
    a.add_argument("--out", required=True, help="the leaderboard table (CSV) to write")
    a.add_argument("--rows-out", required=True, help="the rows file (.csv.gz) to write")
    a.add_argument("cells", nargs="*", help="the cells CSVs of every variant")
    a = stages.add_parser("verify", parents=[grid], formatter_class=_Formatter,
                          help="recompute the stored leaderboard: table from rows, versions, and a seeded "
                               "sample of cells rerun (CI runs it)",
                          description=lb.verify.__doc__.split("\n\n")[0] + "\n\n"
                                      "Exit 0 when everything matches, 1 with the differences listed.")
    a.add_argument("--rows", default=str(lb.STORED_ROWS), help="the rows file (default: the stored one)")
    a.add_argument("--table", default=str(lb.STORED_CSV), help="the table (default: the stored one)")
    a.add_argument("--per-variant", type=int, default=1, metavar="K",
                   help="cells rerun per ranked variant (default 1)")
    a.add_argument("--seed", type=int, default=None,
                   help="sample seed (default: a fresh random one, printed, so a failure can be replayed)")
    a.add_argument("--solver", action="append", default=None, metavar="NAME",
                   help="rerun only this variant (repeatable; the table and version checks cover all)")
    a = stages.add_parser("trained", help="the trained track: nets trained per task, every entry on its test split")
    a.add_argument("--config", default=str(TRACK_FILE),
                   help="the track file (default: config/leaderboard_trained.yaml)")
    a.add_argument("--out", required=True, help="the trained track's table (CSV) to write")
    a.add_argument("--rows-out", help="the rows file (.csv.gz; default: OUT with _rows.csv.gz for .csv)")
    a.add_argument("--solver-file", action="append", default=[], metavar="FILE",
                   help="also load this drop-in entry file (the track file may name it; repeatable)")


@_command
def cmd_leaderboard(args) -> int:
    if args.stage == "instances":
        lb.generate_family(args.out, lb.load_grid(args.grid), args.family)
    elif args.stage == "trained":
        rows_out = args.rows_out or str(Path(args.out).with_name(Path(args.out).stem + "_rows.csv.gz"))
        lbt.trained_stage(args.out, rows_out, config=args.config, solver_files=args.solver_file)
    elif args.stage == "solve":
        lb.cells_stage(args.out, grid_path=args.grid, entry=args.entry, params_json=args.params_json,
                       version=args.version, instances_root=args.instances, solver_files=args.solver_file)
    elif args.stage == "verify":
        if args.per_variant < 0:
            raise lb.LeaderboardError(f"--per-variant must be >= 0; got {args.per_variant}")
        rep = lb.verify_leaderboard(args.rows, args.table, grid=lb.load_grid(args.grid),
                                    per_variant=args.per_variant, seed=args.seed, solvers=args.solver,
                                    progress=lambda s: print(f"  rerun {s}", flush=True))
        print(rep.text())
        return 0 if rep.ok else 1
    else:
        n = lb.leaderboard_stage(args.out, args.rows_out, cell_files=args.cells, grid_path=args.grid,
                                 status_rows=json.loads(args.status_json))
        print(f"wrote {args.out} ({n} solvers) and {args.rows_out}")
    return 0


# ------------------------------------------------------------------------------------------------
# the paper scripts: arguments handed on unchanged

#: subcommand -> the script's ``main(argv)``
PASSTHROUGH: Dict[str, Callable] = {"fig2": fig2.main, "fig3": fig3.main}


def add_figures(sub):
    for name, what in (("fig2", "soft vs hard difference errors and bounds (the paper's Fig. 2)"),
                       ("fig3", "trained nets on the latent model (the paper's Fig. 3)")):
        p = sub.add_parser(name, help=f"{what}; greedybench {name} --help for its options", add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER, help=f"arguments of {name} (see its --help)")


# ------------------------------------------------------------------------------------------------


DESCRIPTION = """greedybench: a reproducible benchmark of greedy sparse recovery (OMP, IHT, NIHT, HTP,
CoSaMP, SP), their soft (differentiable) relaxations and trained unrolled nets."""

EPILOG = """examples:
  greedybench run --configfile config/tiny.yaml --cores 2    the pipeline on the tiny config
  greedybench solvers                                         the solver entries
  greedybench instance --ensemble gaussian -m 64 -N 128 -s 8 --batch 100 -o gauss.npz
  greedybench solve omp gauss.npz                             OMP on those 100 problems
  greedybench compare my_solver.py --quick                    rank your own solver file

greedybench COMMAND --help shows the options of a command (README.md, docs/leaderboard.md)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greedybench", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_run, add_solvers, add_instance, add_solve, add_compare, add_leaderboard, add_figures):
        add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        PASSTHROUGH[argv[0]](argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GreedybenchError as exc:
        print(f"greedybench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. greedybench solvers --json | head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
