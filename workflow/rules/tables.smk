# Merged tables, the timing protocol and the soft-vs-hard comparison.


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
