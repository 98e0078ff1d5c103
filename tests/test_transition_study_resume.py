"""A killed transition job resumes (issue 14): the locations it finished stay in ``<job>.parts``,
the rerun locates only the missing ones and writes the same CSV, byte for byte, as an
uninterrupted run.

The kill is SIGKILL of the job's process group at the commit point of its third location's part
file (the storage fault hook ``GREEDYBENCH_FAULT=kill:<glob>``): no ``finally`` runs, the part is
left as a complete but unrenamed temporary, the job CSV is never written.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

import greedybench.pipeline.transitions as tr
from greedybench.registry import Variant, get_solver

GAUSS = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
DELTAS = [0.3, 0.5, 0.75]
JOB = {"entry": "omp", "params_json": Variant(get_solver("omp"), {}).params_json,
       "family_name": "gauss", "family": GAUSS, "sizes": [[32, DELTAS]],
       "protocol": {"probe_trials": 4, "n_points": 5, "point_trials": 4},
       "success": {"rule": "rel_l2", "threshold": 1e-2}, "trials_per_matrix": 4, "seed": 3,
       "device": "cpu", "dtype": "float64", "threads": 1}
CHILD = ("import json, sys\n"
         "from greedybench.pipeline.transitions import transitions_stage\n"
         "transitions_stage(sys.argv[1], **json.loads(sys.argv[2]))\n")


def _counting(monkeypatch):
    """Record the m of every location the stage computes (instead of reading back)."""
    calls, real = [], tr.locate_transition

    def locate(run, m, **kw):
        calls.append(m)
        return real(run, m, **kw)

    monkeypatch.setattr(tr, "locate_transition", locate)
    return calls


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "job.csv"
    tr.transitions_stage(out, **JOB)
    return out.read_bytes()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A job SIGKILLed while committing its third location (delta = 0.75)."""
    d = tmp_path_factory.mktemp("killed")
    env = {**os.environ, "GREEDYBENCH_FAULT": "kill:*/job.parts/N32-delta0.75-*.csv"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(d / "job.csv"), json.dumps(JOB)],
                          env=env, start_new_session=True, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    return d


def _copy(killed, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(killed, d)
    return d


def test_killed_job_keeps_finished_locations_only(killed):
    assert not (killed / "job.csv").exists()
    parts = tr.parts_dir(killed / "job.csv")
    done = sorted(p.name.split("-")[1] for p in parts.glob("N32-*.csv"))
    assert done == ["delta0.3", "delta0.5"]
    assert [p.name for p in parts.glob(".*.tmp-*")] != []           # the unrenamed third part


def test_rerun_computes_only_the_missing_location_and_matches(killed, reference, tmp_path,
                                                              monkeypatch):
    d = _copy(killed, tmp_path)
    calls = _counting(monkeypatch)
    df = tr.transitions_stage(d / "job.csv", **JOB)
    assert calls == [round(0.75 * 32)]                               # only delta = 0.75 located
    assert (d / "job.csv").read_bytes() == reference                 # identical to no kill
    assert sorted(set(df["delta"])) == DELTAS
    assert not tr.parts_dir(d / "job.csv").exists()                  # parts removed once done
    assert list(d.rglob(".*.tmp*")) == []


def test_parts_of_other_inputs_are_not_reused(killed, tmp_path, monkeypatch):
    d = _copy(killed, tmp_path)
    calls = _counting(monkeypatch)
    tr.transitions_stage(d / "job.csv", **{**JOB, "seed": 4})
    assert calls == [round(x * 32) for x in DELTAS]                  # every location recomputed


def test_uninterrupted_job_leaves_no_parts(reference, tmp_path):
    out = tmp_path / "job.csv"
    tr.transitions_stage(out, **JOB)
    assert out.read_bytes() == reference and not tr.parts_dir(out).exists()
