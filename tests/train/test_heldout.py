"""The held-out slice of the general corpora: chosen by the seed, never mixed, written beside the mix."""

import copy
import json

import pyarrow.parquet as pq
import pytest

from train.corpus import generate_general_records
from train.errors import TrainError
from train.heldout import HELDOUT_FILE, heldout_count, read_heldout, split_heldout, write_heldout


def conv(q: str, a: str, **extra) -> list[dict]:
    return [{"from": "human", "value": q, **extra}, {"from": "gpt", "value": a, **extra}]


def records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "source": "s", "conversations": conv(f"question {i}", f"answer {i}")} for i in range(n)]


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [(64, 1000, 64), (64, 100, 25), (64, 8, 2), (64, 7, 0), (0, 1000, 0), (3, 8, 2), (2, 8, 2)],
)
def test_heldout_count_caps_at_a_quarter_and_skips_tiny_corpora(requested, available, expected):
    assert heldout_count(requested, available) == expected


def test_split_is_seeded_disjoint_and_leaves_the_input_alone():
    recs = records(40)
    before = copy.deepcopy(recs)
    kept, heldout = split_heldout(recs, 10, seed=3)
    assert recs == before
    assert len(heldout) == 10 and len(kept) == 30
    assert sorted(r["id"] for r in kept + heldout) == sorted(r["id"] for r in recs)
    # input order is kept in both parts
    assert [r["id"] for r in kept] == [r["id"] for r in recs if r in kept]
    assert [r["id"] for r in heldout] == [r["id"] for r in recs if r in heldout]
    again = split_heldout(records(40), 10, seed=3)
    assert [r["id"] for r in again[1]] == [r["id"] for r in heldout]
    other = split_heldout(records(40), 10, seed=4)
    assert [r["id"] for r in other[1]] != [r["id"] for r in heldout]
    assert split_heldout(recs, 0, seed=3) == (recs, [])
    with pytest.raises(ValueError, match="cannot hold out 41 of 40"):
        split_heldout(recs, 41, seed=0)


def test_duplicates_of_a_heldout_conversation_leave_the_kept_part():
    # 10 conversations, each twice under other ids; the second copy differs only in whitespace
    recs = [{"id": f"{k}-{i}", "conversations": conv(f"q{' ' * k} {i}", f"a {i}")} for i in range(10) for k in (1, 2)]
    kept, heldout = split_heldout(recs, 3, seed=0)
    held = {r["id"].split("-")[1] for r in heldout}
    assert len(heldout) == 3 and held
    assert [r["id"] for r in kept] == [r["id"] for r in recs if r["id"].split("-")[1] not in held]


def test_write_and_read_canonical_records(tmp_path):
    recs = [
        {"id": "a", "source": "gen", "conversations": conv("q", "a"), "extra": 1},
        {"id": "b", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x", "loss": False}]},
    ]
    path = write_heldout(tmp_path / "mix" / HELDOUT_FILE, recs)
    assert [p.name for p in path.parent.iterdir()] == [HELDOUT_FILE]  # no temp file left behind
    assert read_heldout(path) == [
        {"id": "a", "source": "gen", "conversations": conv("q", "a", loss=None)},
        {
            "id": "b",
            "source": None,
            "conversations": [
                {"from": "human", "value": "q", "loss": None},
                {"from": "gpt", "value": "x", "loss": False},
            ],
        },
    ]


def test_read_errors_name_the_file_and_what_to_do(tmp_path):
    with pytest.raises(TrainError, match=r"no held-out records; re-run `agenttune mix` with eval.general"):
        read_heldout(tmp_path / HELDOUT_FILE)
    (tmp_path / HELDOUT_FILE).write_text('{"id": 1}')
    with pytest.raises(TrainError, match=rf"{HELDOUT_FILE}: expected a JSON list"):
        read_heldout(tmp_path / HELDOUT_FILE)
    (tmp_path / HELDOUT_FILE).write_text("[\n{")
    with pytest.raises(TrainError, match=rf"{HELDOUT_FILE}:2: not JSON"):
        read_heldout(tmp_path / HELDOUT_FILE)


@pytest.mark.integration
def test_mix_stage_never_mixes_the_heldout_records(ray_2_cpus, tmp_path, tiny_checkpoint):
    from transformers import AutoTokenizer

    from train.config import CorpusConfig, MixConfig, TrainConfig
    from train.masking import tokenize_conversation
    from train.stage import run_mix_stage

    agent = [
        {
            "id": f"agent_{i}",
            "conversations": conv(f"list the files in /tmp/{i}", f"Thought: ls.\nAction: ls /tmp/{i}"),
        }
        for i in range(6)
    ]
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps(agent))
    train = TrainConfig(steps=10, global_batch_size=4, num_workers=1, seq_len=1024, packing=False)
    out = run_mix_stage(
        MixConfig(general=[CorpusConfig(path="generated", num_records=80)], eta=0.2, decontaminate=False),
        train=train,
        kept=kept,
        out_dir=tmp_path / "mix",
        tokenizer_path=str(tiny_checkpoint),
        seed=0,
        generated_corpus=tmp_path / "generated.json",
        decontaminate_against=[],
        sandbox="none",
        heldout_records=16,
    )
    heldout = read_heldout(tmp_path / "mix" / HELDOUT_FILE)
    assert out.report["heldout_records"] == len(heldout) == 16
    # the same 16 as split_heldout picks from the generated corpus (seed 0), in corpus order
    general = generate_general_records(80, 0)
    assert [r["id"] for r in heldout] == [r["id"] for r in split_heldout(general, 16, 0)[1]]
    dropped = out.report["heldout_duplicates_dropped"]
    assert out.report["unique_general_records"] == 80 - 16 - dropped
    # no mixed row holds a held-out record: not by id, and not by content (its exact tokens)
    table = pq.read_table(tmp_path / "mix" / "samples", columns=["id", "input_ids"])
    assert table.num_rows == train.samples_needed
    assert not {r["id"] for r in heldout} & set(table.column("id").to_pylist())
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    held_ids = {tuple(tokenize_conversation(tokenizer, r["conversations"], 1024)["input_ids"]) for r in heldout}
    assert not held_ids & {tuple(ids) for ids in table.column("input_ids").to_pylist()}
    assert out.report["rows"]["general"] > 0  # the general share still came from the other records
