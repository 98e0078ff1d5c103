# The leaderboard on the official grid (config/leaderboard.yaml, docs/leaderboard.md).
#
# Not part of the default target. Regenerate the committed results/leaderboard.csv with
#     snakemake --cores 2 --workflow-profile profiles/local leaderboard --forcerun leaderboard
# (--forcerun: in a fresh checkout the committed table looks up to date to Snakemake; the solve
# jobs still rerun only where their output is missing or their solver's version changed).
# It reads config/leaderboard.yaml whatever --configfile the experiment uses (LB_* and _lb_* in
# common.smk). Each job is one call into greedybench.leaderboard through the greedybench command
# (`greedybench leaderboard instances|solve|aggregate`, run as `python -m greedybench` with the
# workflow's interpreter). The report reads the table as a parameter, not an input (common.smk,
# report_leaderboard): run `snakemake leaderboard` before a report that should show a new table.
rule leaderboard_instances:
    output:
        instances=directory("results/leaderboard/instances/{lbfamily}"),
    log:
        "results/logs/leaderboard_instances/{lbfamily}.log",
    wildcard_constraints:
        lbfamily=_alternatives(LB_GRID.families),
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    params:
        job=_lb_family_params,
        python=PYTHON,
        grid_file=LB_GRID_FILE,
    shell:
        "{params.python:q} -m greedybench leaderboard instances --grid {params.grid_file:q} "
        "--family {wildcards.lbfamily} --out {output.instances:q} > {log:q} 2>&1"


rule leaderboard_solve:
    input:
        instances=expand(
            "results/leaderboard/instances/{lbfamily}", lbfamily=list(LB_GRID.families)
        ),
    output:
        cells="results/leaderboard/cells/{lbvariant}.csv",
    log:
        "results/logs/leaderboard_solve/{lbvariant}.log",
    wildcard_constraints:
        lbvariant=_alternatives(LB_VARIANTS),
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    params:
        solver=_lb_solver_params,
        python=PYTHON,
        grid_file=LB_GRID_FILE,
        instances=_lb_instances_root,
    shell:
        "{params.python:q} -m greedybench leaderboard solve --grid {params.grid_file:q} "
        "--entry {params.solver[entry]} --params-json {params.solver[params_json]:q} "
        "--version {params.solver[version]} --instances {params.instances:q} "
        "--out {output.cells:q} > {log:q} 2>&1"


rule leaderboard:
    input:
        cells=expand(
            "results/leaderboard/cells/{lbvariant}.csv", lbvariant=sorted(LB_VARIANTS)
        ),
    output:
        # update(): Snakemake neither deletes the committed files before the job nor leaves them
        # deleted after a failure (it restores them); the job writes each one atomically.
        table=update("results/leaderboard.csv"),
        rows=update("results/leaderboard_rows.csv.gz"),
    log:
        "results/logs/leaderboard.log",
    conda:
        "../envs/greedybench.yaml"
    params:
        grid=LB_GRID.sha,
        status=_lb_status_json,
        python=PYTHON,
        grid_file=LB_GRID_FILE,
    shell:
        "{params.python:q} -m greedybench leaderboard aggregate --grid {params.grid_file:q} "
        "--status-json {params.status:q} --out {output.table:q} --rows-out {output.rows:q} "
        "{input.cells:q} > {log:q} 2>&1"


import greedybench.leaderboard.trained_config as _lb_trained_config

# The trained track (config/leaderboard_trained.yaml, docs/leaderboard.md "The trained track"):
# the nets trained per task and scored on held-out problems, with the untrained solvers and the
# oracles on the same problems. Not part of the default target; one job (it trains and solves
# everything). Regenerate the committed results/leaderboard_trained.csv with
#     snakemake --cores 2 leaderboard_trained --forcerun leaderboard_trained
# The track file is a parameter (an absolute path, like the grid's), not an input.
LB_TRACK_FILE = str(_lb_trained_config.TRACK_FILE)


rule leaderboard_trained:
    output:
        table=update("results/leaderboard_trained.csv"),
        rows=update("results/leaderboard_trained_rows.csv.gz"),
    log:
        "results/logs/leaderboard_trained.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    params:
        python=PYTHON,
        track_file=LB_TRACK_FILE,
    shell:
        "{params.python:q} -m greedybench leaderboard trained --config {params.track_file:q} "
        "--out {output.table:q} --rows-out {output.rows:q} > {log:q} 2>&1"
