"""Tamper evidence for ``greedybench compare``: file checksums before and after user code runs,
instances checked against the grid cell they claim to be, and one lock per output directory.

* :func:`digests` / :func:`changed`: sha256 of the stored leaderboard files (and of the instance
  store and of greedybench's own source files), taken before the drop-in solver's process starts
  and after it ended; compare reports "unchanged" or names every file that was modified.
* :func:`grid_instances`: the instances of one family, each loaded with
  :func:`greedybench.datasets.load_instance` (its own checksum) and
  :func:`~greedybench.datasets.files.check_instance_matches` against the cell of the grid its place
  names (N, m, s, trials, seed, sigma, the family's keys): a valid file copied into another cell,
  family or slice is refused with a message naming it.
* :class:`OutLock`: ``<out>/.compare.lock`` created atomically (``O_CREAT | O_EXCL``) holding the
  pid; a second compare into the same ``--out`` is refused while the first runs; the lock of a
  process that no longer exists is taken over, with a message.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .._validation import GreedybenchError
from ..datasets import InstanceFileError, load_instance
from ..datasets.files import check_instance_matches
from ..pipeline.generate import FAMILY_KEYS, read_manifest
from .grid import Grid, slice_id

__all__ = ["LockedError", "OutLock", "digests", "changed", "tree_files", "source_files", "grid_instances",
           "expected_meta"]

LOCK_NAME = ".compare.lock"


class LockedError(GreedybenchError, RuntimeError):
    """Another ``greedybench compare`` is writing into the same output directory."""


# ------------------------------------------------------------------------------------------------
# checksums


def _sha256(path: Path) -> Optional[str]:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except FileNotFoundError:
        return None


def tree_files(root, pattern: str = "*") -> List[Path]:
    """Every regular file under ``root`` matching ``pattern`` (sorted; none if it is missing)."""
    root = Path(root)
    return sorted(p for p in root.rglob(pattern) if p.is_file()) if root.is_dir() else []


#: greedybench's packages that live in their own folders (pyproject's package-dir)
_PACKAGE_ROOTS = ("greedybench", "greedybench.solvers", "greedybench.datasets", "greedybench.report")


def source_files() -> List[Path]:
    """greedybench's own Python files (the scorer and the built-in solvers a solver file might try
    to patch on disk)."""
    files = set()
    for name in _PACKAGE_ROOTS:
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec else []:
            files.update(tree_files(loc, "*.py"))
    return sorted(files)


def digests(paths: Iterable) -> Dict[str, Optional[str]]:
    """``{path: sha256 hex or None (missing)}`` of each file."""
    return {str(p): _sha256(Path(p)) for p in paths}


def changed(before: Dict[str, Optional[str]], after: Dict[str, Optional[str]]) -> List[str]:
    """The files whose digest differs (created, deleted or modified), sorted."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


# ------------------------------------------------------------------------------------------------
# instances checked against their cell


def expected_meta(grid: Grid, family: str, m: int, s: int) -> Dict:
    """What the instance of one cell of ``grid`` must hold (``check_instance_matches``'s ``expect``)."""
    fam = grid.families[family]
    want = {"N": grid.N, "m": int(m), "s": int(s), "batch": grid.trials, "seed": grid.seed,
            "sigma": float(grid.sigma)}
    want.update({k: fam[k] for k in FAMILY_KEYS if fam.get(k) is not None})  # None: the generator's default
    return want


def grid_instances(family_dir, grid: Grid, family: str, *, device: str = "cpu") -> Iterator[Tuple]:
    """``(delta, instance, file name, sha256 of the file)`` of every cell of ``family`` on ``grid``'s
    deltas, in the manifest's order, each checked against the cell its place names.

    Raises :class:`greedybench.datasets.InstanceFileError` for a file that is not the instance of
    its cell (or whose manifest is not the grid's slice), naming the file.
    """
    for delta in grid.delta:
        sdir = Path(family_dir) / slice_id(grid.N, delta, grid.seed)
        manifest = read_manifest(sdir)
        cells = {(float(rho), m, s) for rho, m, s in grid.cells(delta)}
        for item in manifest["instances"]:
            path = sdir / item["file"]
            rho, m, s = float(item["rho"]), int(item["m"]), int(item["s"])
            where = f"{path} (family {family}, delta {float(delta):g})"
            if (rho, m, s) not in cells or item["file"] != f"rho{rho!r}.npz":
                raise InstanceFileError(f"{where}: the manifest lists rho = {rho!r}, m = {m}, s = {s}, which is "
                                        f"not a cell of the leaderboard grid {grid.sha} at this delta")
            data = path.read_bytes()
            inst = load_instance(path, device=device)
            check_instance_matches(inst, expected_meta(grid, family, m, s), where=where)
            yield float(delta), inst, path.name, hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------
# one compare per output directory


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutLock:
    """``with OutLock(out):`` holds ``out/.compare.lock`` (created atomically with the pid).

    A live holder makes :class:`LockedError`; a lock whose pid is dead (or unreadable) is taken
    over, and ``echo`` says so. On exit the lock is removed, and ``out`` too when this lock made it
    and it is still empty (a failed run leaves nothing behind).
    """

    def __init__(self, out, *, echo: Callable[[str], None] = print):
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.echo = echo
        self._made_dir = False

    def __enter__(self) -> "OutLock":
        if not self.out.exists():
            self.out.mkdir(parents=True)
            self._made_dir = True
        for attempt in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or "0")
                except (OSError, ValueError):
                    pid = 0
                if pid > 0 and pid != os.getpid() and _pid_alive(pid):
                    self._cleanup_dir()
                    raise LockedError(f"--out {self.out}: another greedybench compare (pid {pid}) is writing there "
                                      f"({self.path}); wait for it to finish or choose another --out") from None
                if attempt == 0:
                    self.echo(f"{self.path}: taking over the lock of a compare that no longer runs "
                              f"(pid {pid or 'unknown'})")
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                raise LockedError(f"--out {self.out}: cannot take the lock {self.path}") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            return self
        raise LockedError(f"--out {self.out}: cannot take the lock {self.path}")  # pragma: no cover

    def _cleanup_dir(self) -> None:
        if self._made_dir:
            try:
                self.out.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.ENOENT, errno.EEXIST):
                    raise

    def __exit__(self, *exc) -> None:
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except (OSError, ValueError):
            pass
        self._cleanup_dir()
