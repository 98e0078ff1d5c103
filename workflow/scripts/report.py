"""Snakemake shim: the HTML report (greedybench.report.render_report)."""
from typing import TYPE_CHECKING

from greedybench.storage import job_log
from greedybench.pipeline.publish import report_stage

if TYPE_CHECKING:
    from snakemake.script import snakemake

# params.leaderboard: {"path", "sha256"} of the configured leaderboard table, or None
leaderboard = snakemake.params.leaderboard

with job_log(snakemake.log[0], timeout_s=snakemake.config.get("job_timeout_s")):
    report_stage(snakemake.output.html, figures_dir=snakemake.input.figures, config=snakemake.params.config,
                 device=snakemake.params.device, leaderboard_csv=leaderboard["path"] if leaderboard else None)
