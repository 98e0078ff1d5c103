"""The Snakemake pipeline: DAGs resolve, a small config runs end to end, reruns are incremental,
and the tables are deterministic.

Stand-in solver entries (drop-in files written into the test's directory) keep these tests
independent of the built-in solvers; the tests on the shipped configs fail when one of their
built-in solvers does not load.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from greedybench.pipeline.config import CONFIG_DIR, REPO, validate_config
from greedybench.registry import discover

STANDINS = {
    "stub_ls": '''
        """Stand-in: least squares on the s largest correlations (tests only)."""
        import torch
        name = "stub_ls"
        capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
        parameters = {"n_iter": [1]}

        def topk_ls(A, y, s, w=None):
            c = (y.unsqueeze(-2) @ A.conj()).squeeze(-2) if A.dim() == 3 else y @ A.conj()
            c = c.abs() if w is None else c.abs() * w
            idx = c.topk(s, dim=-1).indices
            As = A.mT[idx].mT if A.dim() == 2 else torch.gather(A, 2, idx.unsqueeze(1).expand(-1, A.shape[1], -1))
            # gelsd, not the default gelsy: MKL's pivoted QR (gelsy) rounds differently depending on
            # the input's memory alignment, so two identical solves could differ in the last bit.
            z = torch.linalg.lstsq(As, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
            return torch.zeros(y.shape[0], A.shape[-1], dtype=z.dtype, device=z.device).scatter(1, idx, z).real

        def solve(problem, n_iter):
            return topk_ls(problem.A, problem.y, problem.s)
    ''',
    "stub_soft": '''
        """Stand-in soft solver: stub_ls shrunk by 1 / (1 + tau) (tests only)."""
        import torch
        name = "stub_soft"
        capabilities = {"differentiable": True, "trained": False, "complex": True, "gpu": True}
        parameters = {"tau": [1e-3]}

        def solve(problem, tau):
            c = problem.y @ problem.A.conj() if problem.A.dim() == 2 else (problem.y.unsqueeze(-2) @ problem.A.conj()).squeeze(-2)
            x = torch.zeros(problem.B, problem.N, dtype=problem.A.real.dtype)
            idx = c.abs().topk(problem.s, dim=-1).indices
            return x.scatter(1, idx, c.real.gather(1, idx)) / (1.0 + tau)
    ''',
    "stub_net": '''
        """Stand-in trained net: per-atom weights = support frequency on the training set (tests only)."""
        import torch
        name = "stub_net"
        capabilities = {"differentiable": True, "trained": True, "complex": True, "gpu": True}
        parameters = {"layers": [2]}

        def train(train_batch, val_batch, *, seed, progress=True, layers, epochs=1):
            w = (train_batch.X != 0).to(torch.float64).mean(0) + 1e-3
            return {"w": w, "config": {"layers": layers, "epochs": epochs}}

        def solve(problem, layers, state):
            A, y = problem.A, problem.y
            c = (y @ A.conj()).abs() * state["w"].to(A.real.dtype)
            idx = c.topk(problem.s, dim=-1).indices
            z = torch.linalg.lstsq(A.mT[idx].mT, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
            return torch.zeros(problem.B, problem.N, dtype=z.dtype).scatter(1, idx, z).real
    ''',
}


def write_standins(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, src in STANDINS.items():
        paths[name] = directory / f"{name}.py"
        paths[name].write_text(textwrap.dedent(src))
    return paths


def module_available(name):
    try:
        __import__(name)
        return True
    except Exception:  # noqa: BLE001
        return False


def standin_config(tmp_path: Path) -> dict:
    """tiny.yaml with the stand-in solvers; figures/report only where those modules exist."""
    paths = write_standins(tmp_path / "standins")
    with open(CONFIG_DIR / "tiny.yaml") as fh:
        cfg = yaml.safe_load(fh)
    cfg["solver_files"] = [str(p) for p in paths.values()]
    cfg["solvers"] = {"stub_ls": {}, "stub_soft": {}, "stub_net": {}}
    cfg["training"]["baselines"] = ["stub_ls"]
    cfg["soft_vs_hard"]["pairs"] = [{"soft": "stub_soft", "hard": "stub_ls"}]
    figures = module_available("greedybench.analysis") and module_available("greedybench.report")
    cfg["figures"]["enabled"] = cfg["report"]["enabled"] = figures
    return cfg


def snakemake(workdir: Path, configfile, *args, timeout=900):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
           "--workflow-profile", str(REPO / "profiles" / "local"), "--cores", "2"]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    r = subprocess.run(cmd + list(args), cwd=workdir, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def job_counts(output: str) -> dict:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts, on = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats"):
            on = True
            continue
        parts = line.split()
        if on and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
            if parts[0] == "total":
                break
    return counts


def shipped_missing(name):
    with open(CONFIG_DIR / f"{name}.yaml") as fh:
        cfg = yaml.safe_load(fh)
    entries = discover(refresh=True)
    names = set(cfg["solvers"]) | {p[r] for p in cfg["soft_vs_hard"]["pairs"] for r in ("soft", "hard")}
    return sorted(n for n in names if n not in entries or not entries[n].available)


@pytest.mark.parametrize("name", ["default", "paper"])
def test_dry_run_shipped_config(tmp_path, name):
    missing = shipped_missing(name)
    assert not missing, f"built-in solver entries do not load: {', '.join(missing)}"
    configfile = None if name == "default" else CONFIG_DIR / f"{name}.yaml"
    rc, out = snakemake(tmp_path, configfile, "-n", timeout=600)
    assert rc == 0, out[-3000:]
    counts = job_counts(out)
    assert counts["solve"] > 0 and counts["all"] == 1
    assert not (tmp_path / "results").exists()


def test_dry_run_standins(tmp_path):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(standin_config(tmp_path)))
    rc, out = snakemake(tmp_path, cfg_path, "-n")
    assert rc == 0, out[-3000:]
    counts = job_counts(out)
    # 2 deltas x (stub_ls, stub_soft) + test split x (stub_net, stub_ls)
    assert counts["solve"] == 6 and counts["generate_phase"] == 2 and counts["train"] == 1
    assert counts["timing"] == 2 and counts["soft_vs_hard"] == 1


@pytest.mark.slow
def test_end_to_end_standins_then_nothing_to_do_then_solver_change(tmp_path):
    import pandas as pd

    from greedybench.pipeline.tables import RESULT_COLUMNS

    cfg = standin_config(tmp_path)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    rc, out = snakemake(tmp_path, cfg_path)
    assert rc == 0, out[-5000:]
    results = tmp_path / "results"
    df = pd.read_csv(results / "tables" / "results.csv")
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert set(df["solver"]) == {"stub_ls[n_iter=1]", "stub_soft[tau=0.001]", "stub_net[layers=2]"}
    assert set(df["experiment"]) == {"phase", "train"}
    assert len(df) == 2 * 2 * 3 * 4 + 2 * 16  # phase: variants x deltas x rhos x trials; test split
    assert (df[df.solver == "stub_ls[n_iter=1]"].experiment == "train").sum() == 16
    timing = pd.read_csv(results / "tables" / "timing.csv")
    assert set(timing["sweep"]) == {"N", "batch"} and (timing["time_per_problem_s"] > 0).all()
    soft = pd.read_csv(results / "tables" / "soft_vs_hard.csv")
    assert sorted(soft["tau"].unique()) == [1e-4, 1e-2, 1.0]
    if cfg["report"]["enabled"]:
        assert (results / "report" / "index.html").stat().st_size > 0

    rc, out = snakemake(tmp_path, cfg_path, "-n")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]

    # a comment edit is no change (the version is the code's meaning) ...
    soft_file = Path(cfg["solver_files"][1])
    soft_file.write_text(soft_file.read_text() + "\n# changed\n")
    rc, out = snakemake(tmp_path, cfg_path, "-n")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]
    # ... a changed solver reruns its own jobs only
    soft_file.write_text(soft_file.read_text() + "\n_CHANGED = 1\n")
    rc, out = snakemake(tmp_path, cfg_path, "-n")
    counts = job_counts(out)
    assert counts["solve"] == 2 and counts["timing"] == 1 and counts["soft_vs_hard"] == 1, out[-3000:]
    assert "train" not in counts and "generate_phase" not in counts


def test_solve_stage_is_deterministic(tmp_path):
    """Two solves of the same slice give byte-identical rows except the timing column."""
    from greedybench.pipeline.generate import generate_phase_slice
    from greedybench.pipeline.solve import solve_stage

    paths = write_standins(tmp_path / "standins")
    fam = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
    inst = tmp_path / "slice"
    generate_phase_slice(inst, family_name="gauss", family=fam, N=32, delta=0.5, seed=3,
                         cells=[(0.1, 16, 2), (0.25, 16, 4)], trials=3, sigma=0.0, dtype="float64")
    assert sorted(p.name for p in inst.iterdir()) == ["manifest.json", "rho0.1.npz", "rho0.25.npz"]
    outs = []
    for i in range(2):
        out = tmp_path / f"rows{i}.csv"
        n = solve_stage(out, instance_dir=inst, experiment="phase", entry="stub_ls", params_json='{"n_iter":1}',
                        solver_files=[str(paths["stub_ls"])], family_name="gauss", family=fam,
                        success={"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6},
                        device="cpu", dtype="float64", threads=1)
        assert n == 6
        outs.append(out.read_text().splitlines())
    header = outs[0][0].split(",")
    t = header.index("time_per_problem_s")
    strip = [[",".join(c for j, c in enumerate(line.split(",")) if j != t) for line in o] for o in outs]
    assert strip[0] == strip[1]
    assert not list(tmp_path.glob("**/.*tmp*"))  # no temporary file left behind


def test_solve_stage_refuses_an_instance_file_in_the_wrong_cell(tmp_path):
    """A valid instance file copied over another cell of its slice (or from another slice) is
    refused by name, not solved as if it belonged there (issue 18: duplicated and missing cells)."""
    import shutil

    from greedybench.datasets import InstanceFileError
    from greedybench.pipeline.generate import generate_phase_slice
    from greedybench.pipeline.solve import solve_stage

    paths = write_standins(tmp_path / "standins")
    fam = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
    kw = dict(family_name="gauss", family=fam, N=32, delta=0.5, cells=[(0.1, 16, 2), (0.25, 16, 4)],
              trials=3, sigma=0.0, dtype="float64")
    generate_phase_slice(tmp_path / "a", seed=3, **kw)
    generate_phase_slice(tmp_path / "b", seed=4, **kw)
    run = dict(experiment="phase", entry="stub_ls", params_json='{"n_iter":1}',
               solver_files=[str(paths["stub_ls"])], family_name="gauss", family=fam,
               success={"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6},
               device="cpu", dtype="float64", threads=1)
    shutil.copy(tmp_path / "a" / "rho0.1.npz", tmp_path / "a" / "rho0.25.npz")      # another cell
    with pytest.raises(InstanceFileError, match="s = 2 in the file but 4 expected"):
        solve_stage(tmp_path / "a.csv", instance_dir=tmp_path / "a", **run)
    shutil.copy(tmp_path / "a" / "rho0.1.npz", tmp_path / "b" / "rho0.1.npz")       # another seed
    with pytest.raises(InstanceFileError, match="seed = 3 in the file but 4 expected"):
        solve_stage(tmp_path / "b.csv", instance_dir=tmp_path / "b", **run)
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_cli_solve_goes_through_the_solve_core(tmp_path):
    """`greedybench solve` (no slice directory of its own) gives the rows of the solve stage for
    the same instance: same columns, same metrics, only the labels and the timing differ."""
    from greedybench.cli import main
    from greedybench.pipeline.generate import generate_phase_slice
    from greedybench.pipeline.solve import solve_stage
    from greedybench.pipeline.tables import RESULT_COLUMNS
    from greedybench.storage import read_csv

    paths = write_standins(tmp_path / "standins")
    fam = {"ensemble": "gaussian", "signal": "uniform", "amplitude": "gaussian"}
    inst = tmp_path / "slice"
    generate_phase_slice(inst, family_name="gauss", family=fam, N=32, delta=0.5, seed=3,
                         cells=[(0.25, 16, 4)], trials=3, sigma=0.0, dtype="float64")
    success = {"threshold": 1e-3, "linf_threshold": 1e-2, "support_tol": 1e-6}
    solve_stage(tmp_path / "stage.csv", instance_dir=inst, experiment="phase", entry="stub_ls",
                params_json='{"n_iter":1}', solver_files=[str(paths["stub_ls"])], family_name="gauss",
                family=fam, success=success, device="cpu", dtype="float64", threads=1)
    assert main(["solve", "stub_ls", str(inst / "rho0.25.npz"), "--solver-file", str(paths["stub_ls"]),
                 "-o", str(tmp_path / "cli.csv")]) == 0
    stage, cli = read_csv(tmp_path / "stage.csv"), read_csv(tmp_path / "cli.csv")
    assert list(cli[0]) == list(stage[0]) == list(RESULT_COLUMNS) and len(cli) == len(stage) == 3
    assert {r["experiment"] for r in cli} == {"cli"} and not list(tmp_path.glob("**/*.npz.*"))
    labels = {"experiment", "family", "time_per_problem_s", "threads"}
    assert [{k: v for k, v in r.items() if k not in labels} for r in cli] == \
        [{k: v for k, v in r.items() if k not in labels} for r in stage]


@pytest.mark.slow
def test_end_to_end_tiny_config(tmp_path_factory):
    """The session's uninterrupted run of config/tiny.yaml (made once, by tests/test_faults.py's
    ``pipeline_run``, and compared with by the fault and reproducibility tests)."""
    missing = shipped_missing("tiny")
    assert not missing, f"built-in solver entries do not load: {', '.join(missing)}"
    import pandas as pd
    from test_faults import pipeline_run

    workdir = pipeline_run(tmp_path_factory, "reference")
    df = pd.read_csv(workdir / "results" / "tables" / "results.csv")
    cfg = validate_config(yaml.safe_load(open(CONFIG_DIR / "tiny.yaml")))
    assert set(df["entry"]) == set(cfg["solvers"])
    assert (workdir / "results" / "report" / "index.html").exists()
    rc, out = snakemake(workdir, CONFIG_DIR / "tiny.yaml", "-n")
    assert rc == 0 and "Nothing to be done" in out
