"""Snakemake shim: the timing protocol for one solver variant (greedybench.pipeline.timing)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.timing import timing_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    timing_stage(snakemake.output.rows, device=snakemake.params.device, dtype=snakemake.params.dtype,
                 threads=snakemake.threads, **snakemake.params.solver, **snakemake.params.timing)
