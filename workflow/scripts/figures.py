"""Snakemake shim: figures and their manifest (greedybench.analysis.make_figures)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.publish import figures_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    extras = {k: v for k, v in snakemake.input.items() if k not in ("results", "training_files")}
    # the learned-solver studies' folders, where their outputs exist (common.smk, learned_study_outputs)
    extras.update({k: v["path"] for k, v in snakemake.params.studies.items()})
    figures_stage(snakemake.output.figures, results_csv=snakemake.input.results,
                  config=snakemake.params.config, extras=extras, training=snakemake.params.training)
