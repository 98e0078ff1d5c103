# Instance generation: one job per (family, N, delta, seed) slice; one per training set.


rule generate_phase:
    output:
        instances=directory("results/instances/phase/{family}/{slice}"),
    log:
        "results/logs/generate_phase/{family}/{slice}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        mem_mb=solve_mem_mb,
    params:
        cell=phase_slice_params,
        family=family_params,
        dtype=CFG["dtype"],
        generator=f"{GENERATOR_VERSION}.{FORMAT_VERSION}",
    script:
        "../scripts/generate_phase.py"


rule generate_training_data:
    output:
        trainval=directory("results/instances/train/{tset}/trainval"),
        test=directory("results/instances/train/{tset}/test"),
    log:
        "results/logs/generate_training_data/{tset}.log",
    conda:
        "../envs/greedybench.yaml"
    threads: 1
    resources:
        mem_mb=solve_mem_mb,
    params:
        data=training_data_params,
        family=family_params,
        dtype=CFG["dtype"],
        generator=f"{GENERATOR_VERSION}.{FORMAT_VERSION}",
    script:
        "../scripts/generate_training_data.py"
