"""Snakemake shim: the train/val/test draw of one training family (greedybench.pipeline.generate)."""
from typing import TYPE_CHECKING

from greedybench.pipeline.generate import generate_training_data
from greedybench.storage import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    generate_training_data(snakemake.output.trainval, snakemake.output.test, dtype=snakemake.params.dtype,
                           **snakemake.params.data, **snakemake.params.family)
