# The adaptive transition study (greedybench.pipeline.transitions): one job per family x study
# variant, locating rho* at every (N, delta); the merge writes tables/transitions.csv and
# tables/transition_counts.csv.


rule transitions:
    output:
        rows="results/transitions/{family}/{tvariant}.csv",
    log:
        "results/logs/transitions/{family}/{tvariant}.log",
    wildcard_constraints:
        tvariant=_alternatives(PLAN.transition_variants),
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=2000,
    params:
        job=transition_job_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    script:
        "../scripts/transitions.py"


rule merge_transitions:
    input:
        runs=PLAN.transition_paths(),
    output:
        table="results/tables/transitions.csv",
        counts="results/tables/transition_counts.csv",
    log:
        "results/logs/merge_transitions.log",
    localrule: True
    conda:
        "../envs/greedybench.yaml"
    script:
        "../scripts/transitions.py"
