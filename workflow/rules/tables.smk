# Merged tables, the timing protocol, the soft-vs-hard comparison and its Fig. 2 table.


rule merge_results:
    input:
        runs=PLAN.run_paths(),
    output:
        table="results/tables/results.csv",
    log:
        "results/logs/merge_results.log",
    conda:
        "../envs/greedybench.yaml"
    script:
        "../scripts/merge.py"


rule timing:
    output:
        rows="results/timing/{variant}.csv",
    log:
        "results/logs/timing/{variant}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=solve_mem_mb,
    params:
        solver=solver_params,
        timing=timing_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    script:
        "../scripts/timing.py"


rule merge_timing:
    input:
        runs=expand("results/timing/{variant}.csv", variant=PLAN.timed()),
    output:
        table="results/tables/timing.csv",
    log:
        "results/logs/merge_timing.log",
    conda:
        "../envs/greedybench.yaml"
    script:
        "../scripts/merge.py"


rule soft_vs_hard:
    output:
        table="results/tables/soft_vs_hard.csv",
    log:
        "results/logs/soft_vs_hard.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=solve_mem_mb,
    params:
        job=soft_vs_hard_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    script:
        "../scripts/soft_vs_hard.py"


rule fig2:
    output:
        table="results/tables/fig2.csv",
    log:
        "results/logs/fig2.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=fig2_mem_mb,
    params:
        job=fig2_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    script:
        "../scripts/soft_vs_hard.py"


rule training_tables:
    input:
        unpack(training_table_inputs),
    output:
        loss="results/tables/training/{variant}/{tset}/loss.csv",
        weights="results/tables/training/{variant}/{tset}/weights.csv",
        errors="results/tables/training/{variant}/{tset}/errors.csv",
    log:
        "results/logs/training_tables/{variant}/{tset}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        job=training_table_params,
    script:
        "../scripts/train.py"
