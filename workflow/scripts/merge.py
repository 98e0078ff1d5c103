"""Snakemake shim: merge per-job CSVs into one sorted table (greedybench.pipeline.tables)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.tables import merge_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    merge_stage(snakemake.output.table, snakemake.input.runs, kind=snakemake.params.kind)
