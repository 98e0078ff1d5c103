"""Pipeline configuration: load, validate (JSON Schema + semantic checks), fill defaults.

``validate_config`` runs when the Snakefile loads and in ``greedybench run``, so a typo, a wrong
type or an impossible grid stops everything before any job, with an error naming the key:

    ConfigError: config key 'phase_transition.rho': rho = 0.9 gives s = 29 > ... (the check)

The schema is ``workflow/schemas/config.schema.yaml`` (draft 2020-12, ``additionalProperties:
false`` everywhere). The checks a schema cannot express are in :func:`check_semantics`.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

import jsonschema
import torch
import yaml

from ..registry import discover
from . import config_checks as checks
from .config_checks import ConfigError, check_success, load_yaml

__all__ = ["ConfigError", "REPO", "SCHEMA_PATH", "CONFIG_DIR", "load_config", "validate_config",
           "check_semantics", "cell_sizes", "resolve_device", "config_path", "BOUNDED", "fig2_pairs",
           "fig2_enabled", "check_fig2", "schema_problem", "fill_defaults", "check_success", "load_yaml"]

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_DIR = REPO / "config"
COMPLEX_ENSEMBLES = frozenset({"partial_dft"})
#: soft entry -> (Fig. 2 algorithm label, bound function in greedybench.functional.bounds, the
#: soft_vs_hard.fig2 key of its iterations, of its trials)
BOUNDED = {"soft_omp": ("OMP", "omp_bound", "omp_iterations", "omp_trials"),
           "soft_iht": ("IHT", "iht_bound", "iht_iterations", "iht_trials")}


def _key(path: Iterable) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def config_path(name_or_path) -> Path:
    """``'tiny'`` -> config/tiny.yaml; a path is returned as is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return CONFIG_DIR / f"{name_or_path}.yaml"


def _read(p) -> Any:
    try:
        return load_yaml(p)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc


def load_config(path) -> Dict[str, Any]:
    """Read (strict YAML: duplicate keys refused) and validate a config file (or a name in config/)."""
    p = config_path(path)
    return validate_config(_read(p), source=str(p))


_SCHEMA_CACHE: Dict[str, Any] = {}


def _schema():
    if "s" not in _SCHEMA_CACHE:
        with open(SCHEMA_PATH) as fh:
            _SCHEMA_CACHE["s"] = yaml.safe_load(fh)
    return _SCHEMA_CACHE["s"]


def _fill_defaults(node, schema, root):
    """Insert schema ``default`` values for missing properties (recursively)."""
    if "$ref" in schema:
        schema = _resolve_ref(schema["$ref"], root)
    if not isinstance(node, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        sub_r = _resolve_ref(sub["$ref"], root) if "$ref" in sub else sub
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if key in node:
            _fill_defaults(node[key], sub_r, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in node:
            if key not in schema.get("properties", {}):
                _fill_defaults(node[key], extra, root)


def _resolve_ref(ref: str, root):
    node = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _schema_message(err, source: str, what: str) -> str:
    key = _key(err.absolute_path)
    where = f" ({source})" if source else ""
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        bad = ", ".join(repr(e) for e in extra)
        return f"{what} key '{key}'{where}: unknown key {bad} (a typo?){hint}"
    if err.validator == "oneOf" and isinstance(err.instance, (str, bool, float)):
        return (f"{what} key '{key}'{where}: {err.instance!r} is not valid here "
                f"({err.schema.get('description', 'see the schema')})")
    return f"{what} key '{key}'{where}: {err.message}"


def schema_problem(data, schema, *, source: str = "", what: str = "config") -> Optional[str]:
    """None if ``data`` is valid against the JSON Schema ``schema`` (draft 2020-12), else one
    message naming the key: the deepest error of the first failing key."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    first = errors[0]
    same = [e for e in errors if list(e.absolute_path)[:len(first.absolute_path)] == list(first.absolute_path)]
    return _schema_message(max(same, key=lambda e: len(e.absolute_path)), source, what)


def fill_defaults(data, schema) -> None:
    """Insert the schema's ``default`` values for missing properties, in place (recursively)."""
    _fill_defaults(data, schema, schema)


def validate_config(cfg, *, source: str = "", check_solvers: bool = True, files: Iterable = ()) -> Dict[str, Any]:
    """Schema validation, defaults, then :func:`check_semantics`. Returns a new dict.

    ``check_solvers=False`` skips the checks that load solver entries (names, availability,
    parameters and their values, capabilities, training options): the grid alone. ``files``: the
    YAML files ``cfg`` was read from by someone else (Snakemake's ``--configfile``s), re-read
    strictly so that a duplicate key is refused there too.
    """
    for f in files or ():
        _read(f)
    if not isinstance(cfg, dict):
        raise ConfigError(f"config{f' ({source})' if source else ''} must be a mapping; got {type(cfg).__name__}")
    checks.check_finite_tree(cfg)
    cfg = copy.deepcopy(cfg)
    schema = _schema()
    problem = schema_problem(cfg, schema, source=source)
    if problem:
        raise ConfigError(problem)
    fill_defaults(cfg, schema)
    check_semantics(cfg, check_solvers=check_solvers)
    return cfg


# ------------------------------------------------------------------------------------------------
# semantic checks


def cell_sizes(N: int, delta: float, rho: float):
    """(m, s) of a phase-transition cell: m = round(delta N), s = round(rho m)."""
    m = int(round(delta * N))
    s = int(round(rho * m))
    return m, s


def _fail(key: str, msg: str):
    raise ConfigError(f"config key '{key}': {msg}")


def _check_problem(key: str, fam_name: str, fam: dict, m: int, N: int, s: int):
    """Sizes that make_instance accepts for this family, else a ConfigError naming ``key``."""
    if m < 1:
        _fail(key, f"gives m = {m} < 1 (N = {N})")
    if m > N:
        _fail(key, f"gives m = {m} > N = {N}")
    if s < 1:
        _fail(key, f"gives s = {s} < 1 at m = {m}, N = {N}: increase rho or N")
    if s > m:
        _fail(key, f"gives s = {s} > m = {m} (at most m nonzeros can be recovered)")
    ens, sig = fam["ensemble"], fam["signal"]
    if ens == "partial_dft":
        if N % 2:
            _fail(key, f"family {fam_name!r} (partial_dft) needs an even N; got N = {N}")
        if m > N - 1:
            _fail(key, f"family {fam_name!r} (partial_dft) needs m <= N - 1 = {N - 1}; got m = {m}")
    if sig == "latent":
        K = fam.get("K")
        if K is not None and K < s:
            _fail(key, f"family {fam_name!r}: K = {K} < s = {s} (supports are s-subsets of the hidden K-set)")
        if K is not None and K > N:
            _fail(key, f"family {fam_name!r}: K = {K} > N = {N}")
    if sig == "block":
        b = fam.get("block")
        if b is None:
            _fail(f"families.{fam_name}.block", "required with signal 'block'")
        if N % b:
            _fail(key, f"family {fam_name!r}: block = {b} does not divide N = {N}")
        if s % b:
            _fail(key, f"family {fam_name!r}: block = {b} does not divide s = {s}")


def _solver_entries(cfg):
    return discover(cfg.get("solver_files", []))


def check_semantics(cfg: Dict[str, Any], *, check_solvers: bool = True) -> None:
    """Checks a schema cannot express; raises ConfigError naming the key."""
    fams = cfg["families"]
    for name, fam in fams.items():
        if fam.get("K") is not None and fam["signal"] != "latent":
            _fail(f"families.{name}.K", f"only used with signal 'latent'; family has signal {fam['signal']!r}")
        if fam.get("block") is not None and fam["signal"] != "block":
            _fail(f"families.{name}.block", f"only used with signal 'block'; family has signal {fam['signal']!r}")
        if fam["signal"] == "block" and fam.get("block") is None:
            _fail(f"families.{name}.block", "required with signal 'block'")

    def ref(key, fam):
        if fam not in fams:
            _fail(key, f"unknown family {fam!r}; families: {', '.join(sorted(fams))}")

    pt = cfg["phase_transition"]
    for i, f in enumerate(pt["families"]):
        ref(f"phase_transition.families[{i}]", f)
    if pt["enabled"]:
        for N in pt["N"]:
            ms = {}
            for delta in pt["delta"]:
                m, _ = cell_sizes(N, delta, 0)
                if m in ms:
                    _fail("phase_transition.delta", f"delta = {ms[m]} and {delta} both give m = {m} at N = {N}")
                ms[m] = delta
                for rho in pt["rho"]:
                    m, s = cell_sizes(N, delta, rho)
                    for f in pt["families"]:
                        _check_problem("phase_transition.rho", f, fams[f], m, N, s)

    tr = cfg["training"]
    sets = tr["sets"]
    for name, ts in sets.items():
        ref(f"training.sets.{name}.family", ts["family"])
        if tr["enabled"]:
            _check_problem(f"training.sets.{name}", ts["family"], fams[ts["family"]], ts["m"], ts["N"], ts["s"])
    baselines = tr.get("baselines", [])
    for i, b in enumerate(baselines):
        if b not in cfg["solvers"]:
            _fail(f"training.baselines[{i}]", f"{b!r} is not in `solvers`")
    sv, tm = cfg["soft_vs_hard"], cfg["timing"]
    if sv["enabled"]:
        ref("soft_vs_hard.family", sv["family"])
        _check_problem("soft_vs_hard", sv["family"], fams[sv["family"]], sv["m"], sv["N"], sv["s"])
    if tm["enabled"]:
        ref("timing.family", tm["family"])
        for N in sorted(set(tm["N"]) | {tm["N_for_batch"]}):
            m, s = cell_sizes(N, tm["delta"], tm["rho"])
            _check_problem("timing", tm["family"], fams[tm["family"]], m, N, s)
    if cfg["report"]["enabled"] and not cfg["figures"]["enabled"]:
        _fail("report.enabled", "the report needs the figures: set figures.enabled to true or report.enabled to false")
    checks.check_parameter_lists(cfg)
    checks.check_device(cfg["device"])
    checks.check_grid_size(cfg, cell_sizes)
    if check_solvers:
        _check_solvers(cfg, pt, tr, sets, baselines, sv, tm, fams, ref)
        entries = _solver_entries(cfg)
        checks.check_train_options(cfg, entries)
        checks.check_solver_parameters(cfg, entries, cell_sizes)


def _check_solvers(cfg, pt, tr, sets, baselines, sv, tm, fams, ref):
    """The checks that load solver entries."""
    entries = _solver_entries(cfg)
    known = ", ".join(k for k, e in entries.items() if e.available) or "none"
    for name, over in cfg["solvers"].items():
        key = f"solvers.{name}"
        if name not in entries:
            _fail(key, f"unknown solver {name!r}; known solvers: {known}")
        e = entries[name]
        if not e.available:
            _fail(key, f"solver {name!r} ({e.path}) is unavailable: {e.reason}. Fix it or remove it from the config")
        for p in over.get("parameters", {}):
            if p not in e.parameters:
                _fail(f"{key}.parameters.{p}", f"{name!r} has no parameter {p!r}; its parameters: "
                                               f"{', '.join(map(str, e.parameters)) or 'none'}")
        for i, f in enumerate(over.get("families", [])):
            if f not in pt["families"]:
                _fail(f"{key}.families[{i}]", f"family {f!r} is not in phase_transition.families "
                                              f"({', '.join(pt['families'])})")
        for i, t in enumerate(over.get("training_sets", [])):
            if t not in sets:
                _fail(f"{key}.training_sets[{i}]", f"unknown training set {t!r}; sets: {', '.join(sets)}")
        in_training = e.trained or name in baselines
        if e.trained:
            if not tr["enabled"]:
                _fail(key, f"{name!r} is a trained solver but training.enabled is false; enable training or remove it")
            if name in baselines:
                _fail("training.baselines", f"{name!r} is a trained solver; baselines are untrained solvers")
            if "families" in over:
                _fail(f"{key}.families", "a trained solver runs on training sets: use training_sets")
        elif "training_sets" in over and name not in baselines:
            _fail(f"{key}.training_sets", f"{name!r} is neither trained nor in training.baselines")
        if in_training and tr["enabled"]:
            for t in over.get("training_sets") or sets:
                _check_complex(key, e, sets[t]["family"], fams[sets[t]["family"]])
        phase_fams = [] if e.trained else (over["families"] if "families" in over else pt["families"])
        if pt["enabled"]:
            for f in phase_fams:
                _check_complex(key, e, f, fams[f])
        used = (pt["enabled"] and phase_fams) or (in_training and tr["enabled"])
        if not used and not (cfg["timing"]["enabled"] and over.get("timing", True) and not e.trained):
            _fail(key, f"{name!r} runs nowhere (no phase-transition family, not trained, not a baseline, "
                       "not timed); remove it or give it a place to run")

    if sv["enabled"]:
        for i, pair in enumerate(sv["pairs"]):
            for role in ("soft", "hard"):
                name = pair[role]
                k = f"soft_vs_hard.pairs[{i}].{role}"
                if name not in entries:
                    _fail(k, f"unknown solver {name!r}; known solvers: {known}")
                if not entries[name].available:
                    _fail(k, f"solver {name!r} is unavailable: {entries[name].reason}")
                if entries[name].trained:
                    _fail(k, f"{name!r} is a trained solver")
                _check_complex(k, entries[name], sv["family"], fams[sv["family"]])
            if "tau" not in entries[pair["soft"]].parameters:
                _fail(f"soft_vs_hard.pairs[{i}].soft", f"{pair['soft']!r} has no 'tau' parameter")
            for p in pair.get("parameters", {}):
                if not any(p in entries[pair[r]].parameters for r in ("soft", "hard")):
                    _fail(f"soft_vs_hard.pairs[{i}].parameters.{p}", "neither solver declares this parameter")
        if sv.get("bounds"):
            try:
                importlib.import_module("greedybench.functional.bounds")
            except ImportError as exc:
                _fail("soft_vs_hard.bounds", f"true, but greedybench.functional.bounds cannot be imported ({exc}); "
                                             "set it to false")

    if tm["enabled"]:
        for name, over in cfg["solvers"].items():
            if over.get("timing", True) and not entries[name].trained:
                _check_complex(f"solvers.{name}.timing", entries[name], tm["family"], fams[tm["family"]])


def _check_complex(key: str, entry, fam_name: str, fam: dict):
    if fam["ensemble"] in COMPLEX_ENSEMBLES and not entry.capabilities.get("complex", False):
        _fail(key, f"solver {entry.name!r} is real-only (capabilities['complex'] is False) but family "
                   f"{fam_name!r} uses the complex ensemble {fam['ensemble']!r}")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' if available else 'cpu'; others unchanged."""
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------------------------------------
# soft_vs_hard.fig2 (the Fig. 2 table): when it is made, and the checks a schema cannot express


def fig2_pairs(pairs: list) -> list:
    return [p for p in pairs if p["soft"] in BOUNDED]


def fig2_enabled(sv: dict) -> bool:
    """The fig2 table is made when the section and its fig2 block are on and a pair is bounded
    (a config whose pairs are all other solvers, e.g. stand-ins, simply has no Fig. 2)."""
    return bool(sv["enabled"] and (sv.get("fig2") or {}).get("enabled") and fig2_pairs(sv["pairs"]))


def check_fig2(sv: dict) -> None:
    """Checks of soft_vs_hard.fig2 a schema cannot express (ConfigError naming the key)."""
    f2 = sv.get("fig2") or {}
    if not sv.get("enabled") or not f2.get("enabled", False):
        return
    omp = f2.get("omp_iterations") or []
    if omp and max(omp) > min(sv["m"], sv["N"]):
        raise ConfigError(f"config key 'soft_vs_hard.fig2.omp_iterations': {max(omp)} > min(m, N) = "
                          f"{min(sv['m'], sv['N'])} (OMP selects one new column per iteration)")
    if f2.get("iht_iterations") and sv["s"] >= sv["N"]:
        raise ConfigError("config key 'soft_vs_hard.s': the IHT bound needs s < N")
