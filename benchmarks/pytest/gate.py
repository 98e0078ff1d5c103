"""Performance-regression gate: benchmark the base commit and the working tree in the same job.

    python benchmarks/pytest/gate.py [--base landed|REV] [--factor 1.5] [--passes 2] [-k EXPR]

Which base: ``--base landed`` (the default, what ``.ci/run`` uses) is the previously landed state,
read from git history alone, so that a clean clone (full history) knows it without any state
outside the repository:

1. HEAD is a merge commit (work landed on main by a merge): its first parent, main before it.
2. Otherwise the newest commit on HEAD's first-parent chain, other than HEAD, that is a merge
   commit or changed the marker file ``.ci/landed``: the landing this head builds on, however
   many commits the head adds (HEAD~1 would only see the last of them). Work landed without a
   merge commit (fast-forward, direct commits) bumps the marker in its last commit:
   ``echo "$(date -u +%F) what landed" >> .ci/landed``. A forgotten bump makes the base older,
   never newer: the gate then covers more changes, not fewer.
3. Neither found: HEAD~1.

Any other ``--base`` value is a git revision.

The base commit is exported with `git archive` into a temporary directory; the
same benchmark file (benchmarks/pytest/test_bench_kernels.py of the working tree) is then run
against the base code and against the working tree's code, alternating, `--passes` times each.
For every benchmark the gate keeps the smallest median over the passes (noise only ever adds
time) and fails when head / base > factor. Comparing against a baseline measured on the same
machine in the same job avoids stale checked-in baselines (pytest-benchmark#276 / ioc-finder#411).

Exit status: 0 no slowdown (or nothing to compare), 1 slowdown, 2 the gate itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def export_commit(rev: str, dest: Path) -> None:
    """Write the tree of ``rev`` into ``dest`` (no worktree bookkeeping to clean up)."""
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), rev], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()


MARKER = ".ci/landed"


def landed_base() -> tuple[str, str]:
    """(revision, how it was found) of the previously landed state; see the module docstring."""
    chain = [line.split() for line in _git("log", "--first-parent", "--format=%H %P", "-n", "2000").splitlines()]
    head, head_parents = chain[0][0], chain[0][1:]
    if len(head_parents) > 1:
        return head_parents[0], "first parent of the merge commit HEAD"
    touched = set(_git("log", "--first-parent", "--format=%H", "--", MARKER).split())
    for commit, *parents in chain[1:]:
        if len(parents) > 1:
            return commit, "last merge commit before HEAD"
        if commit in touched:
            return commit, f"last commit before HEAD that changed {MARKER}"
    return "HEAD~1", f"HEAD~1 (no earlier merge commit or change of {MARKER})"


def run_benchmarks(code_root: Path, out_json: Path, select: str | None) -> dict[str, float]:
    """Run the kernel benchmarks with ``code_root`` first on sys.path; return name -> median (s)."""
    cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR / "test_bench_kernels.py"), "-q",
           "-p", "no:cacheprovider", "-o", "addopts=", "--benchmark-only",
           "--benchmark-min-rounds=7", "--benchmark-max-time=0.5", "--benchmark-warmup=on",
           f"--benchmark-json={out_json}"]
    if select:
        cmd += ["-k", select]
    env = dict(os.environ, PYTHONPATH=str(code_root), OMP_NUM_THREADS="2", MKL_NUM_THREADS="2",
               OMP_WAIT_POLICY="PASSIVE")  # spinning OpenMP threads make a loaded runner far noisier
    proc = subprocess.run(cmd, cwd=code_root, env=env, capture_output=True, text=True)
    if not out_json.exists():
        raise RuntimeError(f"benchmarks did not run against {code_root}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    data = json.loads(out_json.read_text())
    return {b["name"]: b["stats"]["median"] for b in data["benchmarks"]}


def compare(base: dict[str, float], head: dict[str, float], factor: float) -> tuple[list[str], bool]:
    lines = [f"{'benchmark':<22} {'base (ms)':>10} {'head (ms)':>10} {'ratio':>7}  verdict"]
    slower = False
    for name in sorted(head):
        if name not in base:
            lines.append(f"{name:<22} {'-':>10} {head[name] * 1e3:>10.3f} {'-':>7}  new (no baseline)")
            continue
        ratio = head[name] / base[name]
        verdict = "SLOWER" if ratio > factor else "ok"
        slower |= ratio > factor
        lines.append(f"{name:<22} {base[name] * 1e3:>10.3f} {head[name] * 1e3:>10.3f} {ratio:>7.2f}  {verdict}")
    return lines, slower


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="landed",
                        help="'landed' (default: the previously landed state, see above) or a git revision")
    parser.add_argument("--factor", type=float, default=1.5,
                        help="fail when head/base median time exceeds this (default 1.5: above CI noise)")
    parser.add_argument("--passes", type=int, default=2, help="alternating runs per side (default 2)")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression to select benchmarks")
    args = parser.parse_args(argv)

    try:
        base, how = landed_base() if args.base == "landed" else (args.base, "given")
        base_rev = _git("rev-parse", "--verify", "--quiet", base + "^{commit}")
    except subprocess.CalledProcessError:
        print(f"gate: no commit {args.base!r} to compare against; nothing to do.")
        return 0
    print(f"gate: base {base_rev[:10]} ({how})", flush=True)
    with tempfile.TemporaryDirectory(prefix="gb-gate-") as tmp:
        base_root = Path(tmp) / "base"
        export_commit(base_rev, base_root)
        best_base: dict[str, float] = {}
        best_head: dict[str, float] = {}
        try:
            for i in range(args.passes):
                for side, root, best in (("base", base_root, best_base), ("head", REPO, best_head)):
                    res = run_benchmarks(root, Path(tmp) / f"{side}{i}.json", args.select)
                    for name, t in res.items():
                        best[name] = min(t, best.get(name, float("inf")))
        except RuntimeError as exc:
            if not best_base and "base" in str(exc):
                print(f"gate: the base commit {base_rev[:10]} has no runnable benchmarks; nothing to compare.")
                return 0
            print(f"gate: {exc}", file=sys.stderr)
            return 2
    lines, slower = compare(best_base, best_head, args.factor)
    print(f"gate: base {base_rev[:10]} vs working tree, factor {args.factor}, {args.passes} passes each")
    print("\n".join(lines))
    print("gate: FAILED, a benchmark got slower" if slower else "gate: passed")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
