"""Snakemake shim: train one trained solver on one training set (rule train), or write the Fig. 3
tables of a trained net (rule training_tables), both in greedybench.pipeline.train."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.train import train_stage, training_tables_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    if snakemake.rule == "training_tables":
        runs = snakemake.input.runs
        training_tables_stage(snakemake.output.loss, snakemake.output.weights, snakemake.output.errors,
                              model=snakemake.input.model, data=snakemake.input.data,
                              runs=[runs] if isinstance(runs, str) else list(runs), **snakemake.params.job)
    else:
        train_stage(snakemake.output.model, trainval_dir=snakemake.input.data, options=snakemake.params.options,
                    seed=snakemake.params.seed, device=snakemake.params.device, dtype=snakemake.params.dtype,
                    threads=snakemake.threads, **snakemake.params.solver, **snakemake.params.family)
