"""Reproducibility: two runs of config/tiny.yaml from scratch, in two temporary directories, give
byte-identical tables except the timing columns (and ``host``), byte-identical instance files, and
a report whose every figure traces back to the table rows it was drawn from.

The first run is the reference run of tests/test_faults.py (shared for the session).
"""

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from greedybench.pipeline.tables import TIMING_ONLY_COLUMNS
from test_faults import instance_files, pipeline_run, table_names

#: manifest figure kind -> the results.csv column it counts
PHASE_CRITERIA = {"phase_success": "success", "phase_exact_support": "exact_support",
                  "phase_success_linf": "success_linf"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return (pipeline_run(tmp_path_factory, "reference") / "results",
            pipeline_run(tmp_path_factory, "second") / "results")


def without_timing(path: Path) -> bytes:
    """The table's bytes with the timing-only columns dropped (cells are never re-formatted)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [j for j, c in enumerate(rows[0]) if c not in TIMING_ONLY_COLUMNS]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[r[j] for j in keep] for r in rows])
    return buf.getvalue().encode()


def read_rows(path: Path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.timeout(1800)
def test_tables_identical_except_timing(runs):
    a, b = runs
    assert table_names(a) == table_names(b)
    for name in table_names(a):
        assert without_timing(a / "tables" / name) == without_timing(b / "tables" / name), name
        assert len(read_rows(a / "tables" / name)) > 0, name
    dropped = [c for c in read_rows(a / "tables" / "results.csv")[0] if c in TIMING_ONLY_COLUMNS]
    assert dropped == ["time_per_problem_s", "host"]


def test_instance_and_model_files_byte_identical(runs):
    a, b = runs
    files_a, files_b = instance_files(a), instance_files(b)
    assert [p.relative_to(a) for p in files_a] == [p.relative_to(b) for p in files_b]
    assert len(files_a) == 9  # 2 phase slices x 3 rhos; train, val; test
    for pa, pb in zip(files_a, files_b):
        assert pa.read_bytes() == pb.read_bytes(), pa.relative_to(a)
    for manifest in (a / "instances").rglob("manifest.json"):
        assert manifest.read_bytes() == (b / manifest.relative_to(a)).read_bytes()
    for model in (a / "models").rglob("*.pt"):
        assert model.read_bytes() == (b / model.relative_to(a)).read_bytes(), model.relative_to(a)


def table_values(results: Path):
    """column name -> every value it takes in any table under results/tables/."""
    values = {}
    for name in table_names(results):
        for row in read_rows(results / "tables" / name):
            for col, v in row.items():
                values.setdefault(col, set()).add(v)
    return values


def test_every_figure_traces_to_its_rows(runs):
    from greedybench.analysis.figures import _csv_bytes, _read_table

    for results in runs:
        figures = results / "figures"
        manifest = json.loads((figures / "manifest.json").read_text())
        table = read_rows(results / "tables" / "results.csv")
        # the manifest names the results table it read, with the hash of its contents
        assert manifest["results"]["path"] == "results/tables/results.csv"
        assert manifest["results"]["rows"] == len(table)
        raw = _read_table(results / "tables" / "results.csv")
        assert manifest["results"]["sha256"] == hashlib.sha256(_csv_bytes(raw)).hexdigest()

        values = table_values(results)
        values["problem_class"] = {f"{r['experiment']}: {r['family']}" for r in table}
        # a key column of a figure's source -> the table columns its values must come from
        keys = {"solver": ("solver",), "winner": ("solver",), "method": ("solver", "entry"),
                "problem_class": ("problem_class",), "family": ("family",), "algorithm": ("pair", "algorithm"),
                "soft_solver": ("soft_solver",), "hard_solver": ("hard_solver",)}
        n_traced = 0
        assert manifest["figures"]
        for fig in manifest["figures"]:
            assert (figures / fig["file"]).stat().st_size > 0, fig["id"]
            assert fig["source_csv"] == fig["sources"][0]["path"]
            assert fig["source_sha256"] == fig["sources"][0]["sha256"]
            for src in fig["sources"]:
                path = figures / src["path"]
                assert sha256(path) == src["sha256"], (fig["id"], src["path"])
                rows = read_rows(path)
                assert len(rows) == src["rows"] > 0, (fig["id"], src["path"])
                for col in set(rows[0]) & set(keys):
                    allowed = set().union(*(values.get(c, set()) for c in keys[col])) | {"(none)"}
                    assert {r[col] for r in rows} <= allowed, (fig["id"], src["path"], col)
                    n_traced += 1
            if fig["kind"] in PHASE_CRITERIA:
                # every plotted cell recomputed from results.csv: trials and successes
                crit = PHASE_CRITERIA[fig["kind"]]
                key = ("solver", "problem_class", "m", "N", "s")
                full = [dict(r, problem_class=f"{r['experiment']}: {r['family']}") for r in table]
                n = Counter(tuple(r[k] for k in key) for r in full)
                ok = Counter(tuple(r[k] for k in key) for r in full if r[crit] == "True")
                for r in read_rows(figures / fig["source_csv"]):
                    cell = tuple(r[k] for k in key)
                    assert n[cell] > 0, (fig["id"], cell)
                    assert (int(r["n_trials"]), int(r["n_success"])) == (n[cell], ok[cell]), (fig["id"], cell)
        assert n_traced >= len(manifest["figures"])


def test_figure_sources_identical_except_runtime(runs):
    """Sidecar CSVs of every figure not drawn from timings are byte-identical between the runs."""
    a, b = (json.loads((r / "figures" / "manifest.json").read_text()) for r in runs)
    assert [f["id"] for f in a["figures"]] == [f["id"] for f in b["figures"]]
    for fa, fb in zip(a["figures"], b["figures"]):
        if fa["kind"] in ("runtime", "selection_map"):  # runtimes; the selection map breaks ties by time
            continue
        assert [s["sha256"] for s in fa["sources"]] == [s["sha256"] for s in fb["sources"]], fa["id"]
