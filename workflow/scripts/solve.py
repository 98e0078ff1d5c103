"""Snakemake shim: one solver variant on one instance slice (greedybench.pipeline.solve)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.solve import solve_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    solve_stage(snakemake.output.rows, instance_dir=snakemake.input.instances,
                state_path=snakemake.input.get("model"), experiment=snakemake.wildcards.experiment,
                success=snakemake.params.success, device=snakemake.params.device, dtype=snakemake.params.dtype,
                threads=snakemake.threads, **snakemake.params.solver, **snakemake.params.family)
