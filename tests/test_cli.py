"""The one command-line tool: subcommands, the paper scripts handed their arguments unchanged,
and the leaderboard stages the Snakemake rules call."""

import subprocess
import sys

import pytest

from greedybench import cli
from greedybench.cli import PASSTHROUGH, build_parser, main


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
