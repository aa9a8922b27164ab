"""Ray Data mixing: exact row counts at ratio eta, upsampling, masks survive the trip to Parquet."""

import copy

import pyarrow.parquet as pq
import pytest

from tests.conftest import shared_file
from train.corpus import generate_general_records
from train.formats import read_records
from train.mix import build_mix, upsample

pytestmark = pytest.mark.integration


def test_upsample_uses_every_record_evenly():
    recs = [{"id": str(i)} for i in range(7)]
    out = upsample(recs, 30, seed=1)
    counts = {r["id"]: sum(o["id"] == r["id"] for o in out) for r in recs}
    assert len(out) == 30 and set(counts.values()) <= {4, 5}


def test_mix_hits_the_ratio_and_keeps_masks(ray_2_cpus, tmp_path, tiny_checkpoint):
    agent, _ = read_records(shared_file("agentinstruct/db.json"))
    agent = agent[:40]
    general = generate_general_records(300, seed=0)
    report = build_mix(
        agent,
        general,
        eta=0.2,
        num_samples=200,
        tokenizer_path=str(tiny_checkpoint),
        seq_len=2048,
        out_dir=tmp_path / "mix",
        seed=0,
    )
    assert report.rows == {"agent": 40, "general": 160}
    assert report.achieved_eta == pytest.approx(0.2)
    assert report.agent_repeats == 1.0 and report.unique_agent_records == 40
    table = pq.read_table(tmp_path / "mix" / "samples")
    assert table.num_rows == 200
    sources = table.column("source").to_pylist()
    # shuffled: the agent rows are spread over the stream, not in one block
    first_half_agent = sources[:100].count("agent")
    assert 5 < first_half_agent < 35
    row = table.slice(0, 1).to_pylist()[0]
    assert len(row["input_ids"]) == len(row["labels"]) == row["num_tokens"]
    assert row["num_loss_tokens"] == sum(1 for x in row["labels"] if x != -100) > 0
    assert report.loss_tokens == sum(table.column("num_loss_tokens").to_pylist())
    assert not (tmp_path / ".mix.tmp").exists()
    # packed sequences hold every sample exactly once, within seq_len, far fuller than one sample per row
    packed = pq.read_table(tmp_path / "mix" / "packed")
    assert sum(packed.column("samples").to_pylist()) == 200 and packed.num_rows == report.packed_rows
    assert max(len(x) for x in packed.column("input_ids").to_pylist()) <= 2048
    assert sum(len(x) for x in packed.column("input_ids").to_pylist()) == report.tokens
    assert report.packing_efficiency > 0.85 and report.packing_efficiency > 3 * report.padding_efficiency


def test_general_corpus_required_when_eta_below_one(ray_2_cpus, tmp_path, tiny_checkpoint):
    from train.errors import TrainError

    agent = [
        {
            "id": "a",
            "source": "x",
            "conversations": [
                {"from": "human", "value": "q", "loss": None},
                {"from": "gpt", "value": "a", "loss": True},
            ],
        }
    ]
    before = copy.deepcopy(agent)
    with pytest.raises(TrainError, match="no general records"):
        build_mix(
            agent, [], eta=0.5, num_samples=4, tokenizer_path=str(tiny_checkpoint), seq_len=64, out_dir=tmp_path / "m"
        )
    assert agent == before  # the caller's records are not modified
    assert not (tmp_path / "m").exists()  # nothing half-written
