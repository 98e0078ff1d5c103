# Config loading and the named helpers the rules use (no logic in rules, no lambdas).
import hashlib
import json
import re
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import update_config

from greedybench import leaderboard as _lb
from greedybench.datasets.instance import FORMAT_VERSION, GENERATOR_VERSION
from greedybench.pipeline.config import (
    BOUNDED,
    CONFIG_DIR,
    check_fig2,
    fig2_enabled as _fig2_on,
    load_config,
    validate_config,
)
from greedybench.pipeline.plan import Plan
from greedybench.pipeline.soft_vs_hard import code_version
from greedybench.pipeline.tables import TABLE_VERSION
from greedybench.registry import discover as _lb_discover

# No --configfile: the embedded default, with any --config key=value on top. A --configfile is a
# complete config on its own (never merged with the default). Validation runs here, before any job.
if "families" not in config:
    _overrides = dict(config)
    config.clear()
    config.update(load_config(CONFIG_DIR / "default.yaml"))
    update_config(config, _overrides)
CFG = validate_config(
    config, source="snakemake config", files=workflow.overwrite_configfiles
)
check_fig2(CFG["soft_vs_hard"])
PLAN = Plan(CFG)
DEVICE = PLAN.device
# Jobs ask for a GPU only when the experiment runs on CUDA (a CPU run announces no GPU resource).
GPU = {"gpu": 1} if DEVICE == "cuda" else {}
# ... and then at most one GPU job at a time on this machine: Snakemake does not hand out device
# ids locally (snakemake#281). A --resources gpu=N on the command line wins; a cluster executor
# (profiles/slurm) schedules GPUs itself.
if GPU and workflow.local_exec and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", 1)
# The interpreter running Snakemake (its venv has greedybench): the leaderboard's shell commands
# run `python -m greedybench` with it.
PYTHON = sys.executable


def _alternatives(values):
    return "|".join(re.escape(v) for v in sorted(set(values))) or "^$"


wildcard_constraints:
    family=_alternatives(CFG["families"]),
    tset=_alternatives(CFG["training"]["sets"]),
    group=_alternatives(list(CFG["families"]) + list(CFG["training"]["sets"])),
    variant=_alternatives(PLAN.variants),
    slice=r"N\d+_delta[0-9.e+-]+_seed\d+|test",
    experiment="phase|train",


def solver_params(wildcards):
    """Entry name, params JSON and version hash: a changed solver reruns only its jobs."""
    v = PLAN.variant(wildcards.variant)
    return {
        "entry": v.entry.name,
        "params_json": v.params_json,
        "version": v.version,
        "solver_files": PLAN.solver_files_of([v.entry.name]),
    }


def family_params(wildcards):
    """The family of a phase slice ({family}), a training set ({tset}) or a run group ({group})."""
    if "family" in wildcards.keys():
        name = wildcards.family
    elif "tset" in wildcards.keys():
        name = PLAN.family_of("train", wildcards.tset)
    else:
        name = PLAN.family_of(wildcards.experiment, wildcards.group)
    return {"family_name": name, "family": CFG["families"][name]}


def phase_slice_params(wildcards):
    sl = PLAN.slice(wildcards.family, wildcards.slice)
    pt = CFG["phase_transition"]
    return {
        "N": sl.N,
        "delta": sl.delta,
        "seed": sl.seed,
        "cells": [list(c) for c in sl.cells],
        "trials": pt["trials"],
        "sigma": pt["sigma"],
    }


def training_data_params(wildcards):
    tr = CFG["training"]
    ts = tr["sets"][wildcards.tset]
    return {
        "set_name": wildcards.tset,
        **{k: ts[k] for k in ("m", "N", "s", "sigma")},
        **{k: tr[k] for k in ("n_train", "n_val", "n_test", "seed")},
    }


def train_options(wildcards):
    return PLAN.train_options(wildcards.variant)


def solve_inputs(wildcards):
    """The instance slice, plus the trained state for a trained solver."""
    if wildcards.experiment == "phase":
        out = {
            "instances": f"results/instances/phase/{wildcards.group}/{wildcards.slice}"
        }
    else:
        out = {"instances": f"results/instances/train/{wildcards.group}/test"}
    if PLAN.variant(wildcards.variant).entry.trained:
        out["model"] = f"results/models/{wildcards.variant}/{wildcards.group}.pt"
    return out


def solve_mem_mb(wildcards):
    """A generous estimate: the largest A of the slice (a copy per problem) times 8, plus 1 GB."""
    pt, tr = CFG["phase_transition"], CFG["training"]
    N = max(pt["N"] + [t["N"] for t in tr["sets"].values()])
    B = max(pt["trials"], tr["n_test"], tr["n_train"])
    return 1000 + (16 * B * N * N * 8) // 1_000_000


def timing_params(wildcards):
    tm = CFG["timing"]
    keys = (
        "delta",
        "rho",
        "N",
        "batch_for_N",
        "batch_sizes",
        "N_for_batch",
        "repeats",
        "warmup",
    )
    return {
        "family_name": tm["family"],
        "family": CFG["families"][tm["family"]],
        "seed": CFG["seeds"]["base"],
        **{k: tm[k] for k in keys},
    }


def soft_vs_hard_params(wildcards):
    """The section, plus the versions of every solver it runs (a changed one reruns the job)."""
    sv = CFG["soft_vs_hard"]
    keys = ("pairs", "tau", "m", "N", "s", "sigma", "trials", "bounds")
    out = {
        "family_name": sv["family"],
        "family": CFG["families"][sv["family"]],
        "seed": CFG["seeds"]["base"],
        "versions": PLAN.soft_vs_hard_versions(),
        "solver_files": PLAN.solver_files_of(PLAN.soft_vs_hard_versions()),
        **{k: sv[k] for k in keys},
    }
    if sv["bounds"]:
        out["code"] = (
            code_version()
        )  # the bound functions' source (not part of a solver's version)
    return out


def fig2_enabled():
    return _fig2_on(CFG["soft_vs_hard"])


def fig2_params(wildcards):
    """The section with its fig2 block, plus the versions of the bounded solvers and of the bound
    and Fig. 2 sources (a change in any of them reruns the job)."""
    sv = CFG["soft_vs_hard"]
    keys = ("pairs", "tau", "m", "N", "s", "sigma", "trials", "bounds", "fig2")
    names = sorted(
        {p[r] for p in sv["pairs"] if p["soft"] in BOUNDED for r in ("soft", "hard")}
    )
    versions = {n: v for n, v in PLAN.soft_vs_hard_versions().items() if n in names}
    return {
        "family_name": sv["family"],
        "family": CFG["families"][sv["family"]],
        "seed": CFG["seeds"]["base"],
        "versions": versions,
        "code": code_version(),
        "solver_files": PLAN.solver_files_of(names),
        **{k: sv[k] for k in keys},
    }


def fig2_mem_mb(wildcards):
    """Per problem: the N x N Gram / iteration matrices and the soft paths of every tau, x 3."""
    sv = CFG["soft_vs_hard"]
    f2, N, T = sv["fig2"], sv["N"], len(sv["tau"])
    B = max(f2.get("omp_trials") or sv["trials"], f2.get("iht_trials") or sv["trials"])
    n = max(f2["omp_iterations"] + f2["iht_iterations"] + [1])
    return (
        1000
        + (
            3
            * 8
            * B
            * (4 * N * N + 2 * T * (n + 1) * N + n * sv["s"] * N + T * sv["s"] * N)
        )
        // 1_000_000
    )


def figure_extras(wildcards):
    """Optional tables handed to make_figures, by configuration (never by file presence)."""
    out = {}
    if PLAN.timed():
        out["timing"] = "results/tables/timing.csv"
    if CFG["soft_vs_hard"]["enabled"]:
        out["soft_vs_hard"] = "results/tables/soft_vs_hard.csv"
    if fig2_enabled():
        out["fig2"] = "results/tables/fig2.csv"
    if PLAN.transition_jobs():
        out["transitions"] = "results/tables/transitions.csv"
        out["transition_counts"] = "results/tables/transition_counts.csv"
    files = [
        f
        for spec in training_panels(wildcards).values()
        for f in (spec["loss_csv"], spec["weights_csv"], spec["errors_csv"])
    ]
    if files:
        out["training_files"] = files
    return out


def training_table_inputs(wildcards):
    """The trained state, the training split (hidden set T) and the test-split runs of the net and
    of the baselines run on the same training set."""
    slug, tset = wildcards.variant, wildcards.tset
    runs = [
        f"results/runs/train/{v}/{t}/test.csv"
        for v, t in PLAN.train_runs()
        if t == tset and (v == slug or not PLAN.variant(v).entry.trained)
    ]
    return {
        "model": f"results/models/{slug}/{tset}.pt",
        "data": f"results/instances/train/{tset}/trainval",
        "runs": runs,
    }


def training_table_params(wildcards):
    return {"net": PLAN.variant(wildcards.variant).name, "training_set": wildcards.tset}


def training_panels(wildcards):
    """Fig. 3 panels per trained variant x training set: the three tables of training_tables."""
    out = {}
    tr = CFG["training"]
    for slug, tset in PLAN.models():
        ts, d = tr["sets"][tset], f"results/tables/training/{slug}/{tset}"
        out[f"{PLAN.variant(slug).name} on {tset}"] = {
            "loss_csv": f"{d}/loss.csv",
            "weights_csv": f"{d}/weights.csv",
            "errors_csv": f"{d}/errors.csv",
            "description": (
                f"Training set {tset}: family {ts['family']}, m = {ts['m']}, N = {ts['N']}, "
                f"s = {ts['s']}, sigma = {ts['sigma']:g}; {tr['n_train']} train / {tr['n_val']} "
                f"validation / {tr['n_test']} test samples."
            ),
        }
    return out


# ------------------------------------------------------------------------------------------------
# The leaderboard (workflow/rules/leaderboard.smk) on the official grid, whatever --configfile.

LB_GRID_FILE = str(_lb.GRID_FILE)
LB_GRID = _lb.load_grid(LB_GRID_FILE)
LB_VARIANTS, _ = _lb.plan_entries(LB_GRID, _lb_discover(), versions=False)


def _lb_family_params(wildcards):
    """The instances of a family depend on these only (a change regenerates them)."""
    return {
        "key": LB_GRID.instance_key(wildcards.lbfamily),
        "deltas": list(LB_GRID.delta),
    }


def _lb_instances_root(wildcards, input):
    """The directory holding one instance directory per family (the inputs' parent)."""
    return str(Path(input.instances[0]).parent)


def _lb_status_json(wildcards):
    """Status rows (with version hashes) of the entries not run: unavailable, trained, oracles."""
    return json.dumps(_lb.plan_entries(LB_GRID, _lb_discover())[1], sort_keys=True)


def _lb_solver_params(wildcards):
    """Entry, parameters and version hash: a changed solver (or kernel) reruns only its job."""
    v = LB_VARIANTS[wildcards.lbvariant]
    return {
        "entry": v.entry.name,
        "params_json": v.params_json,
        "version": v.version,
        "grid": LB_GRID.sha,
    }


_LB_WARNED = set()


def report_leaderboard(wildcards):
    """The report's leaderboard table (config report.leaderboard, e.g. the committed
    results/leaderboard.csv) and its checksum, or None when it is not configured.

    A relative path is looked up in the working directory, then in the repository (the committed
    table, for a run with --directory elsewhere); a table found nowhere is left out of the report,
    with a warning. A parameter, not an input: as an input it would pull the leaderboard rules
    (minutes of solving, never run by the default target) into every DAG, and Snakemake would
    report their missing metadata on a fresh clone. The checksum redraws the report when the
    table changes (e.g. after `snakemake leaderboard`; run that first when both are wanted).
    """
    path = CFG["report"].get("leaderboard")
    if not path:
        return None
    found = next(
        (p for p in (Path(path), CONFIG_DIR.parent / path) if p.is_file()), None
    )
    if found is None:
        if path not in _LB_WARNED:
            _LB_WARNED.add(path)
            logger.warning(
                f"report.leaderboard: {path} does not exist (here or in the repository): the "
                "report has no leaderboard table; make it with `snakemake --cores 2 leaderboard`"
            )
        return {"path": None, "sha256": None}
    digest = hashlib.sha256(found.read_bytes()).hexdigest()
    return {"path": str(found), "sha256": digest}


def transition_job_params(wildcards):
    """Everything the job reads: a changed solver, protocol or criterion reruns only its jobs."""
    return PLAN.transition_params(wildcards.family, wildcards.tvariant)


# ------------------------------------------------------------------------------------------------
# The learned-solver studies (workflow/rules/studies.smk), named targets outside the default one.

STUDIES = "results/studies"
_B1_DEFAULT_SCALE = {"b1": "full", "b1_ci": "ci"}


def b1_study_args(wildcards):
    """The command-line options of greedybench.studies.lista_b1 for target {b1target}."""
    st = CFG["studies"][wildcards.b1target]
    args = ["--scale", st.get("scale", _B1_DEFAULT_SCALE[wildcards.b1target])]
    for snr in st.get("snrs") or []:
        args += ["--snr", str(snr)]
    if st.get("steps"):
        args += ["--steps", str(st["steps"])]
    if st.get("alista_paper"):
        args.append("--alista-paper")
    args += ["--seed", str(st.get("seed", 0)), "--threads", str(st.get("threads", 1))]
    return " ".join(args)


def study_runtime(wildcards):
    """Minutes a study job may run on a cluster (profiles/slurm): the full B1 trains for hours."""
    return {"b1": 24 * 60, "b1_ci": 60}.get(wildcards.get("b1target"), 6 * 60)


def study_folder(wildcards, output):
    """The folder of a study's outputs (its resume state lives there too)."""
    return str(Path(output[0]).parent)


def latent_study_args(wildcards):
    st = CFG["studies"]["latent_transition"]
    args = ["--scale", st.get("scale", "small"), "--seed", str(st.get("seed", 0))]
    if st.get("steps"):
        args += ["--steps", str(st["steps"])]
    args += ["--threads", str(st.get("threads", 1))]
    return " ".join(args)


def _digest(paths):
    h = hashlib.sha256()
    for p in paths:
        if p.is_file():
            for part in (p.name.encode(), b"\0", p.read_bytes()):
                h.update(part)
    return h.hexdigest()


def learned_study_outputs(wildcards):
    """The study folders whose tables exist (full B1 before the CI-scale one), with a checksum of
    their tables: the figures are redrawn when a study finishes or changes. By presence, as a
    parameter: as inputs they would pull hours of training into every run."""
    out = {}
    for target in ("b1", "b1_ci"):
        folder = Path(STUDIES) / target
        if (folder / "b1_layers.csv").is_file():
            files = [
                folder / f
                for f in ("b1_layers.csv", "b1_results.csv", "b1_training.csv")
            ]
            out["learned_b1"] = {"path": str(folder), "sha256": _digest(files)}
            break
    folder = Path(STUDIES) / "latent_transition"
    if (folder / "latent_rho_star.csv").is_file():
        files = [folder / f for f in ("latent_rho_star.csv", "latent_cells.csv")]
        out["learned_transitions"] = {"path": str(folder), "sha256": _digest(files)}
    return out
