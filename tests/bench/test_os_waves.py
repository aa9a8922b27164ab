"""The OS-waves bench on a few real sandboxes: both variants play every task, the prewarmed one finds its first
wave's sandboxes started, and the ratio is a median of paired repetitions with the machine's load."""

import json

import pytest

from bench.os_waves import main


def test_bench_plays_both_variants_and_reports_the_ratio(capsys):
    main(["--concurrency", "3", "--waves", "2", "--delay", "0.2", "--repeats", "3"])
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    for variant in ("cold", "prewarmed"):
        eff = result["efficiency"][variant]
        assert eff["n"] == 3 and 0 < eff["min"] <= eff["median"] <= eff["max"] <= 1.0
    assert result["ratio"]["n"] == 3 and result["load"]["samples"] == 7
    assert "1st wave reset ms" in out and "prewarmed / cold" in out


def test_bench_wants_three_repetitions():
    with pytest.raises(SystemExit, match="at least 3"):
        main(["--repeats", "2"])
