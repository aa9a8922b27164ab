"""``agenttune sandbox run -- CMD``: output, exit code, 124 on timeout (module cluster.sandbox_cmd)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import sandbox_cmd
from cluster.cli import main
from envs.sandbox import Sandbox, SandboxUnavailable, probe

CHECKOUT = Path(__file__).resolve().parents[2]


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


def test_timeout_exits_124_when_started_with_sigint_and_sigquit_ignored() -> None:
    # As a script's `cmd &`, nohup or a CI runner starts it: the sandbox must not inherit the ignored signals.
    script = "trap '' INT QUIT; exec \"$0\" -m cluster.cli sandbox run --timeout 2 -- sleep 30"
    done = subprocess.run(
        ["bash", "-c", script, sys.executable], cwd=CHECKOUT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 124, done.stderr
    assert "[timed out after 2 s]" in done.stderr


def test_missing_bubblewrap_is_one_line_saying_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    probe()  # a probe that passed earlier in this process must not hide it: every start looks for bwrap again
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["sandbox", "run", "--", "true"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("agenttune: error: bubblewrap (bwrap) is not installed or not on PATH.")
    assert "apt-get install bubblewrap" in captured.err
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox().start()
