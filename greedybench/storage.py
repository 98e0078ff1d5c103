"""Low-level storage: atomic writes, the one CSV format, job logs and the one provenance record.

This module sits at the bottom of the package beside ``_validation`` (docs/architecture.md): it
imports nothing from greedybench except the package version, so every layer (datasets, analysis,
pipeline, leaderboard, report, train) writes through it.

Every file a stage produces is written under a temporary name in the same directory and moved
into place with ``os.replace``: an interrupted job leaves no file that a later run would trust
(Snakemake also marks the outputs of a killed job incomplete). Temporary names carry the writer's
pid (``.{name}.tmp-{pid}...``); the next write of the same target removes those of dead writers,
so a killed run leaves no stray file behind once it has been rerun.

Fault injection (tests/test_faults.py, docs/reliability.md): with ``GREEDYBENCH_FAULT`` set to
``kill:<glob>`` or ``raise:<glob>``, a write whose target path matches ``<glob>`` (fnmatch) stops at
its commit point -- temporary file or directory complete and fsynced, not yet renamed -- by
SIGKILL to the whole process group (Snakemake and its jobs) or by raising ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import glob
import gzip
import io
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

__all__ = ["atomic_open", "atomic_write_text", "atomic_write_bytes", "atomic_dir", "fmt", "csv_text", "write_csv", "read_csv",
           "job_log", "provenance", "run_record", "environment", "git_commit", "machine", "set_threads",
           "write_json"]


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours (EPERM)
        return True
    return True


def _remove_stale_tmp(path: Path) -> None:
    """Remove ``.{name}.tmp-{pid}...`` siblings of ``path`` left by a writer that was killed."""
    prefix = f".{path.name}.tmp-"
    for tmp in path.parent.glob(glob.escape(prefix) + "*"):
        pid = tmp.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _fault_point(path: Path) -> None:
    """The GREEDYBENCH_FAULT hook (module docstring): called just before a temporary is renamed."""
    spec = os.environ.get("GREEDYBENCH_FAULT", "")
    action, _, pattern = spec.partition(":")
    if not pattern or not fnmatch.fnmatch(Path(path).as_posix(), pattern):
        return
    if action == "kill":
        os.killpg(os.getpgid(0), signal.SIGKILL)
    raise RuntimeError(f"GREEDYBENCH_FAULT={spec}: injected failure before committing {path}")


@contextlib.contextmanager
def atomic_open(path, *, mode: int = 0o644, mkdir: bool = True):
    """Yield a binary file handle whose content replaces ``path`` when the block ends normally.

    The data go to ``.{name}.tmp-{pid}`` in the same directory, are fsynced, pass the fault hook
    and are renamed over ``path`` (then the directory entry is fsynced where the platform allows);
    on any exception the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        _fault_point(path)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not possible on every platform (then a no-op)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temporary directory next to ``path``; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        _fault_point(path)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fmt(v) -> str:
    """One CSV cell: floats with repr (round-trip exact), bools True/False, None empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy / torch scalars
        v = v.item()
        if isinstance(v, bool):
            return "True" if v else "False"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(v)


def csv_text(columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> str:
    """The one CSV format: a header of ``columns``, cells through :func:`fmt`, ``\\n`` line ends."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt(r.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path, columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> None:
    """Write rows (dicts) with exactly ``columns`` (:func:`csv_text`), atomically."""
    atomic_write_text(path, csv_text(columns, rows))


def write_csv_sorted(path, columns: Sequence[str], rows: Iterable[Dict[str, Any]], key) -> None:
    """Rows sorted by ``key`` (applied to the formatted rows) in the one CSV format, atomically; a
    ``.gz`` path is gzip with a zero mtime, so the same rows give the same bytes."""
    rows = sorted(({k: fmt(r.get(k)) for k in columns} for r in rows), key=key)
    data = csv_text(columns, rows).encode()
    if str(path).endswith(".gz"):
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(data)
        data = out.getvalue()
    atomic_write_bytes(path, data)


def read_csv(path) -> List[Dict[str, str]]:
    """Rows (strings) of a CSV file, plain or ``.gz``."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(raw.decode(), newline="")))


@contextlib.contextmanager
def job_log(path, timeout_s=None):
    """Send this job's stdout/stderr (Python level) to ``path``; log a traceback on failure.
    ``timeout_s``: wall-clock limit of the job (None: ``GREEDYBENCH_JOB_TIMEOUT_S`` if set, else
    none), enforced by :func:`greedybench._timeout.time_limit`."""
    from ._timeout import time_limit, timeout_from_env  # local: storage itself stays torch-free

    limit = timeout_s if timeout_s is not None else timeout_from_env()
    if path is None:
        with time_limit(limit):
            yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            with time_limit(limit, what=f"job (log {path})"):
                yield
        except BaseException:
            traceback.print_exc(file=fh)
            fh.flush()
            raise


@lru_cache(maxsize=None)
def git_commit() -> str:
    """HEAD of the greedybench checkout (+ '-dirty' with uncommitted changes), else 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def set_threads(n: int) -> int:
    """Pin torch's intra-op threads (and the BLAS env for child processes); returns the value."""
    import torch

    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    return torch.get_num_threads()


def provenance(device: str, dtype: str) -> Dict[str, Any]:
    """The provenance columns of every row (docs/architecture.md)."""
    import numpy
    import torch

    return {
        "device": device,
        "dtype": dtype,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "greedybench_version": _package_version("greedybench"),
        "git_commit": git_commit(),
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
    }


def environment() -> Dict[str, Any]:
    """Machine description for the report (not part of the rows)."""
    import torch

    env = {"python": sys.version.split()[0], "platform": platform.platform(),
           "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "cuda": torch.version.cuda, "gpu": None}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The CPU model and its logical core count, e.g. ``'AMD EPYC 7763 64-Core Processor x2'``."""
    name = " ".join((_cpu_name() or "unknown cpu").split())
    return f"{name} x{os.cpu_count()}"


def run_record(config: Any = None, *, device: str = "cpu", dtype: str | None = None) -> Dict[str, Any]:
    """The run-level provenance a report states (the per-row record is :func:`provenance`).

    Keys: commit (``git_commit()``), config, machine, cpu, threads, device, gpu, dtype, versions
    (python, torch, numpy, greedybench, snakemake, cuda; a missing package reads "not installed",
    no CUDA reads "none"), date.
    """
    import datetime as _dt

    import torch

    env = environment()
    return {
        "commit": git_commit(),
        "config": config if config is not None else {},
        "machine": f"{socket.gethostname()} ({env['platform']})",
        "cpu": f"{_cpu_name()}, {env['cpu_count']} logical cores",
        "threads": torch.get_num_threads(),
        "device": device,
        "gpu": env["gpu"] or "none",
        "dtype": dtype if dtype is not None else "not set",
        "versions": {"python": env["python"], "torch": torch.__version__,
                     "numpy": _package_version("numpy"), "greedybench": _package_version("greedybench"),
                     "snakemake": _package_version("snakemake"), "cuda": env["cuda"] or "none"},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
