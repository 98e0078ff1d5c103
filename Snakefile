"""greedybench pipeline (docs/architecture.md, config/README.md).

instances -> train (trained solvers) -> solve -> tables/results.csv -> timing, soft-vs-hard
-> figures -> report/index.html, all under results/.

    snakemake --cores all                                  # config/default.yaml, profiles/default
    snakemake --cores 2 --configfile config/tiny.yaml
    greedybench run --configfile config/tiny.yaml                          # the same, via the CLI
    snakemake --cores 2 b1_ci        # named targets, not in the default one: b1, b1_ci, latent_transition
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


# Named targets outside the default one (workflow/rules/studies.smk): the learned-solver studies.
rule b1:
    input:
        "results/studies/b1/b1_results.csv",


rule b1_ci:
    input:
        "results/studies/b1_ci/b1_results.csv",


rule latent_transition:
    input:
        "results/studies/latent_transition/latent_rho_star.csv",
