# The leaderboard on the official grid (config/leaderboard.yaml, docs/leaderboard.md).
#
# Not part of the default target. Regenerate the committed results/leaderboard.csv with
#     snakemake --cores 2 --workflow-profile profiles/local leaderboard --forcerun leaderboard
# (--forcerun: in a fresh checkout the committed table looks up to date to Snakemake; the solve
# jobs still rerun only where their output is missing or their solver's version changed).
# It reads config/leaderboard.yaml whatever --configfile the experiment uses. Each job is one call
# into greedybench.leaderboard through the greedybench command (`greedybench leaderboard
# instances|solve|aggregate`, run as `python -m greedybench` with the workflow's interpreter).
import json as _lb_json
import sys as _lb_sys

from greedybench import leaderboard as _lb
from greedybench.registry import discover as _lb_discover

LB_GRID_FILE = str(_lb.GRID_FILE)
LB_GRID = _lb.load_grid(LB_GRID_FILE)
LB_VARIANTS, _ = _lb.plan_entries(LB_GRID, _lb_discover(), versions=False)
LB_PY = _lb_sys.executable


def _lb_family_params(wildcards):
    """The instances of a family depend on these only (a change regenerates them)."""
    return {"key": LB_GRID.instance_key(wildcards.lbfamily), "deltas": list(LB_GRID.delta)}


def _lb_status_json(wildcards):
    """Status rows (with version hashes) of the entries not run: unavailable, trained, oracles."""
    return _lb_json.dumps(_lb.plan_entries(LB_GRID, _lb_discover())[1], sort_keys=True)


def _lb_solver_params(wildcards):
    """Entry, parameters and version hash: a changed solver (or kernel) reruns only its job."""
    v = LB_VARIANTS[wildcards.lbvariant]
    return {"entry": v.entry.name, "params_json": v.params_json, "version": v.version, "grid": LB_GRID.sha}


def report_leaderboard(wildcards):
    """The report's leaderboard table (config report.leaderboard, e.g. results/leaderboard.csv) as an
    input, so that the report is redrawn when it changes; nothing when it is not configured."""
    path = CFG["report"].get("leaderboard")
    return {"leaderboard": path} if path else {}


rule leaderboard_instances:
    output:
        instances=directory("results/leaderboard/instances/{lbfamily}"),
    log:
        "results/logs/leaderboard_instances/{lbfamily}.log",
    wildcard_constraints:
        lbfamily=_alternatives(LB_GRID.families),
    params:
        job=_lb_family_params,
    threads: 1
    shell:
        "{LB_PY:q} -m greedybench leaderboard instances --grid {LB_GRID_FILE:q} --family {wildcards.lbfamily} "
        "--out {output.instances:q} > {log:q} 2>&1"


rule leaderboard_solve:
    input:
        instances=expand("results/leaderboard/instances/{lbfamily}", lbfamily=list(LB_GRID.families)),
    output:
        cells="results/leaderboard/cells/{lbvariant}.csv",
    log:
        "results/logs/leaderboard_solve/{lbvariant}.log",
    wildcard_constraints:
        lbvariant=_alternatives(LB_VARIANTS),
    params:
        solver=_lb_solver_params,
    threads: 1
    shell:
        "{LB_PY:q} -m greedybench leaderboard solve --grid {LB_GRID_FILE:q} --entry {params.solver[entry]} "
        "--params-json {params.solver[params_json]:q} --version {params.solver[version]} "
        "--instances results/leaderboard/instances --out {output.cells:q} > {log:q} 2>&1"


rule leaderboard:
    input:
        cells=expand("results/leaderboard/cells/{lbvariant}.csv", lbvariant=sorted(LB_VARIANTS)),
    output:
        # update(): Snakemake neither deletes the committed files before the job nor leaves them
        # deleted after a failure (it restores them); the job writes each one atomically.
        table=update("results/leaderboard.csv"),
        rows=update("results/leaderboard_rows.csv.gz"),
    log:
        "results/logs/leaderboard.log",
    params:
        grid=LB_GRID.sha,
        status=_lb_status_json,
    shell:
        "{LB_PY:q} -m greedybench leaderboard aggregate --grid {LB_GRID_FILE:q} --status-json {params.status:q} "
        "--out {output.table:q} --rows-out {output.rows:q} {input.cells:q} > {log:q} 2>&1"
