"""The text summary and the HTML page (``report.html``) of ``greedybench compare``.

The page is one self-contained file: the comparison (the solver's row with its neighbours, per
family) and the ranking as HTML tables, the user's rows named and highlighted, the tamper checks,
the fresh-seed check, and the provenance with the real versions of the tools
(:func:`tool_versions`, from the installed distributions).
"""

from __future__ import annotations

import datetime as _dt
import html
import importlib.metadata
import platform
from typing import Any, Dict, List, Optional, Sequence

from ..storage import atomic_write_text
from .grid import Grid

__all__ = ["tool_versions", "neighbours", "summary_text", "write_report"]


def tool_versions() -> Dict[str, str]:
    """python, torch, numpy, snakemake, greedybench versions (``not installed`` when missing)."""
    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "snakemake", "greedybench"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def neighbours(table: Sequence[Dict[str, str]], row: Dict[str, str]):
    """``(above, below)``: the ranked rows just above and below a ranked row (None at the ends)."""
    ranked = [r for r in table if r["rank"]]
    i = next(k for k, r in enumerate(ranked) if r["solver"] == row["solver"])  # by position: ranks may be shared
    return (ranked[i - 1] if i >= 1 else None), (ranked[i + 1] if i + 1 < len(ranked) else None)


def _why(r, above, below, fams) -> List[str]:
    why = []
    for other, word in ((above, "below"), (below, "above")):
        if other is None:
            continue
        if other["auc_mean"] == r["auc_mean"]:
            by_time = other["median_time_success_s"] != r["median_time_success_s"]
            why.append(f"tied with {other['solver']} on auc_mean {r['auc_mean']}, {word} it by "
                       + ("median time" if by_time else "name"))
        else:
            best = max(fams, key=lambda f: abs(float(r["auc_" + f] or 0) - float(other["auc_" + f] or 0)))
            why.append(f"{word} {other['solver']} by auc_mean {r['auc_mean']} vs {other['auc_mean']} "
                       f"(largest gap on {best}: {r['auc_' + best]} vs {other['auc_' + best]})")
    return why


def summary_text(table, own_names, grid: Grid, fams, notes: Sequence[str], stored_csv,
                 checks: Sequence[str] = ()) -> str:
    """The printed summary (also ``summary.txt``): rank, neighbours per family, why, checks, notes."""
    ranked = [r for r in table if r["rank"]]
    subset = ("the full official grid" if grid.is_full else
              f"a subset of it (families {', '.join(fams)}; deltas {', '.join(f'{d:g}' for d in grid.delta)})")
    lines = [f"Official leaderboard grid v{grid.version} ({grid.sha}), {subset}; "
             f"{len(ranked)} ranked solvers (score: area under rho*(delta), mean over families, with a "
             f"{grid.bootstrap['level']:.0%} paired-bootstrap interval; solvers a paired comparison on the same "
             "problems cannot separate share a rank)."]
    for r in table:
        if r["solver"] not in own_names:
            continue
        if not r["rank"]:
            lines.append(f"{r['solver']}: not ranked, status {r['status']}: {r['status_detail']}")
            continue
        above, below = neighbours(table, r)
        lines.append(f"{r['solver']} ranks {r['rank']} of {len(ranked)} (status {r['status']}"
                     + (f": {r['status_detail']}" if r["status_detail"] else "") + ").")
        if r.get("auc_mean_lo"):
            tied = [x["solver"] for x in ranked if x["rank"] == r["rank"] and x["solver"] != r["solver"]]
            lines.append(f"  auc_mean {r['auc_mean']} [{r['auc_mean_lo']}, {r['auc_mean_hi']}] "
                         f"({grid.bootstrap['level']:.0%} interval)"
                         + (f"; shares rank {r['rank']} with {', '.join(tied)} (not separated on these problems)"
                            if tied else ""))
        show = [x for x in (above, r, below) if x is not None]
        w = max(12, *(len(x["solver"]) for x in show))
        lines.append(f"  {'':<24}" + "".join(f"{('#' + x['rank'] + ' ' + x['solver'])[:w + 4]:>{w + 5}}" for x in show))
        for key in [f"auc_{f}" for f in fams] + ["auc_mean", "median_time_success_s"]:
            label = "median time/success (s)" if key == "median_time_success_s" else key
            lines.append(f"  {label:<24}" + "".join(f"{x.get(key) or '-':>{w + 5}}" for x in show))
        why = _why(r, above, below, fams)
        if why:
            lines.append("  why: " + "; ".join(why) + ".")
    lines += list(checks)
    lines += [f"note: {n}" for n in notes]
    if not grid.is_full:
        lines.append("note: scores on a subset are not comparable with the auc columns of "
                     f"{stored_csv}; they are recomputed for every solver from the stored rows of the same cells.")
    return "\n".join(lines)


_CSS = """body{font-family:sans-serif;max-width:75em;margin:1em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}
td.t,th.t{text-align:left}tr.mine{background:#ffe98a;font-weight:bold}.bad{color:#b00020;font-weight:bold}
.ok{color:#116611}code{background:#f3f3f3}"""


def _table_html(rows: Sequence[Dict[str, str]], columns: Sequence[str], own: set, table_id: str) -> str:
    e = html.escape
    head = "".join(f'<th class="t">{e(c)}</th>' if c in ("solver", "entry", "status", "status_detail")
                   else f"<th>{e(c)}</th>" for c in columns)
    body = []
    for r in rows:
        mine = r.get("solver") in own
        cells = []
        for c in columns:
            v = str(r.get(c, "") or "")
            if c == "solver" and mine:
                v += "  \u25c0 your solver"
            cls = ' class="t"' if c in ("solver", "entry", "status", "status_detail") else ""
            cells.append(f"<td{cls}>{e(v)}</td>")
        body.append(f'<tr{" class=mine" if mine else ""}>' + "".join(cells) + "</tr>")
    return f'<table id="{e(table_id)}"><thead><tr>{head}</tr></thead><tbody>' + "\n".join(body) + "</tbody></table>"


def write_report(path, *, name: str, solver_file, table, own_names, grid: Grid, fams, summary: str,
                 checks: Sequence[str], seed_results: Optional[List[Dict[str, Any]]], provenance: Dict[str, Any],
                 n_problems: int) -> None:
    """Write ``report.html``: the solver named in the title, its rows highlighted, tables as tables."""
    e = html.escape
    own = set(own_names)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>greedybench compare: {e(name)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>greedybench compare: <code>{e(name)}</code></h1>",
             f"<p>Solver file <code>{e(str(solver_file))}</code>, ranked on the official leaderboard grid "
             f"v{grid.version} (<code>{e(grid.sha)}</code>), {n_problems} problems solved. Your rows are "
             "highlighted.</p>"]
    cols = ["rank", "solver"] + [f"auc_{f}" for f in fams] + ["auc_mean", "median_time_success_s"]
    for r in table:
        if r["solver"] not in own:
            continue
        parts.append(f"<h2>{e(r['solver'])}: " + (f"rank {e(r['rank'])} of {sum(1 for x in table if x['rank'])}"
                                                     if r["rank"] else f"not ranked ({e(r['status'])})") + "</h2>")
        if r["rank"]:
            above, below = neighbours(table, r)
            parts.append(_table_html([x for x in (above, r, below) if x is not None], cols, own,
                                     f"comparison-{r['solver']}"))
            why = _why(r, above, below, fams)
            if why:
                parts.append("<p>Why: " + e("; ".join(why)) + ".</p>")
        parts.append(f"<p>Status <b>{e(r['status'])}</b>" + (f": {e(r['status_detail'])}" if r["status_detail"] else "")
                     + "</p>")
    flag = {True: "bad", False: "ok"}
    parts.append("<h2>Checks</h2><ul>" + "".join(
        f"<li class='{flag['MODIFIED' in c or 'DISAGREES' in c]}'>{e(c)}</li>" for c in checks) + "</ul>")
    if seed_results:
        parts.append("<h2>Fresh-seed check</h2>")
        parts.append(_table_html([{k: (f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in s.items()}
                                  for s in seed_results],
                                 ["solver", "seed", "stored", "fresh", "lo", "hi", "agree", "method"], own,
                                 "seed-check"))
    parts.append("<h2>Ranking</h2>")
    parts.append(_table_html(table, list(table[0].keys()) if table else cols, own, "leaderboard-table"))
    parts.append("<h2>Summary</h2><pre>" + e(summary) + "</pre>")
    prov = dict(provenance)
    prov["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    rows = [{"key": k, "value": v} for k, v in prov.items() if k != "versions"]
    rows += [{"key": f"version: {k}", "value": v} for k, v in prov.get("versions", {}).items()]
    parts.append("<h2>Provenance</h2>" + _table_html(rows, ["key", "value"], set(), "provenance"))
    parts.append("</body></html>\n")
    atomic_write_text(path, "\n".join(parts))
