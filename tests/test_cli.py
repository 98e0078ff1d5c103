"""The one command-line tool: subcommands, the paper scripts handed their arguments unchanged,
and the leaderboard stages the Snakemake rules call."""

import argparse
import json
import re
import shlex
import subprocess
import sys

import pytest

import greedybench
from greedybench import cli
from greedybench.cli import PASSTHROUGH, build_parser, main
from greedybench.pipeline.config import REPO
from greedybench.datasets import AMPLITUDES, ENSEMBLES, SIGNALS, load_instance
from greedybench.registry import CAPABILITY_KEYS, discover


def test_every_subcommand_is_listed():
    text = build_parser().format_help()
    for name in ("run", "solvers", "instance", "solve", "compare", "leaderboard", "fig2", "fig3"):
        assert name in text
    assert set(cli.COMMANDS) >= {"run", "solvers", "instance", "solve", "compare", "leaderboard"}


@pytest.mark.parametrize("name", ["fig2", "fig3"])
def test_paper_scripts_get_their_arguments_unchanged(monkeypatch, name):
    seen = []
    monkeypatch.setitem(PASSTHROUGH, name, seen.append)
    assert main([name, "--out", "x y", "--seeds", "0", "1", "--help"]) == 0
    assert seen == [["--out", "x y", "--seeds", "0", "1", "--help"]]


@pytest.mark.parametrize("name", ["fig2", "fig3"])
def test_paper_script_help_is_the_scripts(capsys, name):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--out" in out


def test_python_dash_m_greedybench_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "greedybench", "leaderboard", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "instances" in out.stdout and "aggregate" in out.stdout


def test_leaderboard_stage_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "grid.yaml"
    bad.write_text("grid_version: 1\n")
    assert main(["leaderboard", "instances", "--grid", str(bad), "--family", "f", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "greedybench leaderboard: error:" in err and "required" in err and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------
# help texts a new user reads (issue 17)


def _all_parsers():
    """The top-level parser and every subcommand's (and the leaderboard stages')."""
    top = build_parser()
    out = [("greedybench", top)]
    stack = [top]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sp in action.choices.items():
                    out.append((name, sp))
                    stack.append(sp)
    return out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"greedybench {greedybench.__version__}"


def test_help_texts_have_no_rst_markup():
    for name, parser in _all_parsers():
        text = parser.format_help()
        assert "`" not in text, f"{name} --help shows backticks:\n{text}"
        assert ":data:" not in text and ":func:" not in text, name


def test_every_option_is_explained():
    for name, parser in _all_parsers():
        if name in PASSTHROUGH:
            continue
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"greedybench {name}: {action.option_strings or action.dest} has no help text"


def test_instance_help_lists_values_defaults_and_a_real_example(tmp_path, monkeypatch, capsys):
    text = {n: p for n, p in _all_parsers()}["instance"].format_help()
    for table in (ENSEMBLES, SIGNALS, AMPLITUDES):
        for value in table:
            assert value in text, value
    for default in ("(default: gaussian)", "(default: uniform)", "(default: 1)", "(default: 0)",
                    "(default: float64)"):
        assert default in " ".join(text.split()), default
    examples = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("greedybench ")]
    assert any(e.startswith("greedybench instance ") for e in examples)
    # every example in the epilog runs as written, in order (instance files, then solve on them)
    monkeypatch.chdir(tmp_path)
    for line in examples:
        assert main(shlex.split(line)[1:]) == 0, line
    out = capsys.readouterr().out
    assert "wrote gauss.npz" in out and "omp on gauss.npz: 100 problems" in out
    inst = load_instance(tmp_path / "latent.npz")
    assert (inst.m, inst.N, inst.s, inst.B) == (64, 128, 8, 100) and inst.meta["signal"] == "latent"


def test_top_level_examples_are_real_commands(tmp_path, monkeypatch):
    """The examples of `greedybench --help` (the README's too) name real options."""
    text = build_parser().format_help().split("\nexamples:\n")[1]
    examples = [re.split(r"\s{3,}", ln.strip())[0] for ln in text.splitlines() if ln.startswith("  greedybench ")]
    assert len(examples) >= 4
    parser = build_parser()
    for line in examples:
        parser.parse_args(shlex.split(line)[1:])  # SystemExit(2) on an unknown command or option
    monkeypatch.chdir(tmp_path)
    inst = next(e for e in examples if e.startswith("greedybench instance "))
    assert main(shlex.split(inst)[1:]) == 0 and (tmp_path / "gauss.npz").is_file()


def test_solvers_table_has_full_headers_and_descriptions(capsys):
    assert main(["solvers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["solver", *CAPABILITY_KEYS, "version", "variants"]
    text = "\n".join(lines)
    for name, entry in discover().items():
        assert any(ln.startswith(name + " ") for ln in lines), name
        if entry.available:
            words = entry.description.split()[:4]  # the docstring's first words, wrapped or not
            assert " ".join(words) in text.replace("\n    ", " "), name


def test_solvers_json_descriptions_are_whole_paragraphs(capsys):
    assert main(["solvers", "--json"]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert rows["omp"]["description"].startswith("Orthogonal Matching Pursuit")
    # the first paragraph, not its first line cut mid-sentence
    assert not rows["alista"]["description"].endswith(",")
    assert all("``" not in d.get("description", "") for d in rows.values())


def test_solve_trained_without_state_names_the_flag_and_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["instance", "--ensemble", "partial_dft", "--signal", "latent", "-m", "16", "-N", "32",
                 "-s", "3", "--batch", "4", "-o", "lat.npz"]) == 0
    capsys.readouterr()
    assert main(["solve", "omp_net", "lat.npz"]) == 2
    err = capsys.readouterr().err
    assert "--state" in err and "state=" not in err and len(err.strip().splitlines()) == 1
    assert main(["solve", "omp_net", "lat.npz", "--state", "missing.pt"]) == 2
    assert "--state missing.pt: no such file" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_text("not a state")
    assert main(["solve", "omp_net", "lat.npz", "--state", "bad.pt"]) == 2
    assert "--state bad.pt: not a trained state file" in capsys.readouterr().err
    assert main(["solve", "omp", "lat.npz", "--state", "bad.pt"]) == 2
    assert "not a trained solver" in capsys.readouterr().err
    assert main(["solve", "omp", "nope.npz"]) == 2
    err = capsys.readouterr().err
    assert "'nope.npz'" in err and str(tmp_path) not in err


def test_solve_errors_name_the_users_file(tmp_path, monkeypatch, capsys):
    """A solver that breaks the contract: the message names the instance as the user wrote it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert main(["instance", "-m", "16", "-N", "32", "-s", "3", "--batch", "2", "-o", "sub/g.npz"]) == 0
    bad = tmp_path / "bad_shape.py"
    bad.write_text("import torch\nname = 'bad_shape'\n"
                   "capabilities = {'differentiable': False, 'trained': False, 'complex': True, 'gpu': True}\n"
                   "parameters = {}\n"
                   "def solve(problem):\n    return torch.zeros(problem.B, problem.N + 1, dtype=torch.float64)\n")
    capsys.readouterr()
    assert main(["solve", "bad_shape", "sub/g.npz", "--solver-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "instance=sub/g.npz" in err, err


def test_readme_command_lines_are_real():
    """Every `greedybench ...` line of the README's bash blocks parses (placeholders like
    [--out DIR] aside): no `greedybench instance ...` standing in for a command."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    lines = [ln.split("  #")[0].strip() for b in blocks for ln in b.splitlines() if ln.startswith("greedybench ")]
    assert lines, "the README shows no greedybench command"
    parser = build_parser()
    for line in lines:
        placeholder = re.search(r" \[[-A-Z]", line)  # e.g. [--out DIR]: check the part before it
        if placeholder:
            line = line[:placeholder.start()]
        assert "..." not in line, f"README: {line!r} is not a real command"
        argv = shlex.split(line)[1:]
        if argv and argv[0] in PASSTHROUGH:
            continue
        parser.parse_args(argv)  # SystemExit(2) on an unknown command or option
