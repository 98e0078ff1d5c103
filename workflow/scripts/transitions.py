"""Snakemake shim: one transition job, or the merge of every job's CSV
(greedybench.pipeline.transitions)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.transitions import merge_transitions, transitions_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    if snakemake.rule == "merge_transitions":
        merge_transitions(snakemake.input.runs, snakemake.output.table, snakemake.output.counts)
    else:
        transitions_stage(snakemake.output.rows, device=snakemake.params.device,
                          dtype=snakemake.params.dtype, threads=snakemake.threads,
                          **snakemake.params.job)
