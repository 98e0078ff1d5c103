"""Snakemake shim: train one trained solver on one family (greedybench.pipeline.solve.train_stage)."""
from typing import TYPE_CHECKING

from greedybench.pipeline.io import job_log
from greedybench.pipeline.solve import train_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    train_stage(snakemake.output.model, trainval_dir=snakemake.input.data, options=snakemake.params.options,
                seed=snakemake.params.seed, device=snakemake.params.device, dtype=snakemake.params.dtype,
                threads=snakemake.threads, **snakemake.params.solver, **snakemake.params.family)
