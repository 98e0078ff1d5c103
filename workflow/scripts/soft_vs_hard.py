"""Snakemake shim: soft solvers vs their hard counterparts over tau (greedybench.pipeline.soft_vs_hard)."""
from typing import TYPE_CHECKING

from greedybench.pipeline.io import job_log
from greedybench.pipeline.soft_vs_hard import soft_vs_hard_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    soft_vs_hard_stage(snakemake.output.table, device=snakemake.params.device, dtype=snakemake.params.dtype,
                       threads=snakemake.threads, **snakemake.params.job)
