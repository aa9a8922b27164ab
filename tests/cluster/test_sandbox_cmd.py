"""``agenttune sandbox run -- CMD``: output, exit code, 124 on timeout (module cluster.sandbox_cmd)."""

from __future__ import annotations

import argparse

import pytest

from cluster import sandbox_cmd


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="agenttune")
    sandbox_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_prints_output_and_exits_with_the_command_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["sandbox", "run", "--", "sh", "-c", "echo in sandbox; id -u; exit 3"]) == 3
    assert capsys.readouterr().out == "in sandbox\n0\n"
    assert cli(["sandbox", "run", "--", "ls /root | wc -l"]) == 0
    assert capsys.readouterr().out == "0\n"


def test_timeout_exits_124(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["sandbox", "run", "--timeout", "0.5", "--memory-mb", "256", "--", "sleep", "30"]) == 124
    assert "timed out" in capsys.readouterr().err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["sandbox", "run"]) == 2
    assert "give a command" in capsys.readouterr().err
