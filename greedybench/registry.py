"""Solver registry: load solver entries (built-in and drop-in files), expand their parameter grids
into variants, hash their source, and run them under the entry contract.

An entry is a module with ``name``, ``capabilities``, ``parameters``, ``solve`` (and ``train`` when
``capabilities["trained"]``), see docs/architecture.md. The loader never lets one bad file break
the listing: a file that fails to import or declares something wrong is returned as an entry with
``available=False`` and the reason. Asking for it by name (:func:`get_solver`) raises that reason.

Solver version
--------------
``SolverEntry.version`` is :func:`greedybench.versioning.solver_version`: a hash of the meaning
(syntax tree without docstrings; comments and formatting do not count) of the entry file and of
the library files it reaches, and, for an entry that wraps another package (``requires``), of
that package's installed version.

Optional packages
-----------------
An entry that wraps another project's implementation (scikit-learn, SPAMS, ...) declares
``requires = {"import_name": "pip-name", ...}`` and imports the package inside ``solve``. When one
is not installed the entry is *unavailable* with the reason "optional package ... is not
installed" (:data:`OPTIONAL_MISSING`): listed and shown, never run, never an error.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import math
import numbers
import sys
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

import torch

from ._validation import GreedybenchError, all_finite
from .versioning import solver_version, source_files  # noqa: F401 -- re-exported

__all__ = [
    "CAPABILITY_KEYS", "ProblemBatch", "SolverContractError", "SolverEntry", "UnknownSolverError",
    "Variant", "builtin_dir", "discover", "expand_grid", "get_solver", "load_entry",
    "load_variant", "parse_variant", "run_solver", "run_solver_ex", "solver_version", "source_files",
    "variant_name",
]

CAPABILITY_KEYS = ("differentiable", "trained", "complex", "gpu")


class SolverContractError(GreedybenchError, RuntimeError):
    """A solver entry broke the contract: bad declaration, exception, wrong or non-finite output."""


class UnknownSolverError(GreedybenchError, LookupError):
    """No solver entry of that name."""


# ------------------------------------------------------------------------------------------------
# problems


@dataclass
class ProblemBatch:
    """B problems y = A x (+ e) handed to ``solve`` (and, with ``X``, to ``train``).

    A : (m, N) or (B, m, N); y : (B, m), on the job's device and dtype. ``meta`` holds the
    instance's JSON-able description (ensemble, signal, amplitude, hidden set ``T`` of the latent
    model, block size, family, seed ...). ``X`` (B, N) is only set for training batches.
    """

    A: torch.Tensor
    y: torch.Tensor
    m: int
    N: int
    s: int
    sigma: float = 0.0
    meta: Dict[str, Any] = field(default_factory=dict)
    X: Optional[torch.Tensor] = None

    @property
    def B(self) -> int:
        return self.y.shape[0]

    def oracle_weights(self):
        """0/1 selection weights (N,): 1 on the latent model's hidden set ``meta["T"]``, 0
        elsewhere; None when the instance has no hidden set (the oracle then is the plain solver)."""
        T = self.meta.get("T")
        if T is None:
            return None
        w = torch.zeros(self.N, dtype=self.A.real.dtype, device=self.A.device)
        w[torch.as_tensor(T, dtype=torch.long, device=self.A.device)] = 1
        return w

    @classmethod
    def from_instance(cls, inst, *, with_X: bool = False, **meta) -> "ProblemBatch":
        """From a ``greedybench.datasets.Instance``; extra keywords are added to ``meta``."""
        md = dict(inst.meta)
        md.update(meta)
        return cls(A=inst.A, y=inst.Y, m=inst.m, N=inst.N, s=inst.s,
                   sigma=float(md.get("sigma", 0.0)), meta=md, X=inst.X if with_X else None)

    def describe(self) -> str:
        md = self.meta
        keys = ("family", "ensemble", "signal", "amplitude", "seed", "instance")
        extra = ", ".join(f"{k}={md[k]}" for k in keys if md.get(k) is not None)
        return (f"problem batch B={self.B}, m={self.m}, N={self.N}, s={self.s}, sigma={self.sigma}"
                + (f", {extra}" if extra else ""))


# ------------------------------------------------------------------------------------------------
# entries and variants


@dataclass(frozen=True)
class SolverEntry:
    """One solver file. ``available`` is False (with ``reason``) when it cannot be used."""

    name: str
    path: Path
    available: bool
    reason: str = ""
    capabilities: Dict[str, bool] = field(default_factory=dict)
    parameters: Dict[Any, list] = field(default_factory=dict)
    references: Tuple[str, ...] = ()
    description: str = ""
    solve: Optional[Callable] = None
    train: Optional[Callable] = None
    module_name: str = ""
    #: optional packages the entry wraps: import name -> distribution (pip) name
    requires: Dict[str, str] = field(default_factory=dict)

    @property
    def optional_missing(self) -> bool:
        """True when the entry is unavailable only because an optional package is missing."""
        return not self.available and self.reason.startswith(OPTIONAL_MISSING)

    @property
    def trained(self) -> bool:
        return bool(self.capabilities.get("trained", False))

    @cached_property
    def version(self) -> str:
        base = solver_version(self.path)
        if not self.requires:
            return base
        wrapped = ",".join(f"{d}=={_dist_version(d)}" for d in sorted(self.requires.values()))
        return hashlib.sha256(f"{base}\0{wrapped}".encode()).hexdigest()[:16]

    def variants(self, overrides: Optional[Dict[str, list]] = None) -> List["Variant"]:
        """The cross product of ``parameters`` (lists in ``overrides`` replace the entry's)."""
        self.require()
        return [Variant(self, p) for p in expand_grid(self.parameters, overrides, where=self.name)]

    def require(self) -> "SolverEntry":
        if not self.available:
            raise SolverContractError(f"solver {self.name!r} ({self.path}) is unavailable: {self.reason}")
        return self


class Variant:
    """An entry with one point of its parameter grid, named ``name[k=v,...]`` (keys sorted)."""

    def __init__(self, entry: SolverEntry, params: Optional[Dict[str, Any]] = None):
        self.entry = entry
        self.params = {k: params[k] for k in sorted(params or {})}
        self.name = variant_name(entry.name, self.params)

    @property
    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True, separators=(",", ":"))

    @property
    def version(self) -> str:
        return self.entry.version

    def __repr__(self) -> str:
        return f"Variant({self.name!r}, version={self.version})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Variant) and (self.name, self.entry.path) == (other.name, other.entry.path)

    def __hash__(self) -> int:
        return hash((self.name, str(self.entry.path)))


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def variant_name(name: str, params: Dict[str, Any]) -> str:
    """``name`` or ``name[k1=v1,k2=v2]`` with keys sorted and floats written with repr."""
    if not params:
        return name
    return name + "[" + ",".join(f"{k}={_fmt_value(params[k])}" for k in sorted(params)) + "]"


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_variant(spec: str) -> Tuple[str, Dict[str, Any]]:
    """``'iht[n_iter=30,step=0.5]'`` -> ``('iht', {'n_iter': 30, 'step': 0.5})``."""
    spec = spec.strip()
    if "[" not in spec:
        return spec, {}
    if not spec.endswith("]"):
        raise UnknownSolverError(f"cannot parse solver variant {spec!r}: expected name[key=value,...]")
    name, body = spec[:-1].split("[", 1)
    params = {}
    for item in filter(None, body.split(",")):
        if "=" not in item:
            raise UnknownSolverError(f"cannot parse solver variant {spec!r}: {item!r} is not key=value")
        k, v = item.split("=", 1)
        params[k.strip()] = _parse_value(v.strip())
    return name.strip(), params


def expand_grid(parameters: Dict[Any, list], overrides: Optional[Dict[str, list]] = None, *,
                where: str = "solver") -> List[Dict[str, Any]]:
    """Cross product of a dict of lists, as a list of dicts (benchopt's grid).

    A key that is a tuple of names, or a string ``"a, b"``, zips its names: its list holds tuples.
    ``overrides`` replace whole lists (keys must exist). An empty grid gives ``[{}]``.
    """
    params = dict(parameters)
    for k, v in (overrides or {}).items():
        if k not in params:
            known = ", ".join(map(str, params)) or "none"
            raise SolverContractError(f"{where}: unknown parameter {k!r} in overrides (parameters: {known})")
        params[k] = list(v) if isinstance(v, (list, tuple)) else [v]
    axes = []
    for key, values in params.items():
        names = tuple(n.strip() for n in key.split(",")) if isinstance(key, str) else tuple(key)
        points = []
        for v in values:
            if len(names) == 1:
                points.append({names[0]: v})
            else:
                if not isinstance(v, (list, tuple)) or len(v) != len(names):
                    raise SolverContractError(f"{where}: parameter {key!r} zips {len(names)} names; "
                                              f"each value must be a tuple of {len(names)}; got {v!r}")
                points.append(dict(zip(names, v)))
        axes.append(points)
    out = []
    for combo in itertools.product(*axes):
        d = {}
        for part in combo:
            d.update(part)
        out.append(d)
    return out


# ------------------------------------------------------------------------------------------------
# loading


def builtin_dir() -> Path:
    """Directory of the built-in entries (``solvers/``, installed as ``greedybench.solvers``)."""
    spec = importlib.util.find_spec("greedybench.solvers")
    return Path(list(spec.submodule_search_locations)[0])


def _short_error(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


OPTIONAL_MISSING = "optional package"


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _missing_requirements(requires: Dict[str, str]) -> List[str]:
    return [f"{dist} (import {mod})" for mod, dist in requires.items()
            if importlib.util.find_spec(mod) is None]


def _check_declaration(mod, path: Path) -> Optional[str]:
    """None if the module declares a valid entry, else the reason."""
    name = getattr(mod, "name", None)
    if not isinstance(name, str) or not name or name != name.lower() or not name.isidentifier():
        return f"'name' must be a lower-case identifier string; got {name!r}"
    caps = getattr(mod, "capabilities", None)
    if not isinstance(caps, dict):
        return f"'capabilities' must be a dict with keys {', '.join(CAPABILITY_KEYS)}; got {type(caps).__name__}"
    missing = [k for k in CAPABILITY_KEYS if k not in caps]
    extra = [k for k in caps if k not in CAPABILITY_KEYS]
    if missing or extra:
        return (f"'capabilities' must have exactly the keys {', '.join(CAPABILITY_KEYS)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(map(str, extra))}" if extra else ""))
    bad = [k for k in CAPABILITY_KEYS if not isinstance(caps[k], bool)]
    if bad:
        return f"capabilities {', '.join(bad)} must be True or False"
    params = getattr(mod, "parameters", None)
    if not isinstance(params, dict):
        return f"'parameters' must be a dict of lists; got {type(params).__name__}"
    for k, v in params.items():
        if not isinstance(k, (str, tuple)) or not isinstance(v, (list, tuple)) or not v:
            return f"'parameters' must map names to non-empty lists; got {k!r}: {v!r}"
    if not callable(getattr(mod, "solve", None)):
        return "'solve' must be a function solve(problem, **params)"
    req = getattr(mod, "requires", {})
    if not isinstance(req, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in req.items()):
        return f"'requires' must map import names to pip package names (strings); got {req!r}"
    if caps["trained"] and not callable(getattr(mod, "train", None)):
        return "capabilities['trained'] is True but there is no train(train_batch, val_batch, *, seed, **params)"
    try:
        expand_grid(params, where=name)
    except SolverContractError as exc:
        return str(exc)
    return None


def load_entry(path, *, module_name: Optional[str] = None) -> SolverEntry:
    """Import one entry file; never raises for a bad file (returns ``available=False``)."""
    path = Path(path).resolve()
    stem = path.stem
    if module_name is None:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
        module_name = f"greedybench_dropin_{stem}_{digest}"
    if not path.is_file():
        return SolverEntry(name=stem, path=path, available=False, reason=f"no such file: {path}")
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = mod
        spec.loader.exec_module(mod)
    except BaseException as exc:  # noqa: BLE001 -- any import failure makes the entry unavailable
        sys.modules.pop(module_name, None)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return SolverEntry(name=stem, path=path, available=False,
                           reason=f"import failed: {_short_error(exc)}")
    reason = _check_declaration(mod, path)
    name = getattr(mod, "name", stem) if isinstance(getattr(mod, "name", None), str) else stem
    if reason:
        return SolverEntry(name=name, path=path, available=False, reason=f"bad declaration: {reason}")
    doc = (mod.__doc__ or "").strip().splitlines()
    requires = dict(getattr(mod, "requires", {}) or {})
    missing = _missing_requirements(requires)
    return SolverEntry(
        name=mod.name, path=path, available=not missing, capabilities=dict(mod.capabilities),
        reason=(f"{OPTIONAL_MISSING} {', '.join(missing)} is not installed "
                f"(pip install {' '.join(sorted(requires.values()))})" if missing else ""),
        parameters=dict(mod.parameters), references=tuple(getattr(mod, "references", ()) or ()),
        description=doc[0] if doc else "", solve=mod.solve, train=getattr(mod, "train", None),
        module_name=module_name, requires=requires)


_CACHE: Dict[Tuple[str, ...], Dict[str, SolverEntry]] = {}


def discover(extra_files: Iterable = (), *, refresh: bool = False) -> Dict[str, SolverEntry]:
    """All entries by name, built-in (``solvers/[!_]*.py``) then ``extra_files`` (drop-ins).

    Unavailable entries are included, with their reason. A drop-in may not reuse a built-in name.
    """
    files = [Path(p).resolve() for p in extra_files]
    key = tuple(map(str, files))
    if key in _CACHE and not refresh:
        return _CACHE[key]
    out: Dict[str, SolverEntry] = {}
    for path in sorted(builtin_dir().glob("[!_]*.py")):
        e = load_entry(path, module_name=f"greedybench.solvers.{path.stem}")
        out[e.name] = e
    for path in files:
        e = load_entry(path)
        if e.name in out:
            e = SolverEntry(name=e.name, path=path, available=False,
                            reason=f"name {e.name!r} is already used by {out[e.name].path}")
            out[f"{e.name}@{path}"] = e
        else:
            out[e.name] = e
    out = dict(sorted(out.items()))
    _CACHE[key] = out
    return out


def get_solver(name: str, extra_files: Iterable = ()) -> SolverEntry:
    """The available entry called ``name``; a clear error for an unknown or unavailable one."""
    entries = discover(extra_files)
    if name not in entries:
        known = ", ".join(k for k, e in entries.items() if e.available) or "none"
        broken = ", ".join(k for k, e in entries.items() if not e.available)
        raise UnknownSolverError(f"unknown solver {name!r}; known solvers: {known}"
                                 + (f" (unavailable: {broken})" if broken else ""))
    return entries[name].require()


def load_variant(entry: str, params_json: str, solver_files: Iterable = (),
                 version: Optional[str] = None) -> Variant:
    """The variant a job was planned with (entry name, parameters as JSON); refuses a solver whose
    version changed since planning (``version``), naming it."""
    v = Variant(get_solver(entry, solver_files), json.loads(params_json))
    if version is not None and v.version != version:
        raise SolverContractError(f"solver {v.name} ({v.entry.path}) changed while the workflow ran "
                                  f"(planned version {version}, now {v.version}); run it again")
    return v


# ------------------------------------------------------------------------------------------------
# running


class SolverResult(NamedTuple):
    """What :func:`run_solver_ex` returns: x (B, N) and iterations per problem (or None)."""

    x: torch.Tensor
    n_iter: Optional[List[int]]


def run_solver(variant: Variant, problem: ProblemBatch, *, state=None) -> torch.Tensor:
    """Run one variant on a batch and check the contract: x is a finite (B, N) tensor.

    ``solve`` may also return an object with an ``x`` attribute (an ``omp_ex``-style result).
    Any failure is re-raised as :class:`SolverContractError` naming the variant, its file and the
    problem batch; the original exception is chained.
    """
    return run_solver_ex(variant, problem, state=state).x


def run_solver_ex(variant: Variant, problem: ProblemBatch, *, state=None) -> SolverResult:
    """:func:`run_solver`, also returning the iterations (:func:`n_iter_of`)."""
    entry = variant.entry.require()
    where = f"solver {variant.name} ({entry.path}) on {problem.describe()}"
    kwargs = dict(variant.params)
    if entry.trained:
        if state is None:
            raise SolverContractError(f"{where}: a trained solver needs state= (the output of train)")
        kwargs["state"] = state
    try:
        out = entry.solve(problem, **kwargs)
    except Exception as exc:  # noqa: BLE001
        tb = traceback.extract_tb(exc.__traceback__)
        loc = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        raise SolverContractError(f"{where}: raised {type(exc).__name__}{loc}: {exc}") from exc
    x = getattr(out, "x", out)
    if not isinstance(x, torch.Tensor):
        raise SolverContractError(f"{where}: solve must return a torch.Tensor of shape (B, N) = "
                                  f"({problem.B}, {problem.N}); got {type(out).__name__}")
    if tuple(x.shape) != (problem.B, problem.N):
        raise SolverContractError(f"{where}: solve must return shape (B, N) = ({problem.B}, {problem.N}); "
                                  f"got {tuple(x.shape)}")
    if not all_finite(x):
        bad = (~torch.isfinite(x)).any(-1).nonzero().flatten().tolist()
        raise SolverContractError(f"{where}: output holds NaN or Inf in problems {bad[:10]}"
                                  + (" ..." if len(bad) > 10 else ""))
    return SolverResult(x, n_iter_of(out, variant, problem))


def n_iter_of(out, variant: Variant, problem: ProblemBatch):
    """Iterations per problem if the result reports them, else the ``n_iter`` parameter, else None."""
    n = getattr(out, "n_iter", None)
    if n is None:
        n = variant.params.get("n_iter")
    if isinstance(n, torch.Tensor):
        return n.detach().cpu().reshape(-1).expand(problem.B).tolist() if n.numel() in (1, problem.B) else None
    if isinstance(n, numbers.Integral):
        return [int(n)] * problem.B
    if isinstance(n, float) and math.isfinite(n):
        return [int(n)] * problem.B
    return None
