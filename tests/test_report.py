"""Tests of greedybench.report.render_report: one self-contained HTML page."""

import base64
import re

import pandas as pd
import pytest

from greedybench.analysis import make_figures
from greedybench.analysis.synthetic import synthetic_results
from greedybench.report import collect_provenance, render_report


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    df = synthetic_results(trials=6, seed=2)
    df.to_csv(root / "results.csv", index=False)
    man = make_figures(root / "results.csv", root / "figures", {"analysis": {"n_boot": 20}})
    board = pd.DataFrame({"solver": ["omp", "iht"], "score": [0.9, 0.7], "url": ["x", "y"]})
    board.to_csv(root / "leaderboard.csv", index=False)
    return root, man


def _images(html):
    return re.findall(r'<img[^>]*\bsrc="([^"]+)"', html)


def test_report_is_self_contained(figures):
    root, man = figures
    prov = collect_provenance({"analysis": {"threshold": 1e-3},
                               "note": "see https://example.org/x and http://a.b"})
    out = render_report(root / "figures" / "manifest.json", root / "site" / "index.html",
                        provenance=prov, leaderboard_csv=root / "leaderboard.csv")
    html = out.read_text(encoding="utf-8")
    srcs = _images(html)
    assert len(srcs) == len(man["figures"]) > 0
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r"https?://", html, flags=re.I)
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    for f in man["figures"]:
        assert f["caption"][:60] in html.replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'")
    # summary table and leaderboard hold the solvers; tables are sortable
    tables = re.findall(r'<table class="data sortable" id="([^"]+)">(.*?)</table>', html, flags=re.S)
    assert {t[0] for t in tables} == {"leaderboard-table", "summary-table-data"}
    for _, body in tables:
        assert 'data-v="omp"' in body and 'data-v="iht"' in body
    assert "<script>" in html and "addEventListener" in html
    # provenance block
    for key in ("commit", "machine", "cpu", "threads", "device", "version: torch", "version: numpy",
                "version: greedybench", "version: snakemake", "version: python", "threshold: 0.001"):
        assert key in html
    assert not list(out.parent.glob(".*.tmp"))


def test_report_from_dict_with_partial_provenance(figures, tmp_path):
    root, man = figures
    out = render_report(man, tmp_path / "index.html", provenance={"commit": "abc123", "config": "a: 1\n"},
                        summary_csv=root / "figures" / "summary.csv")
    html = out.read_text(encoding="utf-8")
    assert "abc123" in html and "a: 1" in html
    assert len(_images(html)) == len(man["figures"])
    assert "Figures not drawn" in html  # extras were not given


def test_report_notes_missing_figure_file(figures, tmp_path):
    root, man = figures
    broken = dict(man)
    broken["figures"] = [dict(man["figures"][0], file="nope.png")] + man["figures"][1:]
    html = render_report(broken, tmp_path / "i.html", provenance={}).read_text(encoding="utf-8")
    assert len(_images(html)) == len(man["figures"]) - 1
    assert "nope.png missing" in html


def test_report_accepts_pipeline_provenance_keys(figures, tmp_path):
    root, man = figures
    prov = {"config_name": "smoke", "config": {"name": "smoke"}, "device": "cpu", "dtype": "float64",
            "torch_version": "9.9.9", "numpy_version": "8.8.8", "greedybench_version": "7.7.7",
            "git_commit": "deadbeef", "host": "box", "python": "3.11.7", "platform": "Linux-x",
            "processor": "x86_64", "cpu_count": 2, "cuda": None, "gpu": None}
    html = render_report(man, tmp_path / "p.html", provenance=prov).read_text(encoding="utf-8")
    for text in ("deadbeef", "9.9.9", "8.8.8", "7.7.7", "box Linux-x", "x86_64, 2 logical cores",
                 "config_name", "smoke"):
        assert text in html
