"""Performance-regression gate: benchmark the base commit and the working tree in the same job.

    python benchmarks/pytest/gate.py [--base landed|REV] [--factor 1.5] [--passes 2] [--confirm 4] [-k EXPR]

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
time); a benchmark whose head / base ratio of those exceeds ``--factor`` is a suspect. Suspects are
measured again, alone, in ``--confirm`` more alternating pairs (a kernel of a few milliseconds can
have a bimodal time on a shared runner: allocator page faults, a busy second core, so a single
pass on each side can differ 2x with identical code). A suspect fails only when both the ratio of
the smallest medians and the median of the paired ratios (head_i / base_i over all pairs) exceed
the factor; the table prints the paired ratios' median and range. Comparing against a baseline
measured on the same machine in the same job avoids stale checked-in baselines
(pytest-benchmark#276 / ioc-finder#411).

Exit status: 0 no slowdown (or nothing to compare), 1 slowdown, 2 the gate itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    head_parents = chain[0][1:]
    if len(head_parents) > 1:
        return head_parents[0], "first parent of the merge commit HEAD"
    touched = set(_git("log", "--first-parent", "--format=%H", "--", MARKER).split())
    for commit, *parents in chain[1:]:
        if len(parents) > 1:
            return commit, "last merge commit before HEAD"
        if commit in touched:
            return commit, f"last commit before HEAD that changed {MARKER}"
    return "HEAD~1", f"HEAD~1 (no earlier merge commit or change of {MARKER})"


# glibc serves blocks above its mmap threshold with fresh pages (a page fault per 4 KiB) and moves
# that threshold up whenever such a block is freed, so whether a kernel's few-MiB temporaries cost
# page faults depends on what the process freed before: measured, softsort's benchmark takes 3.4 ms
# or 0.8 ms in two processes running identical code. A fixed threshold (64 MiB; trimming above
# 128 MiB) takes the allocator's history out of the comparison; both sides run with it.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


def run_benchmarks(code_root: Path, out_json: Path, select: str | None) -> dict[str, float]:
    """Run the kernel benchmarks with ``code_root`` first on sys.path; return name -> median (s)."""
    cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR / "test_bench_kernels.py"), "-q",
           # importlib: the module's name must not depend on the folders above it (a checkout named
           # greedybench has an __init__.py at its root, and "greedybench.benchmarks" is then looked
           # up in the base's package, which fails)
           "-p", "no:cacheprovider", "-o", "addopts=", "--import-mode=importlib", "--benchmark-only",
           "--benchmark-min-rounds=7", "--benchmark-max-time=0.5", "--benchmark-warmup=on",
           f"--benchmark-json={out_json}"]
    if select:
        cmd += ["-k", select]
    env = dict(os.environ, PYTHONPATH=str(code_root), OMP_NUM_THREADS="2", MKL_NUM_THREADS="2",
               OMP_WAIT_POLICY="PASSIVE",  # spinning OpenMP threads make a loaded runner far noisier
               **MALLOC_ENV)
    proc = subprocess.run(cmd, cwd=code_root, env=env, capture_output=True, text=True)
    if not out_json.exists():
        raise RuntimeError(f"benchmarks did not run against {code_root}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    data = json.loads(out_json.read_text())
    return {b["name"]: b["stats"]["median"] for b in data["benchmarks"]}


def judge(base: list[float], head: list[float], factor: float) -> tuple[float, list[float], bool]:
    """Verdict on one benchmark from its per-pass medians, paired by pass (base[i] ran just before
    head[i]). Returns (ratio of the smallest medians, paired ratios head_i / base_i, slower): slower
    only when the ratio of the smallest medians *and* the median paired ratio exceed ``factor``."""
    pairs = [h / b for b, h in zip(base, head)]
    ratio = min(head) / min(base)
    return ratio, pairs, ratio > factor and statistics.median(pairs) > factor


def compare(base: dict[str, list[float]], head: dict[str, list[float]], factor: float) -> tuple[list[str], bool]:
    lines = [(f"{'benchmark':<22} {'base (ms)':>10} {'head (ms)':>10} {'ratio':>7} "
              f"{'paired: median [min, max], pairs':>34}  verdict")]
    slower = False
    for name in sorted(head):
        if name not in base:
            lines.append(f"{name:<22} {'-':>10} {min(head[name]) * 1e3:>10.3f} {'-':>7} {'':>34}  new (no baseline)")
            continue
        ratio, pairs, worse = judge(base[name], head[name], factor)
        slower |= worse
        paired = f"{statistics.median(pairs):.2f} [{min(pairs):.2f}, {max(pairs):.2f}], {len(pairs)}"
        lines.append(f"{name:<22} {min(base[name]) * 1e3:>10.3f} {min(head[name]) * 1e3:>10.3f} {ratio:>7.2f} "
                     f"{paired:>34}  {'SLOWER' if worse else 'ok'}")
    return lines, slower


def _alternate(passes: int, base_root: Path, tmp: Path, select: str | None, tag: str,
               base: dict[str, list[float]], head: dict[str, list[float]]) -> None:
    """``passes`` alternating pairs (base, then head); append each benchmark's median per pass."""
    for i in range(passes):
        for side, root, times in (("base", base_root, base), ("head", REPO, head)):
            res = run_benchmarks(root, tmp / f"{side}-{tag}{i}.json", select)
            for name, t in res.items():
                times.setdefault(name, []).append(t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="landed",
                        help="'landed' (default: the previously landed state, see above) or a git revision")
    parser.add_argument("--factor", type=float, default=1.5,
                        help="fail when head/base median time exceeds this (default 1.5: above CI noise)")
    parser.add_argument("--passes", type=int, default=2, help="alternating runs per side (default 2)")
    parser.add_argument("--confirm", type=int, default=4,
                        help="alternating pairs that re-measure a suspect alone (default 4)")
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
        base_t: dict[str, list[float]] = {}
        head_t: dict[str, list[float]] = {}
        try:
            _alternate(args.passes, base_root, Path(tmp), args.select, "p", base_t, head_t)
            suspects = sorted(n for n in head_t
                              if n in base_t and judge(base_t[n], head_t[n], args.factor)[0] > args.factor)
            if suspects and args.confirm > 0:
                print(f"gate: suspects {', '.join(suspects)}; {args.confirm} more alternating pairs "
                      "of them alone", flush=True)
                names = " or ".join(suspects)
                select = f"({args.select}) and ({names})" if args.select else names
                # the suspects' lists grow in place; other benchmarks that -k's substring match also
                # runs land in throwaway entries and keep their first passes
                _alternate(args.confirm, base_root, Path(tmp), select, "c",
                           {n: base_t[n] for n in suspects}, {n: head_t[n] for n in suspects})
        except RuntimeError as exc:
            if not base_t and not (base_root / "benchmarks" / "pytest" / "test_bench_kernels.py").is_file():
                print(f"gate: the base commit {base_rev[:10]} predates the kernel benchmarks; nothing to compare.")
                return 0
            print(f"gate: {exc}", file=sys.stderr)
            return 2
    lines, slower = compare(base_t, head_t, args.factor)
    print(f"gate: base {base_rev[:10]} vs working tree, factor {args.factor}, {args.passes} passes each")
    print("\n".join(lines))
    print("gate: FAILED, a benchmark got slower" if slower else "gate: passed")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
