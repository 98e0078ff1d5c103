"""Config checks beyond the schema, run by :func:`greedybench.pipeline.config.validate_config` when
the config loads (the Snakefile, ``greedybench run``), so ``snakemake -n`` refuses a bad value
before any job, with a message naming the key:

* strict YAML: a duplicate key is an error (:class:`UniqueKeyLoader`), not "the last one wins";
* every number finite: ``.nan`` / ``.inf`` anywhere (thresholds, sigma, taus, options) refused;
* no duplicate values in a solver's parameter list (they would give two jobs with one path);
* ``device: cuda`` needs a CUDA device here;
* the size of the grid: an instance that cannot fit in memory, or more than :data:`MAX_PROBLEMS`
  problems, is refused naming the size (a warning from :data:`WARN_PROBLEMS` on);
* solver parameter values given in the config: each such variant is called on an *empty* batch
  (B = 0) at the smallest (m, N, s) where it will run (the bounds only get looser with size); the solvers validate their
  parameters at the public boundary and an empty batch does almost no work, so ``n_iter: 0``,
  ``step: -1`` or ``n_iter`` above min(m, N) for OMP are found here instead of inside a job;
* training options: TrainConfig fields validated, unknown and reserved keys refused.

The checks raise :class:`ConfigCheckError`, a :class:`ConfigError` (config.py's error) with ``key``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import shutil
import warnings
from typing import Any, Dict, Iterable, Optional

import yaml

from .._validation import GreedybenchError, InvalidParameterError

__all__ = ["UniqueKeyLoader", "ConfigError", "ConfigCheckError", "ConfigSizeWarning", "load_yaml", "check_finite_tree",
           "check_parameter_lists", "check_device", "check_grid_size", "check_solver_parameters",
           "check_train_options", "check_success", "MAX_PROBLEMS", "WARN_PROBLEMS"]

#: more problems than this in one config is refused (``GREEDYBENCH_MAX_PROBLEMS`` overrides)
MAX_PROBLEMS = 10**9
#: from this many problems on, a warning names the size
WARN_PROBLEMS = 10**7
_RESERVED_TRAIN = {"seed": "training.seed", "progress": None, "out_dir": None}


class ConfigError(GreedybenchError, ValueError):
    """The configuration is invalid; the message names the offending key."""


class ConfigCheckError(ConfigError):
    """A config check failed; ``key`` is the dotted config key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config key '{key}': {message}")
        self.key = key


class ConfigSizeWarning(UserWarning):
    """A large but feasible grid."""


def _key(path: Iterable) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


# ------------------------------------------------------------------------------------------------
# YAML


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (YAML's "last one wins"
    would silently drop the first value). Merge keys (``<<``) keep their usual meaning."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: Dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:          # an unhashable key: SafeLoader reports it itself
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r} (first at line {first.line + 1}); YAML would keep "
                        "only the last value, so one of them is silently ignored: remove one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml(path):
    """Parse a YAML file with :class:`UniqueKeyLoader` (OSError and yaml.YAMLError propagate)."""
    with open(path) as fh:
        return yaml.load(fh, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


# ------------------------------------------------------------------------------------------------
# values


def check_finite_tree(node, path=()) -> None:
    """Every float in the config is finite: NaN and Inf are refused wherever they appear."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigCheckError(_key(path), f"{node!r} is not a finite number (NaN and Inf are refused "
                                           "everywhere: a NaN threshold fails every problem, an Inf one "
                                           "passes every problem, a NaN sigma makes NaN data)")
    if isinstance(node, dict):
        for k, v in node.items():
            check_finite_tree(v, path + (k,))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            check_finite_tree(v, path + (i,))


def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def check_parameter_lists(cfg: dict) -> None:
    """No value twice in one parameter list (two variants with the same name and path)."""
    for name, over in cfg["solvers"].items():
        for p, values in (over.get("parameters") or {}).items():
            seen: Dict[str, int] = {}
            for i, v in enumerate(values):
                c = _canon(v)
                if c in seen:
                    raise ConfigCheckError(f"solvers.{name}.parameters.{p}",
                                           f"duplicate value {v!r} (positions {seen[c]} and {i}); each "
                                           "value is one variant, list it once")
                seen[c] = i


def check_device(device: str) -> None:
    """``cuda`` needs a CUDA device on this machine. ``GREEDYBENCH_SKIP_DEVICE_CHECK=1`` skips the
    check; on a Slurm submit host (``sbatch`` on the PATH), whose jobs run on GPU nodes, a missing
    GPU is a warning (the jobs check their device themselves)."""
    if device != "cuda" or os.environ.get("GREEDYBENCH_SKIP_DEVICE_CHECK") == "1":
        return
    import torch

    if not torch.cuda.is_available():
        if shutil.which("sbatch"):
            warnings.warn("config device 'cuda' but no CUDA device on this (Slurm submit) host: the jobs "
                          "must land on GPU nodes", UserWarning, stacklevel=3)
            return
        raise ConfigCheckError("device", "'cuda' but torch finds no CUDA device here "
                                         "(torch.cuda.is_available() is False); use 'auto' (cuda when "
                                         "available, else cpu) or 'cpu'. On a submit host without a GPU "
                                         "set GREEDYBENCH_SKIP_DEVICE_CHECK=1")


def check_success(success: dict, *, key: str = "success") -> dict:
    """The success rule: ``threshold`` (required), ``linf_threshold`` and ``support_tol`` finite
    numbers > 0. For callers outside a config (``greedybench solve --threshold``). Returns the
    rule with defaults filled in."""
    if not isinstance(success, dict):
        raise ConfigCheckError(key, f"must be a mapping; got {type(success).__name__}")
    out = {"linf_threshold": 1e-2, "support_tol": 1e-6, **success}
    if "threshold" not in out:
        raise ConfigCheckError(key, "'threshold' is required")
    for name in ("threshold", "linf_threshold", "support_tol"):
        v = out[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigCheckError(f"{key}.{name}", f"must be a finite number > 0; got {v!r}")
    unknown = sorted(set(out) - {"threshold", "linf_threshold", "support_tol"})
    if unknown:
        raise ConfigCheckError(key, f"unknown key(s) {unknown}")
    return out


# ------------------------------------------------------------------------------------------------
# size


def _memory_bytes() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _instance_bytes(fam: dict, B: int, m: int, N: int, s: int, itemsize: int) -> int:
    """Memory of one drawn instance in float64 (the generator draws in float64), A per problem or shared."""
    cplx = 2 if fam["ensemble"] == "partial_dft" else 1
    a = (1 if fam.get("shared_A") else B) * m * N * cplx
    return 8 * (a + B * N + B * m * cplx + B * s) + itemsize * a


def check_grid_size(cfg: dict, cell_sizes, *, memory: Optional[int] = None) -> int:
    """Refuse an instance larger than the machine's memory and a grid of more than MAX_PROBLEMS
    problems (warn from WARN_PROBLEMS on), naming the size. Returns the number of problems."""
    limit = int(os.environ.get("GREEDYBENCH_MAX_PROBLEMS", MAX_PROBLEMS))
    memory = _memory_bytes() if memory is None else memory
    itemsize = 4 if cfg["dtype"] == "float32" else 8
    fams = cfg["families"]
    biggest = (0, "", "")                                   # bytes, key, description
    total = 0

    def instance(key, fam_name, B, m, N, s):
        nonlocal biggest
        b = _instance_bytes(fams[fam_name], B, m, N, s, itemsize)
        if b > biggest[0]:
            biggest = (b, key, f"{B} problems x m = {m} x N = {N}, family {fam_name!r}")

    pt = cfg["phase_transition"]
    if pt["enabled"]:
        reps, trials = cfg["seeds"]["replicates"], pt["trials"]
        for f in pt["families"]:
            for N in pt["N"]:
                for delta in pt["delta"]:
                    ss = set()
                    for rho in pt["rho"]:
                        m, s = cell_sizes(N, delta, rho)
                        if s not in ss:
                            ss.add(s)
                            instance("phase_transition.trials", f, trials, m, N, s)
                    total += len(ss) * trials * reps
    tr = cfg["training"]
    if tr["enabled"]:
        n = tr["n_train"] + tr["n_val"] + tr["n_test"]
        for name, ts in tr["sets"].items():
            instance(f"training.sets.{name}", ts["family"], n, ts["m"], ts["N"], ts["s"])
            total += n
    sv = cfg["soft_vs_hard"]
    if sv["enabled"]:
        instance("soft_vs_hard.trials", sv["family"], sv["trials"], sv["m"], sv["N"], sv["s"])
        total += sv["trials"] * len(sv["tau"])
    tm = cfg["timing"]
    if tm["enabled"]:
        for N in set(tm["N"]) | {tm["N_for_batch"]}:
            m, s = cell_sizes(N, tm["delta"], tm["rho"])
            for B in set(tm["batch_sizes"]) | {tm["batch_for_N"]}:
                instance("timing", tm["family"], B, m, N, s)
    if memory and biggest[0] > memory:
        raise ConfigCheckError(biggest[1], f"one instance needs about {_fmt_bytes(biggest[0])} of memory "
                                           f"({biggest[2]}), more than this machine's {_fmt_bytes(memory)}; "
                                           "reduce the trials / sizes")
    if total > limit:
        raise ConfigCheckError("phase_transition" if pt["enabled"] else "training",
                               f"the config has {total:.3g} problems, more than the limit of {limit:.3g} "
                               "(families x N x delta x rho x replicates x trials, plus training and "
                               "soft-vs-hard problems); reduce the grid, or raise GREEDYBENCH_MAX_PROBLEMS")
    if total > WARN_PROBLEMS:
        warnings.warn(f"config has {total:.3g} problems (largest instance {_fmt_bytes(biggest[0])}, "
                      f"{biggest[1]}): a long run", ConfigSizeWarning, stacklevel=3)
    return total


# ------------------------------------------------------------------------------------------------
# solver parameters and training options


def _param_key(name: str, err: str, params: dict) -> str:
    hit = [p for p in params if re.search(rf"\b{re.escape(str(p))}\b", err)]
    return f"solvers.{name}.parameters" + (f".{hit[0]}" if len(hit) == 1 else "")


def _tightest(sizes: dict) -> dict:
    """Per dtype, the sizes with the smallest m, min(m, N) and s: the parameter bounds of the
    solvers (s <= m, n_iter <= min(m, N) ...) only get looser as the problem grows, so these are
    the sizes to probe (and the cheapest)."""
    out = {}
    for dtype in {k[3] for k in sizes}:
        mine = [k for k in sizes if k[3] == dtype]
        for rank in (lambda k: (k[0], k[1], k[2]), lambda k: (min(k[0], k[1]), k[0], k[2]),
                     lambda k: (k[2], k[0], k[1])):
            k = min(mine, key=rank)
            out[k] = sizes[k]
    return out


def _probe(entry, params: dict, sizes: dict, key_of) -> None:
    """Call ``entry.solve`` on an empty batch (B = 0) at each size: parameter errors surface."""
    import torch

    from ..registry import ProblemBatch

    for (m, N, s, dtype), where in _tightest(sizes).items():
        A = torch.ones(m, N, dtype=dtype)
        problem = ProblemBatch(A=A, y=torch.zeros(0, m, dtype=dtype), m=m, N=N, s=s)
        kwargs = dict(params, state=None) if entry.trained else dict(params)
        try:
            entry.solve(problem, **kwargs)
        except (InvalidParameterError, TypeError) as exc:
            raise ConfigCheckError(key_of(str(exc)), f"{entry.name} refuses {params} at m = {m}, N = {N}, "
                                                     f"s = {s} ({where}): {exc}") from exc
        except Exception:  # noqa: BLE001 - not a parameter error: the job reports it, with its data
            pass


def check_solver_parameters(cfg: dict, entries: dict, cell_sizes) -> None:
    """The parameter values the config gives (``solvers.<name>.parameters``, the soft-vs-hard pairs'
    ``parameters``), each variant at the smallest (m, N, s) where it runs, on an empty batch (see the
    module doc). An entry's own grid is its file's business (tests/test_solver_entries.py)."""
    import torch

    real = torch.float32 if cfg["dtype"] == "float32" else torch.float64
    cplx = torch.complex64 if real == torch.float32 else torch.complex128
    fams = cfg["families"]

    def dt(fam):
        return cplx if fams[fam]["ensemble"] == "partial_dft" else real

    pt, tr, tm, sv = cfg["phase_transition"], cfg["training"], cfg["timing"], cfg["soft_vs_hard"]
    for name, over in cfg["solvers"].items():
        if not over.get("parameters"):
            continue
        e = entries[name]
        sizes: Dict[tuple, str] = {}
        if not e.trained and pt["enabled"]:
            for f in over.get("families", pt["families"]):
                for N in pt["N"]:
                    for delta in pt["delta"]:
                        for rho in pt["rho"]:
                            m, s = cell_sizes(N, delta, rho)
                            sizes.setdefault((m, N, s, dt(f)), f"phase_transition, family {f!r}")
        if tr["enabled"] and (e.trained or name in tr.get("baselines", [])):
            for t in over.get("training_sets") or tr["sets"]:
                ts = tr["sets"][t]
                sizes.setdefault((ts["m"], ts["N"], ts["s"], dt(ts["family"])), f"training set {t!r}")
        if tm["enabled"] and over.get("timing", True) and not e.trained:
            for N in set(tm["N"]) | {tm["N_for_batch"]}:
                m, s = cell_sizes(N, tm["delta"], tm["rho"])
                sizes.setdefault((m, N, s, dt(tm["family"])), "timing")
        try:
            variants = e.variants(over.get("parameters"))
        except GreedybenchError as exc:
            raise ConfigCheckError(f"solvers.{name}.parameters", str(exc)) from exc
        for v in variants:
            _probe(e, v.params, sizes, lambda err, v=v: _param_key(name, err, v.params))
    if sv["enabled"]:
        size = {(sv["m"], sv["N"], sv["s"], dt(sv["family"])): "soft_vs_hard"}
        for i, pair in enumerate(sv["pairs"]):
            shared = pair.get("parameters") or {}
            if not shared:
                continue
            for role in ("soft", "hard"):
                e = entries[pair[role]]
                params = {k: v[0] for k, v in e.parameters.items() if isinstance(k, str)}
                params.update({k: v for k, v in shared.items() if k in e.parameters})
                if role == "soft":
                    params["tau"] = float(sv["tau"][0])
                key = f"soft_vs_hard.pairs[{i}].parameters"
                _probe(e, params, size, lambda err, k=key: k)


def check_train_options(cfg: dict, entries: dict) -> None:
    """``training.options`` and ``solvers.<net>.train_options``: reserved keys refused, TrainConfig
    fields validated, keys that are neither a TrainConfig field nor an argument of a trained solver's
    ``train`` refused (typos such as ``epoch``)."""
    from ..train import TrainConfig

    tr = cfg["training"]
    fields = {f for f in TrainConfig.__dataclass_fields__ if not f.startswith("_")}
    trained = [(n, entries[n]) for n in cfg["solvers"] if entries[n].trained]
    if not tr["enabled"] or not trained:
        return
    sources = [("training.options", tr.get("options") or {}, trained)]
    sources += [(f"solvers.{n}.train_options", cfg["solvers"][n].get("train_options") or {}, [(n, e)])
                for n, e in trained]
    for prefix, opts, users in sources:
        for k, v in opts.items():
            if k in _RESERVED_TRAIN:
                alt = _RESERVED_TRAIN[k]
                raise ConfigCheckError(f"{prefix}.{k}", "is set by the pipeline" + (f"; use {alt}" if alt else ""))
            takes = k in fields or any(k in inspect.signature(e.train).parameters for _, e in users)
            if not takes:
                raise ConfigCheckError(f"{prefix}.{k}", f"no trained solver here takes {k!r} (TrainConfig "
                                                        f"fields: {', '.join(sorted(fields))})")
        for n, e in users:
            merged = {**(tr.get("options") or {}), **(cfg["solvers"][n].get("train_options") or {})}
            tc = {k: v for k, v in merged.items() if k in fields}
            try:
                TrainConfig(seed=int(tr["seed"]), **tc)
            except (InvalidParameterError, TypeError, ValueError) as exc:
                bad = [k for k in tc if re.search(rf"\b{k}\b", str(exc))]
                where = (f"solvers.{n}.train_options" if bad and bad[0] in (cfg["solvers"][n].get("train_options") or {})
                         else "training.options")
                raise ConfigCheckError(where + (f".{bad[0]}" if bad else ""), str(exc)) from exc
