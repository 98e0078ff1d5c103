# Training (trained solver x training set) and solving (variant x instance slice).


rule train:
    input:
        data="results/instances/train/{tset}/trainval",
    output:
        model="results/models/{variant}/{tset}.pt",
    log:
        "results/logs/train/{variant}/{tset}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=solve_mem_mb,
    params:
        solver=solver_params,
        family=family_params,
        options=train_options,
        seed=CFG["training"]["seed"],
        device=DEVICE,
        dtype=CFG["dtype"],
    script:
        "../scripts/train.py"


rule solve:
    input:
        unpack(solve_inputs),
    output:
        rows="results/runs/{experiment}/{variant}/{group}/{slice}.csv",
    log:
        "results/logs/solve/{experiment}/{variant}/{group}/{slice}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=solve_mem_mb,
    params:
        solver=solver_params,
        family=family_params,
        success=CFG["success"],
        device=DEVICE,
        dtype=CFG["dtype"],
        table=TABLE_VERSION,
    script:
        "../scripts/solve.py"
