"""Version hashes of code: the hash of what the code means, not of its bytes.

A solver's version (:func:`solver_version`, ``SolverEntry.version``) is the first 16 hex digits
of a SHA-256 over the entry file and every source file of ``greedybench.functional``,
``greedybench.nn``, ``greedybench._validation``, ``greedybench.train`` and ``greedybench.solvers``
(the entries' shared declarations, ``solvers/__init__.py``) that the entry reaches:
the attributes it uses (``gb.omp`` resolves to ``greedybench/functional/omp.py``) and,
transitively, every greedybench module those files import. A reference that cannot be resolved
(a stub, a dynamic attribute) hashes the whole package it names, so an unresolved edge costs a
spurious rerun, never a missed one. The pipeline puts the version into the solve jobs' ``params:``
so that Snakemake reruns exactly the jobs of a changed solver, and the leaderboard stores it with
every row.

Each file enters the hash through :func:`code_meaning`: its syntax tree with the docstrings
removed, serialised without positions. Comments, docstrings, blank lines, line breaks and other
formatting do not change a version; any change to code (a name, a constant, an operator, the
order of statements) does. A file that does not parse enters with its bytes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

__all__ = ["code_meaning", "code_version", "solver_version", "source_files", "HASHED_MODULES"]

#: modules whose source is part of a solver's version (prefix match on the module name)
HASHED_MODULES = ("greedybench.functional", "greedybench.nn", "greedybench._validation",
                  "greedybench.train", "greedybench.solvers")
_ROOT = "greedybench"
_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, _DOC_OWNERS) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _canonical(node, out: List[str]) -> None:
    """A position-free serialisation that is the same on every supported Python: fields that are
    None or empty lists are left out (Python 3.12 added empty ``type_params``, 3.13's ``ast.dump``
    omits them), constants are written with their type and repr."""
    if isinstance(node, ast.AST):
        out.append(type(node).__name__ + "(")
        for name in node._fields:
            value = getattr(node, name, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            out.append(name + "=")
            _canonical(value, out)
            out.append(",")
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _canonical(item, out)
            out.append(",")
        out.append("]")
    else:
        out.append(f"{type(node).__name__}:{node!r}")


def code_meaning(source: bytes) -> bytes:
    """What a Python source means, as bytes: the syntax tree without docstrings and positions
    (comments and formatting are not in it); the source itself when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return b"unparsed\0" + source
    out: List[str] = []
    _canonical(_strip_docstrings(tree), out)
    return "".join(out).encode()


def _module_path(modname: str) -> Optional[Path]:
    try:
        spec = importlib.util.find_spec(modname)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _is_module(modname: str) -> bool:
    return _module_path(modname) is not None


def _resolve_attr(modname: str, attrs: List[str]) -> str:
    """The module that defines ``modname.attr1.attr2...`` (as far as it resolves)."""
    for i, attr in enumerate(attrs):
        sub = f"{modname}.{attr}"
        if _is_module(sub):
            modname = sub
            continue
        try:
            obj = getattr(importlib.import_module(modname), attr)
        except Exception:  # noqa: BLE001 -- unresolved: hash the whole module
            return modname
        owner = getattr(obj, "__module__", None)
        if isinstance(obj, type(sys)):
            modname = obj.__name__
            continue
        if isinstance(owner, str) and owner.startswith(_ROOT):
            return owner
        return modname
    return modname


def _absolute(base: str, is_pkg: bool, level: int, module: Optional[str]) -> str:
    if level == 0:
        return module or ""
    parts = base.split(".")
    if not is_pkg:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([module] if module else []))


def _references(tree: ast.AST, modname: str, is_pkg: bool) -> set:
    """greedybench modules a file refers to: imports, resolved through attribute use."""
    aliases: Dict[str, str] = {}
    refs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == _ROOT:
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases[_ROOT] = _ROOT
                        if a.name != _ROOT:
                            refs.add(a.name)
        elif isinstance(node, ast.ImportFrom):
            src = _absolute(modname, is_pkg, node.level, node.module)
            if src.split(".")[0] != _ROOT:
                continue
            for a in node.names:
                if a.name == "*":
                    refs.add(src)
                    continue
                target = _resolve_attr(src, [a.name])
                refs.add(target)
                if _is_module(f"{src}.{a.name}"):
                    aliases[a.asname or a.name] = f"{src}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            cur = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id in aliases:
                refs.add(_resolve_attr(aliases[cur.id], chain[::-1]))
    bare = {a for a in aliases.values()}
    used = {r for r in refs}
    # an alias that is imported but never dereferenced still counts (conservative)
    for b in bare:
        if not any(u == b or u.startswith(b + ".") for u in used):
            refs.add(b)
    return refs


def _hashed(modname: str) -> bool:
    return any(modname == p or modname.startswith(p + ".") for p in HASHED_MODULES)


def _source_closure(entry_path: Path) -> List[Path]:
    """Entry file plus the greedybench source files (HASHED_MODULES) it reaches."""
    files = {}
    try:
        todo = list(_references(ast.parse(entry_path.read_bytes()), "__entry__", False))
    except (SyntaxError, ValueError):
        return []  # an entry that does not parse reaches nothing; its bytes are hashed
    seen = set()
    while todo:
        mod = todo.pop()
        if mod in seen or not (mod == _ROOT or mod.startswith(_ROOT + ".")):
            continue
        seen.add(mod)
        path = _module_path(mod)
        if path is None:
            continue
        if mod != _ROOT and not _hashed(mod):
            continue
        if _hashed(mod):
            files[mod] = path
        is_pkg = path.name == "__init__.py"
        try:
            tree = ast.parse(path.read_bytes())
        except SyntaxError:
            continue  # the file bytes are hashed anyway
        todo.extend(_references(tree, mod, is_pkg))
    return [files[k] for k in sorted(files)]


def solver_version(entry_path) -> str:
    """16 hex digits of SHA-256 over the meaning (:func:`code_meaning`) of the entry file and of
    the library files it reaches (:func:`source_files`), each with its path."""
    entry_path = Path(entry_path).resolve()
    h = hashlib.sha256()
    h.update(b"entry\0" + code_meaning(entry_path.read_bytes()))
    root = Path(importlib.util.find_spec(_ROOT).origin).parent.parent
    for path in _source_closure(entry_path):
        h.update(b"\0" + _hashed_name(path, root).encode() + b"\0" + code_meaning(path.read_bytes()))
    return h.hexdigest()[:16]


def _hashed_name(path: Path, root: Path) -> str:
    """The name a file enters a version with: its path below the source root; a file of
    ``greedybench.solvers`` by its installed path ``greedybench/solvers/...`` (the checkout's
    ``solvers/``), so that an editable and a wheel install give the same version."""
    path = path.resolve()
    solvers = _module_path(_ROOT + ".solvers")
    if solvers is not None and path.is_relative_to(solvers.parent.resolve()):
        return "greedybench/solvers/" + path.relative_to(solvers.parent.resolve()).as_posix()
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def code_version(paths: Iterable, *, root=None) -> str:
    """16 hex digits of SHA-256 over the meaning of some source files (named relative to
    ``root``): the version of code that is not a solver entry (e.g. the bound functions)."""
    h = hashlib.sha256()
    for path in paths:
        path = Path(path)
        name = path.relative_to(root).as_posix() if root is not None else path.name
        h.update(name.encode() + b"\0" + code_meaning(path.read_bytes()) + b"\0")
    return h.hexdigest()[:16]


def source_files(entry_path) -> List[Path]:
    """The library files that :func:`solver_version` hashes besides the entry (for docs/tests)."""
    return _source_closure(Path(entry_path).resolve())


