"""The transition-study figures (greedybench.analysis.fig_transitions) on a hand-made table: a
location whose rho* lies outside the s range tried is drawn, marked and explained, never silently
clipped off the axes."""

import math

import numpy as np
import pandas as pd

from greedybench.analysis.fig_common import Manifest
from greedybench.analysis.fig_transitions import (
    EXTRAPOLATED_NOTE,
    _points,
    transition_figures,
)


def _row(solver, entry, N, delta, rho, lo, hi, flag="ok"):
    return {"family": "dct", "solver": solver, "entry": entry, "ensemble": "partial_dct",
            "amplitude": "sign", "rule": "rel_l2", "threshold": 1e-2, "N": N, "delta": delta,
            "rho_star": rho, "ci_lo": lo, "ci_hi": hi, "flag": flag}


def _table(tmp_path, rows):
    path = tmp_path / "transitions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _markers(fig_axes):
    """(x, y) of every white-filled marker (the extrapolated locations) on the axes."""
    out = []
    for ax in fig_axes:
        for line in ax.get_lines():
            if line.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0)):
                out += list(zip(line.get_xdata(), line.get_ydata()))
    return out


def test_extrapolated_location_is_drawn_at_the_edge_marked_and_explained(tmp_path, monkeypatch):
    rows = [_row("htp", "htp", 256, d, r, r - 0.01, r + 0.01) for d, r in [(0.25, 0.3), (0.5, 0.37)]]
    rows.append(_row("htp", "htp", 256, 0.95, 1.12, 0.802, math.inf, "extrapolated"))
    rows += [_row("omp", "omp", 256, d, r, r - 0.01, r + 0.01) for d, r in [(0.25, 0.2), (0.5, 0.22), (0.95, 0.5)]]
    drawn = {}
    real_add = Manifest.add

    def add(self, fig_id, fig, *a, **k):
        drawn[fig_id] = fig
        return real_add(self, fig_id, fig, *a, **k)

    monkeypatch.setattr(Manifest, "add", add)
    man = Manifest(tmp_path / "figs")
    transition_figures(man, _table(tmp_path, rows))
    (entry,) = [f for f in man.figures if f["id"] == "transition_curves_dct"]
    assert EXTRAPOLATED_NOTE in entry["caption"]
    assert "basis-pursuit" not in entry["caption"]     # no l1 reference ran on this family
    axes = drawn["transition_curves_dct"].axes
    assert _markers(axes) == [(0.95, 1.0)]             # at the top edge, not above the axes
    assert all(ax.get_ylim() == (0.0, 1.0) for ax in axes)
    # a table without such a location says nothing about it
    man2 = Manifest(tmp_path / "figs2")
    transition_figures(man2, _table(tmp_path, [r for r in rows if r["flag"] == "ok"]))
    assert EXTRAPOLATED_NOTE not in man2.figures[0]["caption"]
    assert _markers(drawn["transition_curves_dct"].axes) == []


def test_one_sided_intervals_run_to_the_axis_edge():
    g = pd.DataFrame([_row("x", "x", 128, 0.05, 0.16, 0.0, 0.19, "extrapolated"),
                      _row("x", "x", 128, 0.95, 1.12, 0.8, math.inf, "extrapolated"),
                      _row("x", "x", 128, 0.5, 0.4, 0.39, 0.41)])
    y, yerr, open_ = _points(g)
    assert np.allclose(y, [0.16, 1.0, 0.4])
    assert np.allclose(yerr[0], [0.16, 0.2, 0.01]) and np.allclose(yerr[1], [0.03, 0.0, 0.01])
    assert list(open_) == [True, True, False] and np.isfinite(yerr).all()
