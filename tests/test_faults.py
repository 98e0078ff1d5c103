"""Faults: the tiny pipeline killed at deterministic points, restarted, gives the reference results.

One reference run of config/tiny.yaml (uninterrupted, in a temporary directory) is shared by the
tests of this module and of tests/test_reproducibility.py (``pipeline_run`` caches it for the
session). Kill points (docs/reliability.md, "Faults and reproducibility"):

1. while an instance slice is being written (``GREEDYBENCH_FAULT=kill:...`` at the commit point of
   its manifest: the .npz files are in the temporary slice directory, nothing renamed yet);
2. as soon as the first solve CSV appears (the test watches the file system and SIGKILLs the
   process group of Snakemake and its jobs, whatever the other job is doing);
3. while tables/results.csv is being written (merge; temporary file complete, not renamed);
4. while results/figures is being committed (every PNG drawn in the temporary directory);
5. while the report job runs (as soon as its log file appears);
then a plain restart finishes. After each kill the restart is ``snakemake --unlock`` (a SIGKILL
leaves Snakemake's lock behind) and the same command again with the local profile
(``rerun-incomplete``). Then: a truncated instance file is refused by its checksum, not trusted;
stray temporary files are ignored, and removed when their target is written again.

Every kill here is SIGKILL of the whole process group, so no ``finally`` or signal handler runs.
"""

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greedybench.pipeline.config import CONFIG_DIR, REPO
from greedybench.pipeline.tables import TIMING_ONLY_COLUMNS

TINY = CONFIG_DIR / "tiny.yaml"
TABLES = ("results.csv", "timing.csv", "soft_vs_hard.csv")  # at least these
RUN_TIMEOUT = 900  # seconds for one snakemake call (a full tiny run is about a minute on 2 cores)

_RUNS = {}  # name -> workdir of a finished uninterrupted run, shared with test_reproducibility.py


# ------------------------------------------------------------------------------------- helpers


def tiny_missing():
    import yaml

    from greedybench.registry import discover

    cfg = yaml.safe_load(TINY.read_text())
    entries = discover(refresh=True)
    names = set(cfg["solvers"]) | {p[r] for p in cfg["soft_vs_hard"]["pairs"] for r in ("soft", "hard")}
    return sorted(n for n in names if n not in entries or not entries[n].available)


def snakemake(workdir: Path, *args, fault=None, kill_when=None, log_name="snakemake.out"):
    """Run the tiny pipeline in ``workdir`` in a new process group; returns (rc, output, killed).

    ``fault`` sets GREEDYBENCH_FAULT for the run; ``kill_when(workdir)`` is polled every 20 ms and,
    once true, the whole process group (Snakemake and its jobs) gets SIGKILL.
    """
    cmd = [sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "Snakefile"), "--workflow-profile",
           str(REPO / "profiles" / "local"), "--cores", "2", "--configfile", str(TINY)]  # last: nargs="+"
    env = {k: v for k, v in os.environ.items() if k != "GREEDYBENCH_FAULT"}
    if fault:
        env["GREEDYBENCH_FAULT"] = fault
    log = workdir / log_name
    killed = False
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while proc.poll() is None:
                if kill_when is not None and kill_when(workdir):
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    proc.wait()
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"snakemake {' '.join(args)} did not finish in {RUN_TIMEOUT} s")
                time.sleep(0.02)
        finally:
            try:  # nothing of this run may outlive it (jobs share its process group)
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    return proc.returncode, log.read_text(), killed


def restart(workdir: Path, **kw):
    """What an operator does after a hard kill: release the stale lock, run the same command again."""
    rc, out, _ = snakemake(workdir, "--unlock", log_name="unlock.out")
    assert rc == 0, out[-3000:]
    return snakemake(workdir, **kw)


def pipeline_run(tmp_path_factory, name: str) -> Path:
    """An uninterrupted tiny run from scratch, once per session and name."""
    if name not in _RUNS:
        missing = tiny_missing()
        if missing:
            pytest.skip(f"solver entries of tiny.yaml not available yet: {', '.join(missing)}")
        workdir = tmp_path_factory.mktemp(f"run-{name}")
        rc, out, _ = snakemake(workdir)
        assert rc == 0, out[-5000:]
        _RUNS[name] = workdir
    return _RUNS[name]


def comparable(path: Path):
    """A table as rows of text cells without the columns allowed to differ between runs."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [j for j, c in enumerate(rows[0]) if c not in TIMING_ONLY_COLUMNS]
    return [[r[j] for j in keep] for r in rows]


def table_names(results: Path):
    """Every merged table of the run (results, timing, soft_vs_hard, ... as configured)."""
    names = sorted(p.relative_to(results / "tables").as_posix() for p in (results / "tables").rglob("*.csv")
                   if not p.name.startswith("."))
    assert set(TABLES) <= set(names), names
    return names


def assert_same_tables(results: Path, reference: Path):
    assert table_names(results) == table_names(reference)
    for name in table_names(reference):
        got, want = comparable(results / "tables" / name), comparable(reference / "tables" / name)
        assert got[0] == want[0], f"{name}: columns differ"
        assert len(got) == len(want), f"{name}: {len(got) - 1} rows, reference {len(want) - 1}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"{name} row {i}: differs from the reference\n{g}\n{w}"


def temp_files(results: Path):
    """Temporary names of io.py, save_instance, figures and the report (all start with '.')."""
    return sorted(str(p.relative_to(results)) for p in results.rglob(".*")
                  if ".tmp" in p.name or p.name.endswith(".tmp"))


def instance_files(results: Path):
    return sorted(p for p in (results / "instances").rglob("*.npz") if not any(
        part.startswith(".") for part in p.relative_to(results).parts))


def assert_instances_load(results: Path):
    """Every finished instance slice has its manifest, and every file in it passes its checksum."""
    from greedybench.datasets import load_instance
    from greedybench.pipeline.generate import read_manifest

    slices = sorted({p.parent for p in instance_files(results)})
    for sl in slices:
        listed = sorted(item["file"] for item in read_manifest(sl)["instances"])
        assert listed == sorted(p.name for p in sl.glob("*.npz")), sl
    for path in instance_files(results):
        load_instance(path)  # raises InstanceFileError on any damage
    return slices


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return pipeline_run(tmp_path_factory, "reference") / "results"


# --------------------------------------------------------------- atomic writes, no pipeline


def test_injected_failure_before_commit_leaves_nothing(tmp_path, monkeypatch):
    from greedybench.storage import atomic_dir, write_csv

    monkeypatch.setenv("GREEDYBENCH_FAULT", "raise:*/rows.csv")
    with pytest.raises(RuntimeError, match="GREEDYBENCH_FAULT"):
        write_csv(tmp_path / "rows.csv", ["a"], [{"a": 1}])
    write_csv(tmp_path / "other.csv", ["a"], [{"a": 1}])  # a target that does not match is written
    monkeypatch.setenv("GREEDYBENCH_FAULT", "raise:*/slice")
    with pytest.raises(RuntimeError, match="GREEDYBENCH_FAULT"):
        with atomic_dir(tmp_path / "slice") as tmp:
            (tmp / "x.npz").write_bytes(b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    from greedybench.storage import atomic_dir, write_csv

    dead, alive = dead_pid(), os.getppid()
    (tmp_path / f".rows.csv.tmp-{dead}").write_text("half a table")
    (tmp_path / f".rows.csv.tmp-{alive}").write_text("another writer, still running")
    (tmp_path / f".slice.tmp-{dead}-abcd").mkdir()
    (tmp_path / f".slice.tmp-{dead}-abcd" / "rho0.1.npz").write_bytes(b"half an instance")
    write_csv(tmp_path / "rows.csv", ["a"], [{"a": 1}])
    with atomic_dir(tmp_path / "slice") as tmp:
        (tmp / "manifest.json").write_text("{}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f".rows.csv.tmp-{alive}", "rows.csv", "slice"]


def test_damaged_instance_file_is_refused(tmp_path):
    from greedybench.datasets import InstanceFileError, load_instance
    from greedybench.pipeline.generate import generate_phase_slice

    fam = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
    sl = generate_phase_slice(tmp_path / "slice", family_name="gauss", family=fam, N=32, delta=0.5, seed=1,
                              cells=[(0.2, 16, 3)], trials=4, sigma=0.0, dtype="float64")
    path = sl / "rho0.2.npz"
    good = path.read_bytes()
    load_instance(path)
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0x01  # one bit inside the array data, same size
    path.write_bytes(bytes(damaged))
    with pytest.raises(InstanceFileError, match="checksum mismatch|corrupt|unreadable"):
        load_instance(path)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(InstanceFileError, match="truncated or corrupt"):
        load_instance(path)


# ------------------------------------------------------------------------ the pipeline, killed


def _exists(pattern):
    def check(workdir):
        return any(not any(part.startswith(".") for part in p.relative_to(workdir).parts)
                   for p in workdir.glob(pattern))
    return check


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_killed_at_five_points_then_restarted_gives_the_reference(tmp_path, reference):
    results = tmp_path / "results"
    tables = results / "tables"

    # 1. SIGKILL while the first phase slice is written: its .npz files exist, only under the
    #    temporary name; no finished slice lacks its manifest
    rc, out, _ = snakemake(tmp_path, fault="kill:*instances/phase/*/manifest.json")
    assert rc == -signal.SIGKILL, out[-3000:]
    partial = list((results / "instances" / "phase").glob("*/.*.tmp-*/*.npz"))
    assert partial, temp_files(results)
    assert_instances_load(results)
    assert not (tables / "results.csv").exists()

    # 2. SIGKILL as soon as the first solve CSV is there (the other job is wherever it is)
    rc, out, killed = restart(tmp_path, kill_when=_exists("results/runs/**/*.csv"))
    assert killed, out[-3000:]
    assert_instances_load(results)
    assert not (tables / "results.csv").exists()

    # 3. SIGKILL while tables/results.csv is written: the temporary is complete, never renamed
    rc, out, _ = restart(tmp_path, fault="kill:*tables/results.csv")
    assert rc == -signal.SIGKILL, out[-3000:]
    assert not (tables / "results.csv").exists()
    assert list(tables.glob(".results.csv.tmp-*")), temp_files(results)

    # 4. SIGKILL while results/figures is committed: every figure drawn, the directory not renamed
    rc, out, _ = restart(tmp_path, fault="kill:*results/figures")
    assert rc == -signal.SIGKILL, out[-3000:]
    assert (tables / "results.csv").exists() and not (results / "figures").exists()
    assert list(results.glob(".figures.tmp-*/manifest.json")), temp_files(results)

    # 5. SIGKILL while the report job runs
    rc, out, killed = restart(tmp_path, kill_when=_exists("results/logs/report.log"))
    assert killed, out[-3000:]
    assert not (results / "report" / "index.html").exists()

    # the restart finishes: the reference tables, no temporary left, every instance verified
    rc, out, _ = restart(tmp_path)
    assert rc == 0, out[-5000:]
    assert_same_tables(results, reference)
    assert temp_files(results) == []
    assert_instances_load(results)
    assert [sha256(p) for p in instance_files(results)] == [sha256(p) for p in instance_files(reference)]
    assert (results / "report" / "index.html").stat().st_size > 0
    rc, out, _ = snakemake(tmp_path, "-n")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_damaged_instance_is_refused_and_stray_temporaries_are_ignored(tmp_path, reference):
    workdir = tmp_path / "run"
    shutil.copytree(reference.parent, workdir, symlinks=True)  # copy2: mtimes kept
    results = workdir / "results"
    slice_dir = results / "instances" / "phase" / "gauss" / "N32_delta0.5_seed1"
    victim = slice_dir / "rho0.2.npz"
    rows = results / "runs" / "phase" / "omp" / "gauss" / "N32_delta0.5_seed1.csv"

    # truncate a finished instance file, then run a job that reads it (as a changed solver or a
    # new one would): the solve job refuses the file instead of computing rows from it. (Snakemake
    # itself goes by the slice's timestamp: a run that reads nothing of the slice does not notice.)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    rows.unlink()
    rc, out, _ = snakemake(workdir, str(rows.relative_to(workdir)))
    assert rc != 0, out[-3000:]
    text = (results / "logs" / "solve" / rows.relative_to(results / "runs").with_suffix(".log")).read_text()
    assert "InstanceFileError" in text and "rho0.2.npz" in text, text[-3000:]
    assert not rows.exists()

    # stray temporaries as a killed run leaves them (dead writer), with plausible contents
    dead = dead_pid()
    strays = {
        "rewritten": [results / "tables" / f".results.csv.tmp-{dead}",
                      results / "instances" / "phase" / "gauss" / f".N32_delta0.5_seed1.tmp-{dead}-stray"],
        "untouched": [results / "runs" / "phase" / "omp" / "gauss" / f".N32_delta0.75_seed1.csv.tmp-{dead}",
                      results / "instances" / "phase" / "gauss" / "N32_delta0.75_seed1" / f".rho0.1.npz.x{dead}.tmp"],
    }
    shutil.copy(results / "tables" / "results.csv", strays["rewritten"][0])
    shutil.copytree(slice_dir, strays["rewritten"][1])
    (strays["rewritten"][1] / "rho0.1.npz").write_bytes(b"garbage")
    strays["untouched"][0].write_text("garbage,\n")
    strays["untouched"][1].write_bytes(b"garbage")
    # a solve job that reads the slice holding a stray temporary runs again
    next(results.glob("runs/phase/iht*/gauss/N32_delta0.75_seed1.csv")).unlink()

    # recovery: regenerate the damaged slice (same seed, same bytes), then the plain command
    rc, out, _ = snakemake(workdir, "--force", str(slice_dir.relative_to(workdir)))
    assert rc == 0, out[-5000:]
    assert victim.read_bytes() == (reference / victim.relative_to(results)).read_bytes()
    rc, out, _ = snakemake(workdir)
    assert rc == 0, out[-5000:]
    assert_same_tables(results, reference)
    assert_instances_load(results)
    assert not any(p.exists() for p in strays["rewritten"])  # removed when their target was written
    assert all(p.exists() for p in strays["untouched"])  # ignored: never read, never merged
