"""The pipeline on Slurm, through Snakemake's executor plugin, on a local one-node cluster.

A module fixture starts the cluster with scripts/local_slurm.sh (own state directory, free
loopback ports) and stops it at the end. The repository is snapshot once; every run works in a
throwaway copy of that snapshot, so results/ of the working tree is never touched and edits made
to the tree meanwhile cannot make two runs differ:

* local reference run: ``snakemake --cores all --configfile CONFIG``;
* Slurm run: ``snakemake --executor slurm --profile profiles/slurm-test --configfile CONFIG``;
  every solve job (and every other non-local job) must have been a Slurm job that Slurm reports
  COMPLETED, with its log under .snakemake/slurm_logs, and every result table (CSV/TSV under
  results/) must equal the local one in all columns but timing and host columns;
* interrupted run: in a copy of the finished Slurm run, the workflow runs again with two solve
  jobs forced (--forcerun); one of them is scancel'ed while it runs, so that run fails;
  re-running the workflow redoes only the cancelled job (and what depends on it) and ends with
  the same tables.

Two workflows: ``toy`` (a small Snakefile written here, shaped like the pipeline: instances ->
solve -> table; it checks the profile, the cluster script and this harness on their own, and runs
only while the pipeline is absent or with GREEDYBENCH_SLURM_TEST_TOY=1) and ``tiny`` (the
repository's Snakefile with config/tiny.yaml, or GREEDYBENCH_SLURM_TEST_CONFIG).

Needs the Debian packages slurm-wlm and munge, and root (the daemons run as the invoking user,
and the script links /etc/slurm/slurm.conf). Run with: ``pytest -m cluster tests/test_slurm.py``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "local_slurm.sh"
TEST_PROFILE = "profiles/slurm-test"
SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scancel", "scontrol", "srun")
MISSING = [b for b in SLURM_BINARIES if shutil.which(b) is None]

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"Slurm is not installed (missing {', '.join(MISSING)}): apt-get install -y slurm-wlm munge",
    ),
    pytest.mark.skipif(
        hasattr(os, "geteuid") and os.geteuid() != 0,
        reason="the local Slurm test cluster needs root (it links /etc/slurm/slurm.conf)",
    ),
]

RUN_TIMEOUT_S = 900  # one snakemake invocation (the tiny config takes ~7 min on Slurm on 2 cores)
# The repository config the `tiny` workflow runs (a path relative to the repository, or absolute).
TINY_CONFIG = os.environ.get("GREEDYBENCH_SLURM_TEST_CONFIG", "config/tiny.yaml")
# Columns allowed to differ between two runs of one config (docs/architecture.md: timing and
# host). Timing shows up as *time*, as seconds (median_s, iqr_s, min_s) and in what is computed
# from times (speedup, ratio, throughput, the fastest solver of a cell: winner); also Slurm job
# ids and process ids, which a table might record as provenance.
VOLATILE_COLUMN = re.compile(
    r"time|timing|elapsed|duration|wall|_s$|per_s|speedup|ratio|throughput|winner|fastest"
    r"|host|node|slurm|jobid|job_id|pid|date|stamp",
    re.IGNORECASE,
)
# A table with one of these columns picks rows by speed (the fastest solver of a cell): its other
# columns (the winner's success rate, ...) follow the timing, so only its shape is compared.
TIMING_SELECTED = re.compile(r"^(winner|fastest|best_solver)$", re.IGNORECASE)
TABLE_SUFFIXES = (".csv", ".tsv")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", re.M)
SOLVE_RULE = re.compile(r"solve", re.IGNORECASE)

# --------------------------------------------------------------------------------------------
# the toy workflow: instances -> solve (per solver and seed, a per-job CSV) -> table

TOY_SNAKEFILE = r'''
import os, random, socket, time

SOLVERS = config["solvers"]
SEEDS = config["seeds"]
localrules: all

rule all:
    input: "results/tables/all.csv"

rule instances:
    output: "results/instances/{seed}.txt"
    threads: 1
    resources: mem_mb=200, runtime=5
    run:
        rng = random.Random(int(wildcards.seed))
        with open(output[0], "w") as f:
            f.write(",".join(repr(rng.random()) for _ in range(8)))

rule solve:
    input: "results/instances/{seed}.txt"
    output: "results/runs/{solver}/{seed}.csv"
    threads: 1
    resources: mem_mb=300, runtime=5
    run:
        t0 = time.perf_counter()
        xs = [float(v) for v in open(input[0]).read().split(",")]
        time.sleep(float(config["solve_seconds"]))  # long enough to be caught running
        value = sum(x * x for x in xs) * (1 + SOLVERS.index(wildcards.solver))
        with open(output[0], "w") as f:
            f.write("solver,seed,value,time_per_problem_s,host,slurm_job_id\n")
            f.write(f"{wildcards.solver},{wildcards.seed},{value!r},{time.perf_counter() - t0},"
                    f"{socket.gethostname()},{os.environ.get('SLURM_JOB_ID', '')}\n")

rule table:
    input: expand("results/runs/{solver}/{seed}.csv", solver=SOLVERS, seed=SEEDS)
    output: "results/tables/all.csv"
    threads: 1
    resources: mem_mb=200, runtime=5
    shell: "(head -n1 {input[0]}; for f in {input}; do tail -n +2 $f; done) > {output}"
'''

TOY_CONFIG = "solvers: [omp, iht]\nseeds: [0]\nsolve_seconds: 3\n"


def _make_toy(dest: Path) -> None:
    dest.mkdir(parents=True)
    (dest / "Snakefile").write_text(TOY_SNAKEFILE)
    (dest / "config").mkdir()
    (dest / "config" / "tiny.yaml").write_text(TOY_CONFIG)
    shutil.copytree(REPO / TEST_PROFILE, dest / TEST_PROFILE)


def _copy_repo(dest: Path) -> None:
    """Tracked and untracked-not-ignored files plus .git (so provenance such as the git commit is
    the same in every copy); results/ outputs, .snakemake/ and caches stay behind."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, check=True, capture_output=True,
        ).stdout.decode()
        files = [f for f in listed.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files is None:
        ignore = shutil.ignore_patterns(".snakemake", "__pycache__", ".pytest_cache", "*.egg-info")
        shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
        shutil.rmtree(dest / "results", ignore_errors=True)
        return
    dest.mkdir(parents=True)
    for rel in files:
        src = REPO / rel
        if not src.is_file():
            continue  # deleted in the working tree but still in the index
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    if (REPO / ".git").is_dir():
        shutil.copytree(REPO / ".git", dest / ".git", symlinks=True)


WORKFLOWS = {
    # name: (make a fresh copy at a path, config file relative to that copy)
    "toy": (_make_toy, "config/tiny.yaml"),
    "tiny": (_copy_repo, TINY_CONFIG),
}


def _workflow_available(name: str) -> str | None:
    if name == "tiny":
        missing = [p for p in ("Snakefile", TINY_CONFIG, TEST_PROFILE) if not (REPO / p).exists()]
        if missing:
            return f"the pipeline is not there yet (missing {', '.join(missing)})"
    return None


# --------------------------------------------------------------------------------------------
# cluster


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    """Start the local cluster; yield the environment for Snakemake and Slurm clients."""
    state = tmp_path_factory.mktemp("greedybench-slurm")
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SRUN_"))]:
        env.pop(var)
    ctld_port = _free_port()
    slurmd_port = _free_port()
    while slurmd_port == ctld_port:
        slurmd_port = _free_port()
    env.update(
        GREEDYBENCH_SLURM_DIR=str(state),
        GREEDYBENCH_SLURM_CTLD_PORT=str(ctld_port),
        GREEDYBENCH_SLURM_SLURMD_PORT=str(slurmd_port),
        SLURM_CONF=str(state / "etc" / "slurm.conf"),
    )
    t0 = time.monotonic()
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=180)
    try:
        assert started.returncode == 0, f"local_slurm.sh start failed:\n{started.stdout}\n{started.stderr}"
        print(f"local Slurm up in {time.monotonic() - t0:.1f}s\n{started.stdout}")
        yield env
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        print(stopped.stdout, stopped.stderr)


def _slurm(env, *args: str) -> str:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=60).stdout


def _job_state(env, jobid: str) -> str:
    out = _slurm(env, "scontrol", "show", "job", "-o", jobid)
    m = re.search(r"\bJobState=(\S+)", out)
    return m.group(1) if m else "UNKNOWN"


# --------------------------------------------------------------------------------------------
# running snakemake


def _snakemake_cmd(configfile: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--configfile", configfile, "--nocolor", *extra]


def _local_cmd(configfile: str) -> list[str]:
    return _snakemake_cmd(configfile, "--cores", "all")


def _slurm_cmd(configfile: str) -> list[str]:
    return _snakemake_cmd(configfile, "--executor", "slurm", "--profile", TEST_PROFILE)


def _run(cmd, cwd: Path, env, log: Path, expect_ok: bool = True) -> tuple[int, str, float]:
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S)
    elapsed = time.monotonic() - t0
    text = log.read_text()
    if expect_ok:
        assert proc.returncode == 0, f"{' '.join(cmd)} failed in {cwd} (rc {proc.returncode}):\n{text[-6000:]}"
    print(f"[{elapsed:6.1f}s] rc={proc.returncode} {' '.join(cmd[2:])} (cwd {cwd.name})")
    return proc.returncode, text, elapsed


def _job_stats(log_text: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running: rule -> number of jobs."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+\d+", log_text, re.S)
    assert m, "no 'Job stats' table in the Snakemake log"
    stats = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return stats


def _submissions(log_text: str) -> list[tuple[str, str, Path]]:
    """(rule, Slurm job id, Slurm log path) of every job the run submitted."""
    out = []
    for _snakemake_id, slurm_id, logpath in SUBMITTED.findall(log_text):
        m = re.search(r"/(?:rule|group)_([^/]+)/", logpath)
        assert m, f"cannot tell the rule from the Slurm log path {logpath}"
        out.append((m.group(1), slurm_id, Path(logpath)))
    return out


def _local_rules(log_text: str) -> set[str]:
    return set(re.findall(r"^localrule (\w+):", log_text, re.M))


def _tables(root: Path) -> dict[str, list[tuple]]:
    """Every result table under results/, as sorted rows without volatile columns."""
    tables = {}
    for path in sorted((root / "results").rglob("*")):
        if not path.is_file() or path.suffix not in TABLE_SUFFIXES:
            continue
        rel = str(path.relative_to(root))
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))
        if not rows:
            tables[rel] = []
            continue
        header, body = rows[0], rows[1:]
        if any(TIMING_SELECTED.match(col) for col in header):
            tables[rel] = [tuple(header), len(body)]
            continue
        keep = [i for i, col in enumerate(header) if not VOLATILE_COLUMN.search(col)]
        tables[rel] = [tuple(header[i] for i in keep)] + sorted(
            tuple(row[i] if i < len(row) else "" for i in keep) for row in body
        )
    return tables


def _assert_same_tables(got: dict, want: dict, what: str) -> None:
    assert want, "the local run wrote no result tables under results/"
    assert sorted(got) == sorted(want), f"{what}: other set of result tables than the local run"
    for rel in want:
        if got[rel] != want[rel]:
            diff = [(a, b) for a, b in zip(got[rel], want[rel]) if a != b][:3]
            pytest.fail(f"{what}: {rel} differs from the local run (ignoring timing/host columns): "
                        f"{len(got[rel])} vs {len(want[rel])} rows; first differing rows (slurm, local): {diff}")


# --------------------------------------------------------------------------------------------
# shared runs (module scope: the repository is snapshot once, so that edits made to the working
# tree while the tests run cannot make the local and the Slurm runs differ)


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)  # copy2 keeps mtimes: no spurious reruns


@pytest.fixture(scope="module")
def runs(tmp_path_factory, slurm_env):
    """Per workflow, computed once: a snapshot, then the local reference run and the Slurm run,
    side by side (the Slurm run spends much of its time waiting between dependency levels)."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            make, configfile = WORKFLOWS[name]
            snapshot = tmp_path_factory.mktemp(f"{name}-snapshot") / "repo"
            make(snapshot)
            local_root = tmp_path_factory.mktemp(f"{name}-local") / "repo"
            slurm_root = tmp_path_factory.mktemp(f"{name}-slurm") / "repo"
            _copy_tree(snapshot, local_root)
            _copy_tree(snapshot, slurm_root)
            slurm_log = slurm_root.parent / "slurm.log"
            t0 = time.monotonic()
            with open(slurm_log, "w") as fh:
                proc = subprocess.Popen(_slurm_cmd(configfile), cwd=slurm_root, env=slurm_env,
                                        stdout=fh, stderr=subprocess.STDOUT)
            try:
                _, local_text, _ = _run(_local_cmd(configfile), local_root, slurm_env, local_root.parent / "local.log")
                rc = proc.wait(timeout=RUN_TIMEOUT_S)
            finally:
                if proc.poll() is None:
                    proc.kill()
            elapsed = time.monotonic() - t0
            print(f"[{elapsed:6.1f}s] rc={rc} {' '.join(_slurm_cmd(configfile)[2:])} (next to the local run)")
            cache[name] = {
                "local_root": local_root, "local_text": local_text,
                "tables": _tables(local_root), "job_stats": _job_stats(local_text),
                "slurm_root": slurm_root, "slurm_text": slurm_log.read_text(), "slurm_rc": rc,
                "slurm_elapsed": elapsed,
            }
        return cache[name]

    return get


def _skip_unavailable(workflow: str) -> None:
    why = _workflow_available(workflow)
    if why is not None:
        pytest.skip(why)
    if workflow == "toy" and _workflow_available("tiny") is None and not os.environ.get("GREEDYBENCH_SLURM_TEST_TOY"):
        pytest.skip("the repository pipeline is tested instead (GREEDYBENCH_SLURM_TEST_TOY=1 runs the toy too)")


def _outputs_by_rule(log_text: str) -> dict[str, list[str]]:
    """rule -> output files of its jobs, from the job blocks Snakemake prints."""
    out: dict[str, list[str]] = {}
    for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", log_text, re.M):
        o = re.search(r"^    output: (.+)$", m.group(2), re.M)
        if o:
            out.setdefault(m.group(1), []).extend(o.group(1).split(", "))
    return out


# --------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("workflow", ["toy", "tiny"])
def test_slurm_run_matches_local(workflow, runs, slurm_env):
    _skip_unavailable(workflow)
    r = runs(workflow)
    want_tables, job_stats = r["tables"], r["job_stats"]
    root, text, elapsed = r["slurm_root"], r["slurm_text"], r["slurm_elapsed"]
    assert r["slurm_rc"] == 0, f"the Slurm run failed (rc {r['slurm_rc']}):\n{text[-6000:]}"

    # every non-local job was submitted to Slurm, solve jobs included, once each
    subs = _submissions(text)
    local_rules = _local_rules(text)
    per_rule: dict[str, list[str]] = {}
    for rule, slurm_id, _ in subs:
        per_rule.setdefault(rule, []).append(slurm_id)
    solve_rules = [r for r in job_stats if SOLVE_RULE.search(r)]
    assert solve_rules, f"no solve rule in the workflow's jobs: {job_stats}"
    for rule, count in job_stats.items():
        if rule in local_rules:
            continue
        assert len(per_rule.get(rule, [])) == count, (
            f"rule {rule}: {count} jobs in the DAG, {len(per_rule.get(rule, []))} Slurm submissions")
    for rule in solve_rules:
        assert rule not in local_rules, f"{rule} ran on the submit host, not as a Slurm job"

    # ... and Slurm ran each of them to completion, leaving its log in .snakemake/slurm_logs
    slurm_ids = [slurm_id for _, slurm_id, _ in subs]
    assert len(set(slurm_ids)) == len(slurm_ids), "a Slurm job id was reported twice"
    for rule, slurm_id, logpath in subs:
        assert _job_state(slurm_env, slurm_id) == "COMPLETED", f"Slurm job {slurm_id} ({rule}) is not COMPLETED"
        assert logpath.is_file(), f"no Slurm log {logpath}"
        assert root / ".snakemake" / "slurm_logs" in logpath.parents
        assert logpath.stem == slurm_id
    print(f"{workflow}: {len(subs)} Slurm jobs ({', '.join(f'{r}: {len(v)}' for r, v in per_rule.items())}) "
          f"in {elapsed:.1f}s; local rules: {sorted(local_rules)}")

    _assert_same_tables(_tables(root), want_tables, f"{workflow} on Slurm")


@pytest.mark.parametrize("workflow", ["toy", "tiny"])
def test_cancelled_job_rerun_matches_local(workflow, runs, slurm_env, tmp_path):
    """A second run redoes two solve jobs of a finished run (and what depends on them); one of
    them is scancel'ed while it runs; re-running the workflow redoes just that one."""
    _skip_unavailable(workflow)
    r = runs(workflow)
    want_tables, done_root, done_text = r["tables"], r["slurm_root"], r["slurm_text"]
    assert r["slurm_rc"] == 0, "the Slurm run failed (see test_slurm_run_matches_local)"
    _, configfile = WORKFLOWS[workflow]

    root = tmp_path / "repo"
    _copy_tree(done_root, root)
    solve_outputs = sorted(f for rule, files in _outputs_by_rule(done_text).items()
                           if SOLVE_RULE.search(rule) for f in files)
    assert solve_outputs, "no solve outputs in the log of the Slurm run"
    forced = solve_outputs[:2]

    log = tmp_path / "interrupted.log"
    cmd = _slurm_cmd(configfile)
    t0 = time.monotonic()
    with open(log, "w") as fh:
        # --forcerun: redo these solve jobs and everything downstream of them
        proc = subprocess.Popen(cmd + ["--forcerun", *forced], cwd=root, env=slurm_env,
                                stdout=fh, stderr=subprocess.STDOUT)
    cancelled = None
    tried: set[str] = set()
    try:
        # cancel the first solve job seen RUNNING (the next one if it ends before scancel)
        while cancelled is None and proc.poll() is None and time.monotonic() - t0 < RUN_TIMEOUT_S:
            candidates = [(r, j) for r, j, _ in _submissions(log.read_text())
                          if SOLVE_RULE.search(r) and j not in tried]
            for rule, jobid in candidates:
                if _job_state(slurm_env, jobid) != "RUNNING":
                    continue
                tried.add(jobid)
                time.sleep(1.0)  # mid-run: let the job get going
                _slurm(slurm_env, "scancel", jobid)
                state = "RUNNING"
                for _ in range(60):
                    state = _job_state(slurm_env, jobid)
                    if state not in ("RUNNING", "COMPLETING"):
                        break
                    time.sleep(0.25)
                if state == "CANCELLED":
                    cancelled = (rule, jobid)
                break
            time.sleep(0.3)
        rc = proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = log.read_text()
    print(f"[{time.monotonic() - t0:6.1f}s] interrupted run rc={rc}, forced {forced}, cancelled {cancelled}")
    assert cancelled is not None, f"never caught a running solve job to cancel:\n{first[-4000:]}"
    assert rc != 0, "the run with a cancelled job (retries: 0 in the profile) reported success"
    assert re.search(rf"'{cancelled[1]}'.*CANCELLED", first), (
        f"Snakemake did not report Slurm job {cancelled[1]} as CANCELLED:\n{first[-4000:]}")

    # the re-run picks up where the interrupted one stopped: only the cancelled solve job again
    _, second, elapsed = _run(cmd, root, slurm_env, tmp_path / "rerun.log")
    redone = [r for r, _, _ in _submissions(second) if SOLVE_RULE.search(r)]
    assert redone == [cancelled[0]], (
        f"the re-run resubmitted solve jobs {redone}; expected only the cancelled one ({cancelled[0]})")
    print(f"[{elapsed:6.1f}s] re-run: {len(_submissions(second))} Slurm jobs, "
          f"{len(redone)} of them solve")

    _assert_same_tables(_tables(root), want_tables, f"{workflow} after cancel + re-run")
