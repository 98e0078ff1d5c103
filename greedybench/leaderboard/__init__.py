"""The leaderboard: every solver entry on one fixed, versioned grid, with one score.

See docs/leaderboard.md for the user-facing description. In short:

* The official grid is ``config/leaderboard.yaml`` (``grid_version``), checked against
  ``workflow/schemas/leaderboard.schema.yaml`` (:mod:`.grid`): problem families x ``delta`` x
  ``rho`` at one ``N``, ``trials`` problems per cell, one seed. Instances are made by the
  pipeline's generator, so they are the same wherever they are made; their checksums are stored
  with the results.
* Every untrained solver variant runs on every cell through the one solve core
  (:func:`greedybench.pipeline.core.solve_instance`); a cell row aggregates its per-problem rows
  (:mod:`.run`, :mod:`.rows`).
* Per (solver, family) the score is the area under the 50 % transition curve rho*(delta)
  (:func:`greedybench.analysis.score.area_under_transition`, the rule the report uses too), with
  a paired bootstrap interval over the problems; solvers that the paired comparison of the mean
  cannot separate share a rank (:mod:`greedybench.analysis.ranking`, :mod:`.table`).
* Failures never disappear: an exception, a wrong shape or NaN output in a batch makes that
  batch count as failed problems and is shown in ``status``/``status_detail``; an entry that
  does not load is listed as ``unavailable``; a family a solver cannot run (complex data for a
  real-only solver) scores 0 and is listed; trained and oracle entries are ``not_ranked``.
* ``greedybench compare`` (:mod:`.compare`) ranks a drop-in file against the stored rows; the file
  runs in its own process (:mod:`.sandbox`), the stored files are checksummed before and after and
  the instances checked against their cells (:mod:`.integrity`), ``--seed`` re-checks the score on
  fresh instances (:mod:`.seedcheck`).
* ``greedybench leaderboard verify`` (:mod:`.verify`) recomputes the stored table from its rows
  and reruns a seeded sample of cells (CI runs it: a consistent edit of both files fails).

Files (all writes atomic):

* ``results/leaderboard/instances/{family}/``   one instance slice per delta (pipeline format)
* ``results/leaderboard/cells/{variant}.csv``    one row per (family, delta, rho) cell
* ``results/leaderboard_rows.csv.gz``            all cells plus status rows (committed, small)
* ``results/leaderboard.csv``                    the table (committed); a pure function of the rows

The Snakemake rules (``workflow/rules/leaderboard.smk``) run ``greedybench leaderboard
instances|solve|aggregate`` (:mod:`greedybench.cli`), one call into this package each.
"""

from .compare import STORED_CSV, STORED_INSTANCES, STORED_ROWS, CompareError, compare
from .grid import GRID_FILE, GRID_SCHEMA, Grid, LeaderboardError, load_grid, slice_id
from .integrity import LockedError, OutLock
from .rows import CELL_COLUMNS, CELL_STATUSES, PROVENANCE_KEYS, cell_provenance, read_rows, write_rows
from .run import (cells_stage, generate_family, instances_valid, not_applicable_reason, plan_entries,
                  run_family, status_rows_stage)
from . import verify
from .sandbox import PUBLIC_META, Sandbox, SandboxFailure
from .seedcheck import seed_agreement
from .table import (TIMING_COLUMNS, _weighted_median, compute_leaderboard, family_score,  # noqa: F401
                    leaderboard_columns, leaderboard_csv_text, leaderboard_stage, write_leaderboard)
from .verify import VerifyReport, verify_leaderboard

__all__ = [
    "GRID_FILE", "GRID_SCHEMA", "STORED_CSV", "STORED_ROWS", "STORED_INSTANCES", "CELL_COLUMNS",
    "CELL_STATUSES", "PROVENANCE_KEYS", "TIMING_COLUMNS", "LeaderboardError", "CompareError", "Grid",
    "load_grid", "slice_id", "plan_entries", "not_applicable_reason", "generate_family",
    "instances_valid", "run_family", "cells_stage", "status_rows_stage", "family_score",
    "compute_leaderboard", "leaderboard_columns", "leaderboard_csv_text", "write_leaderboard",
    "leaderboard_stage", "read_rows", "write_rows", "cell_provenance", "compare", "verify",
    "VerifyReport", "verify_leaderboard", "Sandbox", "SandboxFailure", "PUBLIC_META", "OutLock",
    "LockedError", "seed_agreement",
]
