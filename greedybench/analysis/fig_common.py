"""What every figure family shares: the manifest, saving (PNG + SVG), fonts, titles, cell drawing.

The drawing modules (``fig_phase``, ``fig_selection``, ``fig_runtime``, ``fig_soft_vs_hard``,
``fig_training``) draw what the computation modules (``summary``, ``phase``, ``score``) computed;
``figures.make_figures`` calls them in order. Matplotlib is used through
``matplotlib.figure.Figure`` only (no pyplot global state), and PNG/SVG metadata is stripped so that
the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import patheffects
from matplotlib.figure import Figure

from .l1 import l1_weak_curve
from .summary import fmt_list, setting  # noqa: F401  (re-exported for the drawing modules)
from ..storage import atomic_write_bytes

__all__ = ["DPI", "CRITERIA", "LEGEND_FS", "TITLE_FS", "Manifest", "write_atomic", "csv_bytes", "slug",
           "setting", "fmt_list", "wrap", "edges", "draw_cells", "draw_curve", "draw_l1", "solver_colors",
           "L1_STYLE", "outside_legend", "hover_regions"]

DPI = 110
CRITERIA = {
    "success": "relative l2 error <= threshold",
    "exact_support": "exact support recovery (top-s of |x_hat| = true support)",
    "success_linf": "relative l-inf error <= threshold (GAGA rule)",
}
LEGEND_FS = 9  # legends as readable as the tick labels (matplotlib's default 10 pt axis labels)
TITLE_FS = 10
_PNG_META = {"Software": None}
_SVG_META = {"Date": None, "Creator": None}
L1_STYLE = dict(color="black", ls="--", lw=1.4, label=r"$\ell_1$ weak threshold $\rho_W^{\pm}$")
# a white curve drawn on a heatmap keeps a dark outline, so that its legend handle is visible on the
# legend's white background too
OUTLINE = [patheffects.Stroke(linewidth=3.2, foreground="0.15"), patheffects.Normal()]


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (greedybench.storage: temp file, fsync, rename)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    atomic_write_bytes(path, data)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The figures' sidecar CSV format (floats with 10 significant digits, ``\\n`` line ends)."""
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode("utf-8")


def slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def wrap(text: str, width_in: float, fontsize: float = TITLE_FS) -> str:
    """Break a title into lines that fit ``width_in`` inches at ``fontsize`` points, so that a
    long title is never clipped at the figure's edge (about 0.55 em per character)."""
    chars = max(12, int(width_in * 72.0 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(str(text), chars)) or str(text)


def outside_legend(fig: Figure, ax, handles=None, *, ncol=None, **kw):
    """A legend below the axes (outside the plotted area), so that it covers no data cell."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return None
    n = len(handles)
    ncol = ncol or min(n, 2 if fig.get_figwidth() < 7 else 3)
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol,
                     fontsize=LEGEND_FS, framealpha=0.9, **kw)


def _save(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_META)
    write_atomic(path, buf.getvalue())


def _save_svg(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "greedybench", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata=_SVG_META)
    write_atomic(path.with_suffix(".svg"), buf.getvalue())


class Manifest:
    """Collects the figures drawn (file, SVG, caption, source CSVs with their SHA-256) and the ones
    not drawn with the reason."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.figures: list[dict] = []
        self.skipped: list[dict] = []

    def source(self, name: str, df: pd.DataFrame) -> dict:
        data = csv_bytes(df)
        rel = Path("data") / f"{name}.csv"
        write_atomic(self.out_dir / rel, data)
        return {"path": rel.as_posix(), "sha256": hashlib.sha256(data).hexdigest(),
                "rows": int(len(df))}

    def add(self, fig_id: str, fig: Figure, caption: str, kind: str, sources: list[dict],
            title: str, hover: list | None = None) -> None:
        rel = f"{fig_id}.png"
        _save(fig, self.out_dir / rel)
        entry = {
            "id": fig_id, "kind": kind, "title": title, "file": rel, "svg": f"{fig_id}.svg",
            "caption": caption, "source_csv": sources[0]["path"], "source_sha256": sources[0]["sha256"],
            "source_rows": sources[0]["rows"], "sources": sources,
        }
        if hover:  # the layout of the PNG just saved
            entry["hover"] = hover_regions(fig, hover)
        _save_svg(fig, self.out_dir / rel)
        self.figures.append(entry)

    def skip(self, fig_id: str, kind: str, reason: str, command: str | None = None) -> None:
        """Record a figure not drawn; ``command``: what makes its missing inputs (the report says it)."""
        self.skipped.append({"id": fig_id, "kind": kind, "reason": reason, **({"command": command} if command else {})})


def hover_regions(fig: Figure, hover: list) -> list:
    """``[x0, y0, x1, y1, text]`` per cell as fractions of the saved image (origin top left),
    clipped to the cell's axes, from ``(ax, x0, x1, y0, y1, text)`` in data coordinates. Call after
    the figure was saved (the layout is then fixed)."""
    to_fig = fig.transFigure.inverted()
    out = []
    for ax, x0, x1, y0, y1, text in hover:
        (ax_x0, ax_y0), (ax_x1, ax_y1) = to_fig.transform(ax.bbox.get_points())
        (a, b), (c, d) = to_fig.transform(ax.transData.transform([(x0, y0), (x1, y1)]))
        a, c = max(min(a, c), ax_x0), min(max(a, c), ax_x1)
        b, d = max(min(b, d), ax_y0), min(max(b, d), ax_y1)
        if c > a and d > b:
            out.append([round(float(a), 5), round(float(1 - d), 5), round(float(c), 5), round(float(1 - b), 5),
                        str(text)])
    return out


# ---------------------------------------------------------------------------- shared drawing


def edges(values: np.ndarray, lo=None, hi=None) -> np.ndarray:
    v = np.asarray(sorted(values), dtype=float)
    if v.size == 1:
        half = 0.025
        return np.array([v[0] - half, v[0] + half])
    mid = 0.5 * (v[1:] + v[:-1])
    first = v[0] - (mid[0] - v[0])
    last = v[-1] + (v[-1] - mid[-1])
    e = np.concatenate([[first], mid, [last]])
    if lo is not None:
        e[0] = max(e[0], lo)
    if hi is not None:
        e[-1] = min(e[-1], hi)
    return e


def draw_cells(ax, cells: pd.DataFrame, value_col: str, *, cmap=None, norm=None, colors=None,
               hover: list | None = None, label=None):
    """Draw one rectangle per (delta, rho) cell: rho grids may differ between deltas. With ``hover``
    (a list) and ``label`` (row -> text), append ``(ax, x0, x1, y0, y1, text)`` per cell for the
    report's hover texts (:meth:`Manifest.add`)."""
    dx = edges(cells["delta"].unique(), 0.0, 1.0)
    deltas = np.sort(cells["delta"].unique())
    mesh = None
    for j, delta in enumerate(deltas):
        col = cells[cells["delta"] == delta].sort_values("rho")
        ry = edges(col["rho"].to_numpy(), 0.0, None)
        if hover is not None and label is not None:
            for i, (_, row) in enumerate(col.iterrows()):
                hover.append((ax, dx[j], dx[j + 1], ry[i], ry[i + 1], label(row)))
        if colors is not None:
            for i, c in enumerate(col[value_col]):
                ax.fill_between([dx[j], dx[j + 1]], ry[i], ry[i + 1], color=colors(c), lw=0)
        else:
            mesh = ax.pcolormesh([dx[j], dx[j + 1]], ry, col[value_col].to_numpy()[:, None],
                                 cmap=cmap, norm=norm, shading="flat")
    return mesh


def draw_curve(ax, curve: pd.DataFrame, color, label, band=True, outline=False):
    """The fitted 50 % curve with its band and the open triangles of degenerate columns."""
    c = curve.sort_values("delta")
    ok = np.isfinite(c["rho_star"].to_numpy())
    line_kw = {"path_effects": OUTLINE} if outline else {}
    ax.plot(c["delta"][ok], c["rho_star"][ok], "o-", color=color, ms=3.5, lw=1.6, label=label,
            mec="0.15" if outline else color, **line_kw)
    if band:
        b = c[np.isfinite(c["ci_lo"]) & np.isfinite(c["ci_hi"])]
        if len(b):
            ax.fill_between(b["delta"], b["ci_lo"], b["ci_hi"], color=color, alpha=0.25, lw=0)
    up = c[c["flag"] == "all_success"]
    dn = c[c["flag"] == "all_failure"]
    edge = "0.15" if outline else color
    if len(up):
        ax.plot(up["delta"], up["rho_star_bound"], "^", color=color, mec=edge, ms=6, mfc="none")
    if len(dn):
        ax.plot(dn["delta"], dn["rho_star_bound"], "v", color=color, mec=edge, ms=6, mfc="none")


def draw_l1(ax):
    d, r = l1_weak_curve()
    ax.plot(d, r, **L1_STYLE)


def solver_colors(solvers):
    pal = sns.color_palette("tab10" if len(solvers) <= 10 else "husl", len(solvers))
    return {s: pal[i] for i, s in enumerate(sorted(solvers))}
