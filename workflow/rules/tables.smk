# Merged tables, the timing protocol, the soft-vs-hard comparison and its Fig. 2 table.


rule merge_results:
    input:
        runs=PLAN.run_paths(),
    output:
        table="results/tables/results.csv",
    log:
        "results/logs/merge_results.log",
    params:
        kind="results",
    script:
        "../scripts/merge.py"


rule timing:
    output:
        rows="results/timing/{variant}.csv",
    log:
        "results/logs/timing/{variant}.log",
    params:
        solver=solver_params,
        timing=timing_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    threads: 1
    resources:
        mem_mb=solve_mem_mb,
        **GPU,
    script:
        "../scripts/timing.py"


rule merge_timing:
    input:
        runs=expand("results/timing/{variant}.csv", variant=PLAN.timed()),
    output:
        table="results/tables/timing.csv",
    log:
        "results/logs/merge_timing.log",
    params:
        kind="timing",
    script:
        "../scripts/merge.py"


rule soft_vs_hard:
    output:
        table="results/tables/soft_vs_hard.csv",
    log:
        "results/logs/soft_vs_hard.log",
    params:
        job=soft_vs_hard_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    threads: 1
    resources:
        mem_mb=solve_mem_mb,
        **GPU,
    script:
        "../scripts/soft_vs_hard.py"


rule fig2:
    output:
        table="results/tables/fig2.csv",
    log:
        "results/logs/fig2.log",
    params:
        job=fig2_params,
        device=DEVICE,
        dtype=CFG["dtype"],
    threads: 1
    resources:
        mem_mb=fig2_mem_mb,
        **GPU,
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
    params:
        job=training_table_params,
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/train.py"
