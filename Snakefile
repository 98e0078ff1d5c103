"""greedybench pipeline (docs/architecture.md, config/README.md).

instances -> train (trained solvers) -> solve -> tables/results.csv -> timing, soft-vs-hard
-> figures -> report/index.html, all under results/.

    snakemake --cores all                                  # config/default.yaml, profiles/default
    snakemake --cores 2 --configfile config/tiny.yaml
    greedybench run --configfile config/tiny.yaml                          # the same, via the CLI
"""

from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/instances.smk"
include: "workflow/rules/solve.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/transitions.smk"
include: "workflow/rules/leaderboard.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/report.smk"


# cheap bookkeeping (merging CSVs, drawing, rendering) runs where Snakemake runs, also under a
# cluster executor: a scheduler round-trip would cost more than the work
localrules:
    merge_results,
    merge_timing,
    figures,
    report,


rule all:
    default_target: True
    input:
        PLAN.final_targets(),
