"""Figures, their captions and sidecar CSVs, the summary table and the manifest.

``make_figures`` reads the long results table (one row per problem, docs/architecture.md) and
optional extras, and writes into ``out_dir``:

- ``<figure>.png`` (dpi 110) and ``<figure>.svg`` for each figure drawn, and
  ``data/<figure>.csv``, the exact rows or aggregates it was drawn from;
- ``summary.csv`` (per solver and problem class: rho* at each delta, area under rho*(delta) by the
  leaderboard's rule, median time per problem where successful, success rate) and
  ``transitions.csv`` (every fit);
- ``manifest.json``: for each figure its file (and ``svg``), caption, source CSVs and the SHA-256
  of their bytes, and for cell maps (phase diagrams, selection maps) ``hover``: one
  ``[x0, y0, x1, y1, text]`` per cell in fractions of the image (origin top left) for the report's
  hover texts; for each figure not drawn (no data, nothing to fit, a missing extra), the reason.

This module only orchestrates: the computations live in ``summary`` / ``phase`` / ``score`` /
``soft_vs_hard_study``, the drawing in one module per figure family (``fig_phase``,
``fig_selection``, ``fig_runtime``, ``fig_soft_vs_hard``, ``fig_training``, ``fig_learned``; shared parts in
``fig_common``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from .fig_common import CRITERIA, DPI, Manifest, csv_bytes, setting, solver_colors, write_atomic
from .fig_learned import learned_figures
from .fig_phase import phase_figures
from .fig_runtime import runtime_figures
from .fig_selection import selection_maps
from .fig_soft_vs_hard import soft_vs_hard_figures
from .fig_training import training_figures
from .fig_transitions import transition_figures
from .summary import prepare, read_table, summary_table, transition_fits

__all__ = ["make_figures", "CRITERIA", "write_atomic"]

# the names tests and older callers import from here
_csv_bytes = csv_bytes
_read_table = read_table


def make_figures(results_csv, out_dir, config=None, *, extras=None) -> dict:
    """Draw every figure the inputs allow; write the PNGs (and SVGs), their sidecar CSVs,
    ``summary.csv``, ``transitions.csv`` and ``manifest.json`` into ``out_dir``, and return the
    manifest.

    Parameters
    ----------
    results_csv : path (.csv or .parquet) or DataFrame
        The long results table (docs/architecture.md). Needs solver, family, delta, rho, success;
        uses N, exact_support, success_linf, time_per_problem_s, device, dtype, entry, oracle ...
        when present.
    out_dir : path
    config : dict, optional
        The run's configuration (parsed YAML). Read: ``analysis.threshold`` (or ``threshold``)
        for captions, ``analysis.n_boot`` (200), ``analysis.seed`` (0),
        ``analysis.selection_min_rate`` (0.5), ``analysis.ci_level`` (0.95).
    extras : dict, optional
        ``timing_csv`` (runtime figures; alias ``timing``; columns solver, device, dtype, N, m,
        batch or batch_size, time_per_problem_s, repeats, threads, optional sweep),
        ``soft_vs_hard_csv`` (Fig. 2 panels; alias ``soft_vs_hard``; columns algorithm, n, tau,
        geomean, lo, hi, optional bound_geomean, or the pipeline's per-problem rows with pair,
        tau, diff, bound, which are aggregated to geometric means), ``fig2_csv`` (alias ``fig2``;
        the pipeline's tables/fig2.csv: algorithm, n, tau, geomean, lo, hi and, with bounds,
        bound_geomean, frac_finite, violations, measured_finite_geomean, tightness -> the Fig. 2
        panels and the bound-vs-measured scatter), ``training``
        (``{net: {"loss_csv", "weights_csv", "errors_csv", "baselines": {name: loss}}}``, Fig. 3
        panels), ``transitions`` and ``transition_counts`` (the transition study's
        tables/transitions.csv and tables/transition_counts.csv: rho*(delta) curves per N and
        family, rho* against N at ``transitions.finite_size.delta``), ``learned_b1`` and
        ``learned_transitions`` (output folders of ``python -m greedybench.studies.lista_b1`` and
        ``... latent_transition``: B1 NMSE per layer and training curves, the trained nets'
        rho*(delta); when absent, skipped with the command that makes them). A missing or unreadable
        extra is not drawn; the manifest says why.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extras = dict(extras or {})
    n_boot = int(setting(config, "n_boot", 200))
    seed = int(setting(config, "seed", 0))
    level = float(setting(config, "ci_level", 0.95))
    min_rate = float(setting(config, "selection_min_rate", 0.5))

    raw = read_table(results_csv)
    d = prepare(raw)
    man = Manifest(out_dir)
    colors = solver_colors(d["solver"].unique())

    all_rates, all_curves = {}, []
    for criterion in CRITERIA:
        if criterion not in d.columns:
            man.skip(f"phase_{criterion}", f"phase_{criterion}",
                     f"results table has no {criterion!r} column")
            continue
        rates, curves = transition_fits(d, criterion, n_boot=n_boot, seed=seed, level=level)
        all_rates[criterion] = rates
        all_curves.append(curves)
        phase_figures(man, d, config, criterion, rates, curves, colors)
    curves = pd.concat(all_curves, ignore_index=True)

    selection_maps(man, d, config, colors, min_rate)
    # the Snakemake rule names its inputs "timing" and "soft_vs_hard": accept both spellings
    runtime_figures(man, extras.get("timing_csv", extras.get("timing")))
    soft_vs_hard_figures(man, extras.get("soft_vs_hard_csv", extras.get("soft_vs_hard")),
                         fig2=extras.get("fig2_csv", extras.get("fig2")))
    training_figures(man, extras.get("training"))
    transition_figures(man, extras.get("transitions"), extras.get("transition_counts"),
                       finite_size_delta=float(((config or {}).get("transitions") or {})
                                               .get("finite_size", {}).get("delta", 0.5)))
    learned_figures(man, extras.get("learned_b1"), extras.get("learned_transitions"))

    summary = summary_table(d, all_rates, curves)
    write_atomic(out_dir / "summary.csv", csv_bytes(summary))
    write_atomic(out_dir / "transitions.csv", csv_bytes(curves))
    raw_bytes = csv_bytes(raw)
    src_name = str(results_csv) if not isinstance(results_csv, pd.DataFrame) else "(DataFrame)"
    manifest = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "out_dir": str(out_dir.resolve()),
        "results": {"path": src_name, "rows": int(len(raw)),
                    "sha256": hashlib.sha256(raw_bytes).hexdigest()},
        "settings": {"n_boot": n_boot, "seed": seed, "ci_level": level,
                     "selection_min_rate": min_rate, "dpi": DPI},
        "summary_csv": "summary.csv",
        "transitions_csv": "transitions.csv",
        "figures": man.figures,
        "skipped": man.skipped,
        "extras": {k: str(v) for k, v in extras.items() if k != "training"},
    }
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
