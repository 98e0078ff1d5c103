"""greedybench pipeline (docs/architecture.md, config/README.md).

instances -> train (trained solvers) -> solve -> tables/results.csv -> timing, soft-vs-hard
-> figures -> report/index.html, all under results/.

    snakemake --cores 2 --workflow-profile profiles/local                  # config/default.yaml
    snakemake --cores 2 --workflow-profile profiles/local --configfile config/tiny.yaml
    greedybench run --configfile config/tiny.yaml                          # the same, via the CLI
"""

from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/instances.smk"
include: "workflow/rules/solve.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/leaderboard.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.final_targets(),
