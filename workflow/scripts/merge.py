"""Snakemake shim: merge per-job CSVs into one sorted table (greedybench.pipeline.tables).

The kind of table comes from the rule's name (merge_results, merge_timing), not from a parameter:
a parameter "results" would repeat the output path's prefix (snakemake --lint)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.tables import merge_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    merge_stage(snakemake.output.table, snakemake.input.runs, kind=snakemake.rule.removeprefix("merge_"))
