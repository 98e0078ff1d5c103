"""Solver registry: loading, declarations, grids, version hash, and the run-time contract."""

import importlib.util
import textwrap
from pathlib import Path

import pytest
import torch

import greedybench
from greedybench import registry
from greedybench.registry import (
    ProblemBatch, SolverContractError, UnknownSolverError, Variant, discover, expand_grid,
    get_solver, load_entry, parse_variant, run_solver, source_files, variant_name,
)

GOOD = '''
"""A good drop-in: least squares on the s largest correlations."""
import torch

name = "{name}"
capabilities = {{"differentiable": False, "trained": False, "complex": True, "gpu": True}}
parameters = {{"scale": [1.0, 0.5], "k": [1]}}

def solve(problem, scale, k):
    c = (problem.y @ problem.A.conj()).abs()
    idx = c.topk(problem.s, dim=-1).indices
    As = problem.A.mT[idx].mT
    z = torch.linalg.lstsq(As, problem.y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    return scale * torch.zeros(problem.B, problem.N, dtype=z.dtype).scatter(1, idx, z)
'''

BODY = '''
import torch
name = "{name}"
capabilities = {{"differentiable": False, "trained": False, "complex": False, "gpu": False}}
parameters = {{}}
def solve(problem):
{body}
'''


def write(tmp_path, fname, text):
    p = tmp_path / fname
    p.write_text(textwrap.dedent(text))
    return p


def broken(tmp_path, name, body):
    return write(tmp_path, f"{name}.py", BODY.format(name=name, body=textwrap.indent(body, "    ")))


@pytest.fixture
def problem():
    from greedybench.datasets import make_instance

    inst = make_instance(ensemble="gaussian", signal="uniform", m=16, N=32, s=3, batch=4, seed=0)
    return ProblemBatch.from_instance(inst, family="test")


def test_builtin_entries_load_and_run(problem):
    entries = discover(refresh=True)
    for name, e in entries.items():
        assert e.path.parent == registry.builtin_dir()
        # a built-in that fails to load is a broken build, not a skip (the listing still shows why);
        # the only exception: an ecosystem entry whose optional package is not installed
        if e.requires and e.optional_missing:
            missing = [mod for mod in e.requires if importlib.util.find_spec(mod) is None]
            assert missing and all(e.requires[m] in e.reason for m in missing), e.reason
            continue
        assert e.available, f"built-in solver entry {name} ({e.path}) does not load: {e.reason}"
        assert set(e.capabilities) == set(registry.CAPABILITY_KEYS)
        assert len(e.version) == 16
        if e.trained:
            continue  # needs a trained state: covered by the pipeline tests
        for v in e.variants():
            x = run_solver(v, problem)
            assert x.shape == (problem.B, problem.N)


def test_good_user_file(tmp_path, problem):
    path = write(tmp_path, "good.py", GOOD.format(name="good_dropin"))
    entries = discover([path], refresh=True)
    e = entries["good_dropin"]
    assert e.available and e.description.startswith("A good drop-in")
    names = [v.name for v in e.variants()]
    assert names == ["good_dropin[k=1,scale=1.0]", "good_dropin[k=1,scale=0.5]"]
    x = run_solver(e.variants()[0], problem)
    assert x.shape == (4, 32) and torch.isfinite(x).all()
    assert get_solver("good_dropin", [path]) is e


def test_unknown_solver_lists_known(tmp_path):
    path = write(tmp_path, "good.py", GOOD.format(name="good_dropin"))
    with pytest.raises(UnknownSolverError, match=r"unknown solver 'nope'; known solvers: .*good_dropin"):
        get_solver("nope", [path])


def test_syntax_error_is_unavailable_not_a_crash(tmp_path):
    bad = write(tmp_path, "bad_syntax.py", "name = 'bad_syntax'\ndef solve(problem:\n    pass\n")
    good = write(tmp_path, "good.py", GOOD.format(name="good_dropin"))
    entries = discover([bad, good], refresh=True)
    assert entries["good_dropin"].available
    e = entries["bad_syntax"]
    assert not e.available and "SyntaxError" in e.reason and "line 2" in e.reason
    with pytest.raises(SolverContractError, match=r"bad_syntax\.py.*unavailable.*SyntaxError"):
        get_solver("bad_syntax", [bad, good])


def test_import_error_is_unavailable(tmp_path):
    p = write(tmp_path, "needs_pkg.py", "import not_a_real_package_xyz\nname = 'needs_pkg'\n")
    e = load_entry(p)
    assert not e.available and "ModuleNotFoundError" in e.reason and "not_a_real_package_xyz" in e.reason


@pytest.mark.parametrize("decl, match", [
    ("name = 'x'\ncapabilities = {'trained': False}\nparameters = {}\ndef solve(p): pass",
     r"capabilities.*missing differentiable"),
    ("name = 'Bad Name'\ncapabilities = {}\nparameters = {}\ndef solve(p): pass", r"lower-case identifier"),
    ("name = 'x'\ncapabilities = dict(differentiable=False, trained=False, complex=False, gpu=False)\n"
     "parameters = {'a': 3}\ndef solve(p): pass", r"non-empty lists"),
    ("name = 'x'\ncapabilities = dict(differentiable=False, trained=True, complex=False, gpu=False)\n"
     "parameters = {}\ndef solve(p): pass", r"no train"),
    ("name = 'x'\ncapabilities = dict(differentiable=False, trained=False, complex=False, gpu='yes')\n"
     "parameters = {}\ndef solve(p): pass", r"gpu must be True or False"),
])
def test_bad_declarations(tmp_path, decl, match):
    e = load_entry(write(tmp_path, "decl.py", decl))
    assert not e.available
    assert e.reason.startswith("bad declaration")
    assert pytest.importorskip("re").search(match, e.reason), e.reason


def test_wrong_output_shape(tmp_path, problem):
    e = load_entry(broken(tmp_path, "wrong_shape", "return problem.y"))
    with pytest.raises(SolverContractError, match=r"wrong_shape\.py.*shape \(B, N\) = \(4, 32\); got \(4, 16\)"):
        run_solver(Variant(e), problem)


def test_nan_output(tmp_path, problem):
    e = load_entry(broken(tmp_path, "gives_nan", "x = torch.zeros(problem.B, problem.N)\nx[2, 0] = float('nan')\nreturn x"))
    with pytest.raises(SolverContractError, match=r"gives_nan\.py.*B=4, m=16, N=32, s=3.*NaN or Inf in problems \[2\]"):
        run_solver(Variant(e), problem)


def test_exception_mid_run(tmp_path, problem):
    e = load_entry(broken(tmp_path, "raises", "A = problem.A\nraise RuntimeError('factorisation failed at step 3')"))
    with pytest.raises(SolverContractError, match=r"raises\.py.*family=test.*RuntimeError at raises\.py:\d+: "
                                                  r"factorisation failed at step 3") as info:
        run_solver(Variant(e), problem)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_not_a_tensor(tmp_path, problem):
    e = load_entry(broken(tmp_path, "returns_list", "return [0.0]"))
    with pytest.raises(SolverContractError, match="must return a torch.Tensor"):
        run_solver(Variant(e), problem)


def test_trained_solver_needs_state(tmp_path, problem):
    p = write(tmp_path, "net.py", """
        name = "net"
        capabilities = {"differentiable": True, "trained": True, "complex": False, "gpu": True}
        parameters = {}
        def train(train_batch, val_batch, *, seed, progress=True):
            return {}
        def solve(problem, state):
            return problem.A.new_zeros(problem.B, problem.N)
    """)
    e = load_entry(p)
    with pytest.raises(SolverContractError, match="needs state="):
        run_solver(Variant(e), problem)
    assert run_solver(Variant(e), problem, state={}).shape == (4, 32)


def test_duplicate_name_is_refused(tmp_path):
    builtins = [n for n, e in discover(refresh=True).items()]
    if not builtins:
        pytest.skip("no built-in solver entry yet")
    p = write(tmp_path, "dup.py", GOOD.format(name=builtins[0]))
    entries = discover([p], refresh=True)
    dup = [e for e in entries.values() if e.path == p.resolve()]
    assert dup and not dup[0].available and "already used" in dup[0].reason


def test_expand_grid():
    assert expand_grid({}) == [{}]
    grid = expand_grid({"a": [1, 2], "b, c": [(3, 4), (5, 6)]})
    assert grid == [{"a": 1, "b": 3, "c": 4}, {"a": 1, "b": 5, "c": 6},
                    {"a": 2, "b": 3, "c": 4}, {"a": 2, "b": 5, "c": 6}]
    assert expand_grid({"a": [1, 2]}, {"a": [7]}) == [{"a": 7}]
    with pytest.raises(SolverContractError, match="unknown parameter 'z'"):
        expand_grid({"a": [1]}, {"z": [1]})


def test_variant_names_roundtrip():
    params = {"step": 0.6, "n_iter": 30, "tau": 1e-05, "mode": "fast", "flag": True}
    name = variant_name("iht", params)
    assert name == "iht[flag=true,mode=fast,n_iter=30,step=0.6,tau=1e-05]"
    assert parse_variant(name) == ("iht", params)
    assert parse_variant("omp") == ("omp", {})


def test_version_hashes_entry_and_the_kernels_it_uses(tmp_path):
    p = write(tmp_path, "uses_omp.py", """
        import greedybench as gb
        name = "uses_omp"
        capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
        parameters = {}
        def solve(problem):
            return gb.omp(problem.A, problem.y, problem.s)
    """)
    pkg = Path(greedybench.__file__).resolve().parent     # not a split on "greedybench/": a
    files = {Path(f).resolve().relative_to(pkg).as_posix()  # checkout may be named greedybench too
             for f in source_files(p) if Path(f).resolve().is_relative_to(pkg)}
    assert "functional/omp.py" in files and "_validation.py" in files
    assert "functional/iht.py" not in files  # an unrelated kernel does not rerun this solver
    v1 = registry.solver_version(p)
    assert v1 == registry.solver_version(p) and len(v1) == 16
    # the version is the code's meaning: a comment, a docstring or reformatting keeps it ...
    p.write_text(p.read_text() + "\n# a change\n")
    assert registry.solver_version(p) == v1
    p.write_text('"""A docstring."""\n' + p.read_text().replace("problem.s)", "problem.s)  # s steps"))
    assert registry.solver_version(p) == v1
    # ... and a change to the code changes it
    p.write_text(p.read_text().replace("problem.s)", "problem.s + 1)"))
    assert registry.solver_version(p) != v1


def test_version_hashes_the_shared_entry_declarations(tmp_path):
    """An entry built from greedybench.solvers (solvers/__init__.py) has that file in its version,
    named by its installed path whether the checkout is installed editable or not."""
    from greedybench.versioning import _hashed_name

    p = write(tmp_path, "uses_shared.py", """
        import greedybench as gb
        from greedybench.solvers import CLASSICAL, kernel_solve
        name = "uses_shared"
        capabilities = CLASSICAL
        parameters = {"n_iter": [7]}
        solve = kernel_solve(gb.niht, parameters)
    """)
    shared = [f for f in source_files(p)
              if Path(f).name == "__init__.py" and Path(f).parent == registry.builtin_dir()]
    assert len(shared) == 1
    root = Path(greedybench.__file__).resolve().parent.parent
    assert _hashed_name(shared[0], root) == "greedybench/solvers/__init__.py"
    assert load_entry(p).version == registry.solver_version(p)


def test_kernel_solve_takes_its_defaults_from_the_parameters():
    from greedybench.solvers import kernel_solve

    calls = []

    def kernel(A, y, s, **kw):
        calls.append((s, kw))
        return torch.zeros(y.shape[0], A.shape[-1])

    A = torch.eye(3)
    T = ProblemBatch(A=A, y=torch.ones(2, 3), m=3, N=3, s=1, meta={"T": [0, 2]})
    plain = ProblemBatch(A=A, y=torch.ones(2, 3), m=3, N=3, s=1)
    solve = kernel_solve(kernel, {"n_iter": [5, 9], "stop": ["support"]}, step=0.5)
    solve(plain)
    solve(plain, n_iter=9, step=0.25)
    assert calls == [(1, {"n_iter": 5, "stop": "support", "step": 0.5}),
                     (1, {"n_iter": 9, "stop": "support", "step": 0.25})]
    with pytest.raises(TypeError, match="unexpected parameter.*tau.*takes n_iter, stop, step"):
        solve(plain, tau=1.0)
    oracle = kernel_solve(kernel, {}, oracle=True)
    oracle(T)
    oracle(plain)
    assert calls[2][1]["weights"].tolist() == [1.0, 0.0, 1.0] and calls[3][1] == {"weights": None}
    with pytest.raises(TypeError, match="takes none"):
        oracle(plain, n_iter=3)


def test_code_meaning_ignores_comments_docstrings_and_formatting():
    from greedybench.versioning import code_meaning

    base = b"def f(a, b):\n    return a + b * 2\n"
    same = (b'"""Module doc."""\n# comment\ndef f(a,\n      b):\n    """Doc."""\n'
            b"    return a + (b * 2)  # trailing\n\n\n")
    assert code_meaning(same) == code_meaning(base)
    for edit in (b"def f(a, b):\n    return a + b * 3\n", b"def f(a, b):\n    return b + a * 2\n",
                 b"def g(a, b):\n    return a + b * 2\n", b"def f(a, c):\n    return a + c * 2\n"):
        assert code_meaning(edit) != code_meaning(base), edit
    # a string that is not a docstring is code
    assert code_meaning(b"x = 1\n'not a docstring'\n") != code_meaning(b"x = 1\n")
    # a file that does not parse is hashed by its bytes
    assert code_meaning(b"def f(:\n") != code_meaning(b"def f(: \n")


def test_entry_that_does_not_parse_has_a_version(tmp_path):
    p = tmp_path / "broken.py"
    p.write_text("name = 'broken'\ndef solve(problem)\n")
    v = registry.solver_version(p)
    assert len(v) == 16 and v == registry.solver_version(p)
    p.write_text("name = 'broken'\ndef solve(problem) \n")
    assert registry.solver_version(p) != v


def test_library_comment_edit_keeps_every_builtin_version(tmp_path, monkeypatch):
    """Editing only comments and docstrings of a kernel keeps the versions of the solvers that
    use it (no 'leaderboard regenerated, scores unchanged' commits)."""
    from greedybench import versioning

    src = Path(greedybench.__file__).resolve().parent / "functional" / "omp.py"
    entry = registry.builtin_dir() / "omp.py"
    v1 = registry.solver_version(entry)
    copy = tmp_path / "omp.py"
    copy.write_text("# an added comment\n" + src.read_text().replace("\n\n", "\n\n# spacer\n", 1))
    real = Path.read_bytes

    def read_bytes(self):
        return real(copy) if self.resolve() == src else real(self)

    monkeypatch.setattr(versioning.Path, "read_bytes", read_bytes)
    assert registry.solver_version(entry) == v1
    copy.write_text(src.read_text() + "\n_UNUSED = 1\n")
    assert registry.solver_version(entry) != v1


def test_optional_package_entry_is_unavailable_not_broken(tmp_path):
    """An entry wrapping a package that is not installed is listed as unavailable with the pip
    name; its version includes the wrapped package's version when installed."""
    f = tmp_path / "wraps_missing.py"
    f.write_text(
        "import torch\n"
        "name = 'wraps_missing'\n"
        "capabilities = {'differentiable': False, 'trained': False, 'complex': False, 'gpu': False}\n"
        "parameters = {}\n"
        "requires = {'not_a_real_package_qq': 'not-a-real-package-qq'}\n"
        "def solve(problem):\n"
        "    import not_a_real_package_qq\n"
        "    return torch.zeros(problem.B, problem.N)\n")
    e = registry.load_entry(f)
    assert not e.available and e.optional_missing
    assert "pip install not-a-real-package-qq" in e.reason
    f.write_text(f.read_text().replace("'not_a_real_package_qq': 'not-a-real-package-qq'", "'numpy': 'numpy'"))
    e2 = registry.load_entry(f, module_name="wraps_numpy")
    assert e2.available and not e2.optional_missing
    f.write_text(f.read_text().replace("requires = {'numpy': 'numpy'}", "requires = ['numpy']"))
    e3 = registry.load_entry(f, module_name="wraps_bad")
    assert not e3.available and "'requires' must map" in e3.reason
