"""The HTML report: one self-contained page (figures embedded as data URIs, no external URL).

    from greedybench.report import render_report, collect_provenance
    render_report("results/figures/manifest.json", "results/report/index.html",
                  provenance=collect_provenance(config), leaderboard_csv=...)

The page is rendered with jinja2 from ``templates/index.html.j2``; section texts come from
``captions/sections.yaml``; figure captions come from the manifest written by
``greedybench.analysis.make_figures``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import numbers
import os
from pathlib import Path

import jinja2
import markupsafe
import pandas as pd
import yaml

from greedybench.analysis.summary import is_reference
from greedybench.storage import atomic_write_text, run_record

__all__ = ["render_report", "collect_provenance"]

_HERE = Path(__file__).resolve().parent
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SECTION_ORDER = [
    ("phase_success", "Phase diagrams: relative l2 success"),
    ("transitions_success", "50 % transition curves: relative l2 success"),
    ("phase_exact_support", "Phase diagrams: exact support recovery"),
    ("transitions_exact_support", "50 % transition curves: exact support recovery"),
    ("phase_success_linf", "Phase diagrams: relative l-inf success"),
    ("transitions_success_linf", "50 % transition curves: relative l-inf success"),
    ("selection_map", "Algorithm selection maps"),
    ("runtime", "Runtimes"),
    ("soft_vs_hard", "Soft vs hard algorithms (temperature sweep)"),
    ("training", "Trained unrolled nets"),
    ("learned_b1", "Learned solvers: the LISTA benchmark B1"),
    ("learned_transitions", "Learned solvers: phase transitions of the trained nets"),
]


# ------------------------------------------------------------------------------ provenance


def collect_provenance(config=None, *, device=None) -> dict:
    """Provenance of this process (:func:`greedybench.storage.run_record`)."""
    import torch  # slow to import: only when the provenance is collected here

    if device is None:
        device = f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return run_record(config, device=device)


# -------------------------------------------------------------------------------- helpers


def _nourl(value) -> markupsafe.Markup:
    """Escape, and break any "scheme://" so that the page holds no external URL."""
    text = str(markupsafe.escape("" if value is None else value))
    return markupsafe.Markup(text.replace("://", ":<wbr>//"))


def _table(csv_path) -> dict | None:
    if csv_path is None or not Path(csv_path).is_file():
        return None
    df = pd.read_csv(csv_path)
    rows = []
    for rec in df.itertuples(index=False):
        row = []
        for v in rec:
            if isinstance(v, (float, numbers.Real)) and not isinstance(v, (bool, numbers.Integral)):
                v = float(v)
                shown = "" if math.isnan(v) else f"{v:.4g}"
                row.append({"shown": shown, "sort": "" if math.isnan(v) else repr(v), "text": False})
            elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
                row.append({"shown": str(v), "sort": str(v), "text": False})
            else:
                row.append({"shown": str(v), "sort": str(v), "text": True})
        rows.append(row)
    return {"columns": [str(c) for c in df.columns], "rows": rows, "frame": df}


def _shown(value):
    """A provenance value as shown: "none" for an absent one (no CUDA, no GPU), never a blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return "none"
    return value


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _downloads(fig: dict, base: Path, out_html: Path) -> list:
    """The figure as PNG and SVG and each of its source CSVs, embedded as data URIs (the page stays one
    offline file); ``where`` is each file's path relative to the page, for readers of the folder."""
    items = []
    files = [(fig["file"], "image/png", "PNG")]
    if fig.get("svg"):
        files.append((fig["svg"], "image/svg+xml", "SVG"))
    files += [(src["path"], "text/csv", f"CSV {Path(src['path']).name} ({src.get('rows', '?')} rows)")
              for src in fig.get("sources", [])]
    for rel, mime, label in files:
        path = base / rel
        if not path.is_file():
            continue
        where = os.path.relpath(path.resolve(), out_html.resolve().parent)
        items.append({"href": _data_uri(path, mime), "name": Path(rel).name, "label": label,
                      "where": Path(where).as_posix(), "rel": rel})
    return items


def _short(commit) -> str:
    c = str(commit or "").strip()
    return c[:12] + ("-dirty" if c.endswith("-dirty") and len(c) > 12 else "") if c else ""


def _leaderboard_note(board: dict | None, commit) -> str | None:
    """Where the shown leaderboard comes from, visibly: the commit(s) it was computed at against this
    report's commit."""
    if board is None:
        return None
    df = board["frame"]
    col = next((c for c in ("git_commit", "commit") if c in df.columns), None)
    if col is None:
        return "The leaderboard CSV records no commit: its scores may come from other code than this report."
    at = sorted({str(c) for c in df[col].dropna().astype(str) if c.strip()})
    if not at:
        return "The leaderboard CSV records no commit: its scores may come from other code than this report."
    mine = str(commit or "").removesuffix("-dirty")
    if at == [mine] and not str(commit).endswith("-dirty"):
        return f"The leaderboard was computed at this report's commit ({_short(mine)})."
    return (f"This leaderboard was computed at an earlier commit ({', '.join(_short(c) for c in at)}), not at this "
            f"report's commit ({_short(commit) or 'unknown'}): it is the committed table, not a result of this run.")


def _filters(table: dict | None) -> list:
    """The columns a table can be filtered by (solver, family ...), with their values."""
    if table is None:
        return []
    df = table["frame"]
    out = []
    for col in ("solver", "entry", "family", "problem_class"):
        if col in df.columns and df[col].nunique() > 1:
            out.append({"column": list(df.columns).index(col), "name": col,
                        "values": sorted(map(str, df[col].dropna().unique()))})
    return out


def _normalise_provenance(prov: dict) -> dict:
    """Accept the pipeline's spelling too (git_commit, torch_version, host, processor ...)."""
    p = dict(prov)
    versions = dict(p.get("versions") or {})
    for key, dist in (("torch_version", "torch"), ("numpy_version", "numpy"),
                      ("greedybench_version", "greedybench"), ("snakemake_version", "snakemake"),
                      ("python", "python"), ("python_version", "python")):
        if key in p and not isinstance(p[key], dict):
            versions.setdefault(dist, str(p.pop(key)))
    if versions:
        p["versions"] = versions
    if "commit" not in p and "git_commit" in p:
        p["commit"] = p.pop("git_commit")
    if "machine" not in p and ("host" in p or "platform" in p):
        p["machine"] = " ".join(str(p.pop(k)) for k in ("host", "platform") if k in p)
    if "cpu" not in p and "processor" in p:
        p["cpu"] = f"{p.pop('processor')}" + (f", {p.pop('cpu_count')} logical cores"
                                              if "cpu_count" in p else "")
    if p.get("gpu") and "device" in p and "cuda" in str(p["device"]) and str(p["gpu"]) not in str(p["device"]):
        p["device"] = f"{p['device']} ({p.pop('gpu')})"
    return p


def _summary_lines(manifest, summary, leaderboard, n_figs, skipped, board_note=None) -> list[str]:
    res = manifest.get("results", {})
    lines = [f"Results table: {res.get('rows', '?')} problems."]
    if summary is not None:
        df = summary["frame"]
        lines.append(f"Solvers: {', '.join(sorted(map(str, df['solver'].unique())))}; problem "
                     f"classes: {', '.join(sorted(map(str, df['problem_class'].unique())))}.")
        if "auc_rho_star" in df.columns and df["auc_rho_star"].notna().any():
            for pclass, g in df.groupby("problem_class"):
                g = g.dropna(subset=["auc_rho_star"])
                if not len(g):
                    continue
                if "auc_delta_range" not in g.columns or g["auc_delta_range"].isna().all():
                    lines.append(f"{pclass}: a single delta, so no area under rho*(delta) (see its phase "
                                 "diagram).")
                    continue
                refs = g[[is_reference(s) for s in g["solver"]]]
                cand = g.drop(index=refs.index)
                if not len(cand):
                    continue
                best = cand.loc[cand["auc_rho_star"].idxmax()]
                extra = (f" ({best['auc_ratio_l1']:.2f} of the l1 area over delta "
                         f"{best['auc_delta_range']})" if "auc_ratio_l1" in g.columns
                         and pd.notna(best.get("auc_ratio_l1")) else "")
                ref = ("; oracle reference " + ", ".join(f"{r['solver']} {r['auc_rho_star']:.4g}"
                                                         for _, r in refs.iterrows()) if len(refs) else "")
                lines.append(f"{pclass}: largest area under rho*(delta): {best['solver']} "
                             f"{best['auc_rho_star']:.4g}{extra}{ref}.")
    if leaderboard is not None:
        lines.append(f"Leaderboard: {len(leaderboard['rows'])} entries. " + (board_note or ""))
    s = manifest.get("settings", {})
    if s:
        lines.append(f"Transition fits: logistic maximum likelihood per delta, {s.get('n_boot')} "
                     f"bootstrap resamples (seed {s.get('seed')}), {s.get('ci_level')} bands; "
                     f"selection maps use success rate >= {s.get('selection_min_rate')}.")
    lines.append(f"{n_figs} figures drawn, {len(skipped)} not drawn (listed at the end).")
    return lines


# ----------------------------------------------------------------------------- entry point


def render_report(manifest, out_html, *, provenance, leaderboard_csv=None, summary_csv=None):
    """Render the one-page HTML report and write it atomically to ``out_html``.

    Parameters
    ----------
    manifest : dict or path to manifest.json
        As returned or written by ``greedybench.analysis.make_figures``. Figure files are
        resolved against the manifest's folder (or its ``out_dir`` entry for a dict) and embedded
        as base64 data URIs, so the page works offline and on its own.
    out_html : path
    provenance : dict
        commit, config (dict or YAML text), machine, cpu, threads, device, versions (dict: torch,
        numpy, greedybench, snakemake, python ...), date. Missing keys are filled in from
        ``collect_provenance()``.
    leaderboard_csv, summary_csv : path, optional
        Tables shown sortable; ``summary_csv`` defaults to the manifest's summary.csv.

    Returns
    -------
    Path of the written page.
    """
    if isinstance(manifest, (str, os.PathLike)):
        base = Path(manifest).resolve().parent
        manifest = json.loads(Path(manifest).read_text(encoding="utf-8"))
    else:
        base = Path(manifest.get("out_dir", "."))
    out_html = Path(out_html)

    prov = _normalise_provenance(provenance or {})
    need = {"commit", "config", "machine", "cpu", "threads", "device", "versions", "date"}
    if need - set(prov):
        defaults = collect_provenance(prov.get("config"))
        for k in need - set(prov):
            prov[k] = defaults[k]
    versions = dict(prov.get("versions") or {})
    for dist in ("python", "torch", "numpy", "greedybench", "snakemake"):
        versions.setdefault(dist, "unknown")
    prov["versions"] = versions
    config = prov.get("config")
    config_yaml = config if isinstance(config, str) else yaml.safe_dump(
        config or {}, sort_keys=False, default_flow_style=False)
    prov_rows = [(k, prov[k]) for k in ("commit", "date", "machine", "cpu", "threads", "device")]
    prov_rows += [(f"version: {k}", v) for k, v in versions.items()]
    prov_rows += [(k, v) for k, v in prov.items() if k not in need]
    prov_rows = [(k, _shown(v)) for k, v in prov_rows]

    if summary_csv is None and manifest.get("summary_csv"):
        summary_csv = base / manifest["summary_csv"]
    summary = _table(summary_csv)
    leaderboard = _table(leaderboard_csv)
    board_note = _leaderboard_note(leaderboard, prov.get("commit"))

    texts = yaml.safe_load((_HERE / "captions" / "sections.yaml").read_text(encoding="utf-8")) or {}
    skipped = list(manifest.get("skipped", []))
    by_kind: dict[str, list] = {}
    for fig in manifest.get("figures", []):
        path = base / fig["file"]
        if not path.is_file():
            skipped.append({"id": fig.get("id", fig["file"]), "reason": f"file {fig['file']} missing"})
            continue
        data = path.read_bytes()
        if not data.startswith(_PNG_MAGIC):
            skipped.append({"id": fig.get("id", fig["file"]), "reason": "not a PNG file"})
            continue
        entry = dict(fig)
        entry["src"] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        entry.setdefault("title", fig.get("id", fig["file"]))
        entry["downloads"] = _downloads(fig, base, out_html)
        # the source as a path from the page's folder (the manifest's is relative to the figures folder)
        entry["source_where"] = next((d["where"] for d in entry["downloads"] if d["rel"] == fig.get("source_csv")),
                                     fig.get("source_csv"))
        by_kind.setdefault(fig.get("kind", "other"), []).append(entry)
    # a section whose inputs come from an optional run (the figure's skip entry names the command that
    # makes them) is shown when absent too, as one line saying so and how to make it
    absent = {}
    for s in skipped:
        if s.get("command") and not by_kind.get(s.get("kind")):
            absent.setdefault(s["kind"], {"reason": s["reason"], "command": s["command"]})
    sections = []
    known = [k for k, _ in _SECTION_ORDER]
    for kind, heading in _SECTION_ORDER + [(k, k.replace("_", " ").capitalize())
                                            for k in sorted(by_kind) if k not in known]:
        if by_kind.get(kind):
            sections.append({"anchor": f"sec-{kind}", "heading": heading,
                             "text": texts.get(kind, ""), "figures": by_kind[kind]})
        elif kind in absent:
            sections.append({"anchor": f"sec-{kind}", "heading": heading, "text": "", "figures": [],
                             "absent": absent[kind]})
    n_figs = sum(len(s["figures"]) for s in sections)

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["nourl"] = _nourl
    html = env.get_template("index.html.j2").render(
        title="greedybench results",
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        provenance=prov, provenance_rows=prov_rows, config_yaml=config_yaml,
        summary_lines=_summary_lines(manifest, summary, leaderboard, n_figs, skipped, board_note),
        leaderboard=leaderboard, board_note=board_note, summary_table=summary, texts=texts, sections=sections,
        filters={"leaderboard-table": _filters(leaderboard), "summary-table-data": _filters(summary)},
        skipped=skipped, results=manifest.get("results", {"path": "?", "rows": "?", "sha256": "?"}),
    )
    atomic_write_text(out_html, html)
    return out_html
