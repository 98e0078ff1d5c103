"""Tests of greedybench.report.render_report: one self-contained HTML page."""

import base64
import hashlib
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


# ------------------------------------------------------------------- what a reader sees (issue 17)


def _board(path, commit):
    pd.DataFrame({"rank": [1, 2, None, None], "solver": ["omp", "iht", "lista", "omp_oracle"],
                  "score": [0.9, 0.7, None, None], "git_commit": [commit] * 4}).to_csv(path, index=False)


def test_every_figure_and_its_data_download_from_the_page(figures, tmp_path):
    root, man = figures
    out = render_report(root / "figures" / "manifest.json", root / "site2" / "index.html", provenance={})
    html = out.read_text(encoding="utf-8")
    for f in man["figures"]:
        block = html.split(f'<figure id="fig-{f["id"]}">', 1)[1].split("</figure>", 1)[0]
        links = dict((name, href) for href, name in
                     re.findall(r'<a href="(data:[^"]+)" download="([^"]+)"', block))
        assert {f["file"], f["svg"]} | {s["path"].split("/")[-1] for s in f["sources"]} <= set(links), f["id"]
        assert base64.b64decode(links[f["svg"]].split(",", 1)[1]).lstrip().startswith(b"<?xml")
        for src in f["sources"]:
            data = base64.b64decode(links[src["path"].split("/")[-1]].split(",", 1)[1])
            assert hashlib.sha256(data).hexdigest() == src["sha256"]
        # the paths shown resolve from the page's folder
        for where in re.findall(r'title="([^"]+)"', block):
            assert (out.parent / where).is_file(), where
        source = re.search(r'<div class="trace">source: (\S+) ', block).group(1)
        assert (out.parent / source).is_file() and source.endswith(f["source_csv"]), source


def test_leaderboard_from_another_commit_says_so(figures, tmp_path):
    root, man = figures
    _board(tmp_path / "old.csv", "7df4ad077cdd38003e483eed5bf1b41a325f03d7")
    html = render_report(man, tmp_path / "a.html", provenance={"commit": "abcdef0123456789"},
                         leaderboard_csv=tmp_path / "old.csv").read_text(encoding="utf-8")
    note = re.search(r'<p class="notice" id="leaderboard-origin">(.*?)</p>', html, flags=re.S).group(1)
    assert "earlier commit (7df4ad077cdd)" in note and "abcdef012345" in note
    _board(tmp_path / "same.csv", "abcdef0123456789")
    html = render_report(man, tmp_path / "b.html", provenance={"commit": "abcdef0123456789"},
                         leaderboard_csv=tmp_path / "same.csv").read_text(encoding="utf-8")
    assert "computed at this report&#39;s commit" in html and "earlier commit" not in html


def test_absent_provenance_values_read_none(figures, tmp_path):
    _, man = figures
    html = render_report(man, tmp_path / "p.html", provenance={"cuda": None, "gpu": "", "commit": "c"}
                         ).read_text(encoding="utf-8")
    for key in ("cuda", "gpu"):
        assert re.search(rf"<tr><th>{key}</th><td>none</td></tr>", html), key


def test_summary_names_oracles_as_references(tmp_path):
    df = synthetic_results(solvers=(("omp", 0.8, 2e-3), ("omp_oracle", 0.95, 1e-5)), trials=6, seed=2)
    man = make_figures(df, tmp_path / "f", {"analysis": {"n_boot": 0}})
    html = render_report(man, tmp_path / "r.html", provenance={}).read_text(encoding="utf-8")
    line = re.search(r"<li>gauss_B: largest area under rho\*\(delta\): (.*?)</li>", html).group(1)
    assert line.startswith("omp ") and "oracle reference omp_oracle" in line
    n_drawn, n_skipped = map(int, re.search(r"(\d+) figures drawn, (\d+) not drawn", html).groups())
    assert n_drawn == len(man["figures"]) and n_skipped == len(man["skipped"])


def _chromium():
    import shutil

    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
                None)


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine (CI installs it)")
def test_report_in_headless_chromium_sorts_blanks_last_and_filters(figures, tmp_path):
    """The page's own scripts, run by Chromium: no script error, sorting the rank column descending
    keeps the unranked rows last, the solver filter shows only that solver's rows, and hovering a
    phase-diagram cell shows its counts."""
    import subprocess

    root, man = figures
    _board(tmp_path / "lb.csv", "0" * 40)
    html = render_report(man, tmp_path / "r.html", provenance={}, leaderboard_csv=tmp_path / "lb.csv"
                         ).read_text(encoding="utf-8")
    probe = """<script>
    window.addEventListener("error", function (e) { document.title = "ERROR " + e.message; });
    var t = document.getElementById("leaderboard-table"), th = t.querySelectorAll("th")[0];
    th.click(); th.click();
    var ranks = Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[0].getAttribute("data-v"); });
    var sel = document.querySelector('div.filters[data-for="summary-table-data"] select');
    sel.value = "omp"; sel.dispatchEvent(new Event("change"));
    var shown = Array.prototype.filter.call(document.getElementById("summary-table-data").tBodies[0].rows,
        function (r) { return r.style.display !== "none"; }).map(function (r) { return r.cells[0].textContent; });
    var img = document.querySelector("img[data-hover]"), g = JSON.parse(img.getAttribute("data-hover"))[0];
    var box = img.getBoundingClientRect();
    img.dispatchEvent(new MouseEvent("mousemove", {clientX: box.left + (g[0] + g[2]) / 2 * box.width,
                                                    clientY: box.top + (g[1] + g[3]) / 2 * box.height}));
    var tip = document.getElementById("hovertip");
    var out = document.createElement("pre"); out.id = "probe";
    out.textContent = JSON.stringify({ranks: ranks, shown: shown, title: document.title,
                                      tip: tip.style.display === "block" ? tip.textContent : null, want: g[4]});
    document.body.appendChild(out);
    </script></body>"""
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe), encoding="utf-8")
    res = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                          "--v=0", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Uncaught" not in res.stderr, res.stderr[-2000:]  # console errors of the page's scripts
    got = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, flags=re.S)
    assert got, res.stderr[-2000:]
    import html as _html
    import json

    state = json.loads(_html.unescape(got.group(1)))
    assert not state["title"].startswith("ERROR"), state["title"]
    assert state["ranks"][:2] == ["2.0", "1.0"] and state["ranks"][2:] == ["", ""], state["ranks"]
    assert state["shown"] and set(state["shown"]) == {"omp"}, state["shown"]
    # hovering a cell of a phase diagram shows that cell's counts
    assert state["tip"] == state["want"] and " succeeded at delta " in state["tip"], state


def test_every_in_page_link_resolves(figures, tmp_path):
    root, man = figures
    html = render_report(man, tmp_path / "l.html", provenance={}, leaderboard_csv=root / "leaderboard.csv"
                         ).read_text(encoding="utf-8")
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    targets = re.findall(r'href="#([^"]+)"', html)
    assert targets and set(targets) <= ids, set(targets) - ids
