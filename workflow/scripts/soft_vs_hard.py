"""Snakemake shim: soft solvers vs their hard counterparts over tau (rule soft_vs_hard), and the
Fig. 2 table per iteration with the bounds (rule fig2), both in greedybench.pipeline.soft_vs_hard."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.soft_vs_hard import fig2_stage, soft_vs_hard_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

stage = fig2_stage if snakemake.rule == "fig2" else soft_vs_hard_stage
with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    stage(snakemake.output.table, device=snakemake.params.device, dtype=snakemake.params.dtype,
          threads=snakemake.threads, **snakemake.params.job)
