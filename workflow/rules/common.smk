# Config loading and the named helpers the rules use (no logic in rules, no lambdas).
import re

from snakemake.utils import update_config

from greedybench.datasets.instance import FORMAT_VERSION, GENERATOR_VERSION
from greedybench.pipeline.config import CONFIG_DIR, load_config, validate_config
from greedybench.pipeline.plan import Plan
from greedybench.pipeline.tables import TABLE_VERSION

# No --configfile: the embedded default, with any --config key=value on top. A --configfile is a
# complete config on its own (never merged with the default). Validation runs here, before any job.
if "families" not in config:
    _overrides = dict(config)
    config.clear()
    config.update(load_config(CONFIG_DIR / "default.yaml"))
    update_config(config, _overrides)
CFG = validate_config(config, source="snakemake config")
PLAN = Plan(CFG)
DEVICE = PLAN.device
GPU = {"gpu": 1} if DEVICE == "cuda" else {}


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
    return {"entry": v.entry.name, "params_json": v.params_json, "version": v.version,
            "solver_files": PLAN.solver_files_of([v.entry.name])}


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
    return {"N": sl.N, "delta": sl.delta, "seed": sl.seed, "cells": [list(c) for c in sl.cells],
            "trials": pt["trials"], "sigma": pt["sigma"]}


def training_data_params(wildcards):
    tr = CFG["training"]
    ts = tr["sets"][wildcards.tset]
    return {"set_name": wildcards.tset, **{k: ts[k] for k in ("m", "N", "s", "sigma")},
            **{k: tr[k] for k in ("n_train", "n_val", "n_test", "seed")}}


def train_options(wildcards):
    return PLAN.train_options(wildcards.variant)


def solve_inputs(wildcards):
    """The instance slice, plus the trained state for a trained solver."""
    if wildcards.experiment == "phase":
        out = {"instances": f"results/instances/phase/{wildcards.group}/{wildcards.slice}"}
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
    keys = ("delta", "rho", "N", "batch_for_N", "batch_sizes", "N_for_batch", "repeats", "warmup")
    return {"family_name": tm["family"], "family": CFG["families"][tm["family"]],
            "seed": CFG["seeds"]["base"], **{k: tm[k] for k in keys}}


def soft_vs_hard_params(wildcards):
    """The section, plus the versions of every solver it runs (a changed one reruns the job)."""
    sv = CFG["soft_vs_hard"]
    keys = ("pairs", "tau", "m", "N", "s", "sigma", "trials", "bounds")
    return {"family_name": sv["family"], "family": CFG["families"][sv["family"]],
            "seed": CFG["seeds"]["base"], "versions": PLAN.soft_vs_hard_versions(),
            "solver_files": PLAN.solver_files_of(PLAN.soft_vs_hard_versions()), **{k: sv[k] for k in keys}}


def figure_extras(wildcards):
    """Optional tables handed to make_figures, by configuration (never by file presence)."""
    out = {}
    if PLAN.timed():
        out["timing"] = "results/tables/timing.csv"
    if CFG["soft_vs_hard"]["enabled"]:
        out["soft_vs_hard"] = "results/tables/soft_vs_hard.csv"
    return out
