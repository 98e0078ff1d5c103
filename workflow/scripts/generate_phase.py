"""Snakemake shim: one phase-transition instance slice (greedybench.pipeline.generate)."""
from typing import TYPE_CHECKING

from greedybench.pipeline.generate import generate_phase_slice
from greedybench.storage import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    generate_phase_slice(snakemake.output.instances, dtype=snakemake.params.dtype,
                         **snakemake.params.cell, **snakemake.params.family)
