"""The ``greedybench`` command.

    greedybench run [--configfile F] [--cores N] [-n] [-- SNAKEMAKE ARGS]   the pipeline
    greedybench solvers [--solver-file F] [--json]       entries, capabilities, availability
    greedybench instance --ensemble gaussian ... -o F    generate and save one instance
    greedybench solve SOLVER INSTANCE [-o F]             one variant on one instance file
    greedybench compare FILE [--quick] [--families ...] [--out DIR]   rank a drop-in on the leaderboard grid
    greedybench leaderboard instances|solve|aggregate ...   the leaderboard's pipeline stages
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
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from . import leaderboard as lb
from ._validation import GreedybenchError
from .datasets import load_instance, make_instance, save_instance
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
                       description="Validate the config, print the job matrix, then run snakemake. "
                                   "Arguments after -- go to snakemake unchanged.")
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
    p = sub.add_parser("solvers", help="list solver entries with capabilities and availability")
    p.add_argument("--solver-file", action="append", default=[], help="drop-in entry file (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@_command
def cmd_solvers(args) -> int:
    entries = discover(args.solver_file)
    if args.json:
        out = []
        for e in entries.values():
            d = {"name": e.name, "path": str(e.path), "available": e.available, "reason": e.reason}
            if e.available:
                d.update(capabilities=e.capabilities, version=e.version,
                         variants=[v.name for v in e.variants()], description=e.description)
            out.append(d)
        print(json.dumps(out, indent=1))
        return 0
    if not entries:
        print("no solver entries found")
        return 0
    width = max(len(n) for n in entries)
    caps = "  ".join(f"{k[:5]:<5}" for k in CAPABILITY_KEYS)
    print(f"{'solver':<{width}}  {caps}  version           variants / reason")
    for name, e in entries.items():
        if e.available:
            flags = "  ".join(f"{'yes' if e.capabilities[k] else '-':<5}" for k in CAPABILITY_KEYS)
            vs = ", ".join(v.name for v in e.variants())
            print(f"{name:<{width}}  {flags}  {e.version}  {vs}")
        else:
            print(f"{name:<{width}}  unavailable: {e.reason}")
    return 0


# ------------------------------------------------------------------------------------------------
# instance


def add_instance(sub):
    p = sub.add_parser("instance", help="generate one instance and save it (.npz)")
    p.add_argument("--ensemble", required=True)
    p.add_argument("--signal", default="uniform")
    p.add_argument("--amplitude", default="gaussian")
    p.add_argument("-m", type=int, required=True)
    p.add_argument("-N", type=int, required=True)
    p.add_argument("-s", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma", type=float, default=0.0)
    p.add_argument("--normalize", action="store_true")
    p.add_argument("--per-problem-A", action="store_true", help="a fresh A per problem (default: shared)")
    p.add_argument("-K", type=int, help="hidden-set size (latent model)")
    p.add_argument("--block", type=int, help="block length (block model)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("-o", "--output", required=True, help="output .npz")


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
    p = sub.add_parser("solve", help="run one solver variant on one instance file and print its metrics")
    p.add_argument("solver", help="name or variant, e.g. omp or 'iht[n_iter=30,step=0.5]'")
    p.add_argument("instance", help="instance .npz (greedybench instance)")
    p.add_argument("--solver-file", action="append", default=[], help="drop-in entry file (repeatable)")
    p.add_argument("--state", help="trained state (.pt) for a trained solver")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threshold", type=float, default=1e-3, help="success rule rel_err <= threshold")
    p.add_argument("-o", "--output", help="write the result rows (CSV) here")


@_command
def cmd_solve(args) -> int:
    name, params = parse_variant(args.solver)
    entry = get_solver(name, args.solver_file)
    point = {k: v[0] for k, v in entry.parameters.items() if isinstance(k, str)}
    point.update(params)
    variant = Variant(entry, point)
    inst_path = Path(args.instance).resolve()
    inst = load_instance(inst_path, device=args.device)
    family = {k: inst.meta.get(k) for k in ("ensemble", "signal", "amplitude")}
    rows = solve_instance(variant, inst, state=load_state(args.state, args.device) if args.state else None,
                          success={"threshold": args.threshold, "linf_threshold": 1e-2, "support_tol": 1e-6},
                          device=args.device, dtype=str(inst.meta.get("dtype", "float64")),
                          threads=os.cpu_count() or 1, experiment="cli", family_name="cli", family=family,
                          source=str(inst_path))
    if args.output:
        write_csv(args.output, RESULT_COLUMNS, rows)
    ok = sum(bool(r["success"]) for r in rows)
    errs = sorted(float(r["rel_err"]) for r in rows)
    print(f"{variant.name} on {inst_path.name}: {len(rows)} problems, success {ok}/{len(rows)}, "
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
                    "where it ranks among the stored results/leaderboard.csv rows and why. Writes only under "
                    "--out; never modifies the stored leaderboard. Exit code 2 for a file that cannot be ranked.")
    p.add_argument("solver_file", help="path to the solver entry (.py), see docs/examples/my_solver.py")
    p.add_argument("--families", nargs="+", metavar="FAMILY", help="only these grid families (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="the grid's quick subset (one family, two deltas; same instances, scores recomputed "
                        "for every solver on that subset)")
    p.add_argument("--out", help="output directory (default: results/compare/<name>/)")
    p.add_argument("--device", help="cpu or cuda (default: the grid's, cpu; times are comparable on one device only)")
    p.add_argument("--grid", help=argparse.SUPPRESS)
    p.add_argument("--stored-rows", help=argparse.SUPPRESS)
    p.add_argument("--stored-csv", help=argparse.SUPPRESS)


@_command
def cmd_compare(args) -> int:
    lb.compare(args.solver_file, families=args.families, quick=args.quick, out=args.out, device=args.device,
            grid_path=args.grid, stored_rows=args.stored_rows, stored_csv=args.stored_csv)
    return 0


# ------------------------------------------------------------------------------------------------
# leaderboard stages (workflow/rules/leaderboard.smk: one call each)


def add_leaderboard(sub):
    p = sub.add_parser("leaderboard", help="the leaderboard's pipeline stages (docs/leaderboard.md)",
                       description="The stages the Snakemake leaderboard rules run, one call into "
                                   "greedybench.leaderboard each. Regenerate the stored leaderboard with "
                                   "`snakemake --cores 2 --workflow-profile profiles/local leaderboard`.")
    stages = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    a = stages.add_parser("instances", help="the instances of one family of the grid")
    a.add_argument("--grid", default=str(lb.GRID_FILE))
    a.add_argument("--family", required=True)
    a.add_argument("--out", required=True)
    a = stages.add_parser("solve", help="one variant on every family -> its cells CSV")
    a.add_argument("--grid", default=str(lb.GRID_FILE))
    a.add_argument("--entry", required=True)
    a.add_argument("--params-json", required=True)
    a.add_argument("--version", required=True, help="the planned solver version (refused if it changed)")
    a.add_argument("--solver-file", action="append", default=[])
    a.add_argument("--instances", required=True, help="root holding one directory per family")
    a.add_argument("--out", required=True)
    a = stages.add_parser("aggregate", help="cells + status rows -> the rows file and the table")
    a.add_argument("--grid", default=str(lb.GRID_FILE))
    a.add_argument("--status-json", required=True, help="JSON list of status rows (entries not run)")
    a.add_argument("--out", required=True)
    a.add_argument("--rows-out", required=True)
    a.add_argument("cells", nargs="*")


@_command
def cmd_leaderboard(args) -> int:
    if args.stage == "instances":
        lb.generate_family(args.out, lb.load_grid(args.grid), args.family)
    elif args.stage == "solve":
        lb.cells_stage(args.out, grid_path=args.grid, entry=args.entry, params_json=args.params_json,
                       version=args.version, instances_root=args.instances, solver_files=args.solver_file)
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
        p = sub.add_parser(name, help=f"{what}; `greedybench {name} --help` for its options", add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER)


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greedybench", description=__doc__.split("\n\n")[0])
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


if __name__ == "__main__":
    sys.exit(main())
