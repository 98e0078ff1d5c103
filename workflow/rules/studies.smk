# The learned-solver studies (greedybench/studies): named targets, never part of the default one
# (the main job keeps its 15-minute budget). Settings: config key `studies` (config/README.md).
#
#     snakemake --cores 2 b1_ci              # B1 at CI scale (m = 64, N = 128, depth 8): minutes
#     snakemake --cores 2 b1                 # the full B1 (m = 250, N = 500, depth 16): hours per SNR
#     snakemake --cores 2 latent_transition  # trained nets' rho*(delta) on the latent-support family
#
# The target rules (b1, b1_ci, latent_transition) are in the Snakefile. Each job is one call of the
# study's module (`python -m greedybench.studies.lista_b1 ...` with the workflow's interpreter);
# the studies keep their own resume state (checkpoints/, cache/, cells/ next to the outputs), so a
# stopped job continues where it was when it is run again. The report reads
# the outputs as a parameter, not an input (learned_study_outputs): a later `snakemake --cores 2`
# redraws it with the B1 and transition panels, and without them the report says how to make them.
rule b1_study:
    output:
        results=f"{STUDIES}/{{b1target}}/b1_results.csv",
        layers=f"{STUDIES}/{{b1target}}/b1_layers.csv",
        training=f"{STUDIES}/{{b1target}}/b1_training.csv",
        run=f"{STUDIES}/{{b1target}}/b1_run.json",
    log:
        "results/logs/studies/{b1target}.log",
    wildcard_constraints:
        b1target="b1|b1_ci",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        runtime=study_runtime,
    params:
        args=b1_study_args,
        python=PYTHON,
        out=study_folder,
    shell:
        "{params.python:q} -m greedybench.studies.lista_b1 {params.args} --out {params.out:q} "
        "--no-progress > {log:q} 2>&1"


rule latent_transition_study:
    output:
        fits=f"{STUDIES}/latent_transition/latent_rho_star.csv",
        cells=f"{STUDIES}/latent_transition/latent_cells.csv",
        run=f"{STUDIES}/latent_transition/latent_run.json",
    log:
        "results/logs/studies/latent_transition.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        runtime=study_runtime,
    params:
        args=latent_study_args,
        python=PYTHON,
        out=study_folder,
    shell:
        "{params.python:q} -m greedybench.studies.latent_transition {params.args} "
        "--out {params.out:q} --no-progress > {log:q} 2>&1"
