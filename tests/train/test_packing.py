"""Packing: exact bins and positions, and packed samples do not attend to each other."""

import random

import pyarrow as pa
import pytest
import torch

from train.batches import collate
from train.packing import IGNORE, assign_bins, occupancy, pack, pack_table


def row(n, start, source="general", loss_from=0):
    ids = list(range(start, start + n))
    return {"input_ids": ids, "labels": [IGNORE] * loss_from + ids[loss_from:], "source": source}


def test_best_fit_bins_positions_and_first_label():
    rows = [row(6, 10), row(3, 20, "agent"), row(5, 30), row(2, 40), row(4, 50)]
    # first-fit decreasing: 6 -> bin A, 5 -> bin B, 4 -> bin C, 3 -> bin B, 2 -> bin A
    seqs = list(pack(rows, seq_len=8))
    assert [s["input_ids"] for s in seqs] == [
        [10, 11, 12, 13, 14, 15, 40, 41],
        [30, 31, 32, 33, 34, 20, 21, 22],
        [50, 51, 52, 53],
    ]
    assert [s["samples"] for s in seqs] == [2, 2, 1]
    assert seqs[0]["position_ids"] == [0, 1, 2, 3, 4, 5, 0, 1]
    # the first label of every sample is masked: it must not be predicted from the previous sample
    assert seqs[0]["labels"] == [IGNORE, 11, 12, 13, 14, 15, IGNORE, 41]
    assert seqs[1]["source_ids"] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert occupancy(seqs, 8) == 20 / 24


def test_long_samples_are_cut_to_seq_len():
    (seq,) = list(pack([row(20, 0)], seq_len=8))
    assert seq["input_ids"] == list(range(8)) and seq["position_ids"] == list(range(8))


def test_packed_samples_do_not_attend_to_each_other(tiny_checkpoint):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()
    a, b = row(7, 100), row(5, 300)
    (seq,) = list(pack([a, b], seq_len=16))
    batch = collate([seq], pad_id=0, packed=True)
    assert "attention_mask" not in batch and batch["position_ids"][0, :12].tolist() == [*range(7), *range(5)]
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        alone_a = model(input_ids=torch.tensor([a["input_ids"]])).logits[0]
        alone_b = model(input_ids=torch.tensor([b["input_ids"]])).logits[0]
    start_a = seq["input_ids"].index(100)
    start_b = seq["input_ids"].index(300)
    torch.testing.assert_close(packed[start_a : start_a + 7], alone_a, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[start_b : start_b + 5], alone_b, atol=1e-4, rtol=1e-4)


def test_assign_bins_is_first_fit_decreasing_with_ties_in_input_order():
    assert assign_bins([6, 3, 5, 2, 4], seq_len=8) == [[0, 3], [2, 1], [4]]
    assert assign_bins([2, 2, 2, 2], seq_len=4) == [[0, 1], [2, 3]]
    assert assign_bins([9, 1], seq_len=4) == [[0], [1]]  # cut to 4: it fills a sequence alone
    assert assign_bins([], seq_len=4) == []


def random_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        length = rng.choice([0, 1, rng.randint(1, 40), rng.randint(30, 90)])
        rows.append(row(length, 1000 * i, rng.choice(["agent", "general"]), loss_from=rng.randint(0, length)))
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pack_table_gives_the_sequences_pack_gives(seed):
    rows = random_rows(300, seed)
    table = pa.Table.from_pylist(rows).slice(7)  # a slice: list offsets do not start at 0
    table = pa.concat_tables([table.slice(0, 100), table.slice(100)])  # and several chunks
    packed = pack_table(table, seq_len=64, window=50)
    assert packed.to_pylist() == list(pack(rows[7:], seq_len=64, window=50))
    assert packed.schema.field("source_ids").type == pa.list_(pa.int8())
    assert packed.schema.field("samples").type == pa.int32()
    assert sum(packed.column("samples").to_pylist()) == sum(1 for r in rows[7:] if r["input_ids"])


def test_pack_table_without_rows_or_sources():
    empty = pa.table({"input_ids": pa.array([], pa.list_(pa.int32())), "labels": pa.array([], pa.list_(pa.int32()))})
    assert pack_table(empty, seq_len=8).num_rows == 0
    table = pa.table({"input_ids": [[1, 2, 3]], "labels": [[1, 2, 3]]})
    assert pack_table(table, seq_len=8).to_pylist() == [
        {
            "input_ids": [1, 2, 3],
            "labels": [IGNORE, 2, 3],
            "position_ids": [0, 1, 2],
            "source_ids": [1, 1, 1],
            "samples": 1,
        }
    ]
