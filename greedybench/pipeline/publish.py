"""Figures and report stages: thin calls into greedybench.analysis and greedybench.report.

``figures_stage`` runs :func:`greedybench.analysis.make_figures` into a temporary directory that
replaces ``results/figures`` only when it finished (paths in the manifest are rewritten to the
final directory); the Fig. 2 table (tables/fig2.csv) and the trained nets' tables
(tables/training/...) come in as extras. ``report_stage`` renders ``results/report/index.html`` atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

from ..analysis import make_figures  # the drawing code (matplotlib) loads on the first call
from ..report import render_report
from ..storage import atomic_dir, run_record

__all__ = ["figures_stage", "report_stage", "run_provenance"]


def figures_stage(out_dir, *, results_csv, config: dict, extras: Optional[Dict[str, str]] = None,
                  training: Optional[Dict[str, dict]] = None) -> dict:
    """``extras``: name -> table (timing, soft_vs_hard, fig2); ``training``: net label -> {loss_csv,
    weights_csv, errors_csv, description} (the training_tables outputs), given to make_figures as
    ``extras["training"]`` (Fig. 3 panels)."""
    out_dir = Path(out_dir)
    extras = dict(extras or {})
    if training:
        extras["training"] = {net: dict(spec) for net, spec in training.items()}
    with atomic_dir(out_dir) as tmp:
        manifest = make_figures(results_csv, tmp, config, extras=extras)
        path = tmp / "manifest.json"
        text = path.read_text() if path.exists() else json.dumps(manifest, indent=1, sort_keys=True, default=str)
        text = text.replace(str(tmp.resolve()), str(out_dir.resolve())).replace(str(tmp), str(out_dir))
        path.write_text(text)
    return json.loads((out_dir / "manifest.json").read_text())


def run_provenance(config: dict, device: str) -> dict:
    """What the report states about the run (:func:`greedybench.storage.run_record`)."""
    return run_record(config, device=device, dtype=config["dtype"])


def report_stage(out_html, *, figures_dir, config: dict, device: str,
                 leaderboard_csv: Optional[str] = None) -> None:
    """render_report writes the page atomically itself."""
    Path(out_html).parent.mkdir(parents=True, exist_ok=True)
    render_report(Path(figures_dir) / "manifest.json", out_html,
                  provenance=run_provenance(config, device), leaderboard_csv=leaderboard_csv)
