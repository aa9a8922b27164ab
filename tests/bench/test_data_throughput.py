"""The data throughput bench on a small mix: both pipelines count the same tokens, packed rows are nearly full,
and the ratio is reported as a median with its spread and the machine's load."""

import json

import pytest

from bench.data_throughput import AGENT, GENERAL, main
from tests.conftest import shared_file

pytestmark = pytest.mark.integration  # the bench starts its own local Ray


def test_bench_counts_the_same_tokens_and_packs_full_rows(tiny_checkpoint, capsys):
    data_dir = shared_file(AGENT).parents[1]
    for rel in GENERAL:
        shared_file(rel)
    args = ["--records", "400", "--num-proc", "1", "--warmup-records", "0", "--quick"]
    main([*args, "--data-dir", str(data_dir), "--tokenizer", str(tiny_checkpoint)])
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    keys = {"tokens_per_s", "baseline_tokens_per_s", "ratio", "packing_efficiency", "padding_efficiency", "load"}
    assert keys <= result.keys()
    assert result["tokens"]["ours"] == result["tokens"]["baseline"] > 0
    ratio = result["ratio"]
    assert ratio["n"] == 1 == result["repeats"] and ratio["min"] == ratio["median"] == ratio["max"]
    # One repetition: the median ratio is that repetition's rates' ratio.
    assert ratio["median"] == pytest.approx(result["tokens_per_s"] / result["baseline_tokens_per_s"], rel=1e-3)
    assert result["packing_efficiency"] >= 0.95 > result["padding_efficiency"]
    # before, and after each pipeline: ours, datasets.map, and the reference (datasets.map, our batched masking)
    assert result["load"]["cpus"] >= 1 and result["load"]["samples"] == 4
    assert result["ratio_to_reference"]["n"] == 1
    assert "load average (1 min)" in out


def test_bench_wants_three_repetitions_unless_quick(capsys):
    with pytest.raises(SystemExit, match="at least 3"):
        main(["--repeats", "2"])
