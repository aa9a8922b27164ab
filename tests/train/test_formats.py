"""Loaders: every supported format into the canonical record, with bad records located by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.errors import DataFormatError
from train.formats import detect_format, read_records, to_canonical

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder not found at {DATA}")


def turn(who: str, value: str, loss: bool | None = None) -> dict:
    return {"from": who, "value": value, "loss": loss}


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"conversations": [{"from": "human", "value": "a", "loss": None}]}, "agentinstruct"),
        ({"conversations": [{"from": "human", "value": "a"}]}, "sharegpt"),
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"messages": [{"role": "user", "content": "a"}]}, "openai"),
    ],
)
def test_detect_format(record, fmt):
    assert detect_format(record) == fmt


def test_detect_format_names_the_keys_it_saw():
    with pytest.raises(DataFormatError, match=r"\['prompt'\]") as info:
        detect_format({"prompt": "x"})
    assert info.value.reason == "unknown_format"


def test_agentinstruct_keeps_loss_flags():
    record = {"id": 7, "conversations": [turn("human", "q"), turn("gpt", "Ok.", False), turn("gpt", "A", True)]}
    assert to_canonical(record, "agentinstruct", "db", 0) == {
        "id": "7",
        "source": "db",
        "conversations": [turn("human", "q"), turn("gpt", "Ok.", False), turn("gpt", "A", True)],
    }


def test_sharegpt_aliases_and_tool_turns():
    record = {
        "system": "Be kind.",
        "tools": '[{"name": "f"}]',
        "conversations": [
            {"from": "user", "value": "hi"},
            {"from": "function_call", "value": '{"name": "f"}'},
            {"from": "observation", "value": "42"},
            {"from": "assistant", "value": "It is 42."},
        ],
    }
    assert to_canonical(record, "sharegpt", "glaive", 3) == {
        "id": "glaive_3",
        "source": "glaive",
        "conversations": [
            turn("system", 'Be kind.\n\nYou can call the following tools:\n[{"name": "f"}]'),
            turn("human", "hi"),
            turn("gpt", '{"name": "f"}'),
            turn("human", "42"),
            turn("gpt", "It is 42."),
        ],
    }


def test_alpaca_with_history_system_and_input():
    record = {"instruction": "Add", "input": "2 and 3", "output": "5", "system": "S", "history": [["q", "a"]]}
    assert to_canonical(record, "alpaca", "al", 0)["conversations"] == [
        turn("system", "S"),
        turn("human", "q"),
        turn("gpt", "a"),
        turn("human", "Add\n2 and 3"),
        turn("gpt", "5"),
    ]


def test_openai_messages_with_weight_and_tool_calls():
    record = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "r"},
            {"role": "assistant", "content": "draft", "weight": 0},
            {"role": "assistant", "content": "final", "weight": 1},
        ]
    }
    assert to_canonical(record, "openai", "oa", 0)["conversations"] == [
        turn("system", "S"),
        turn("human", "q"),
        turn("gpt", '[{"name": "f", "arguments": "{}"}]'),
        turn("human", "r"),
        turn("gpt", "draft", False),
        turn("gpt", "final", True),
    ]


def test_record_without_assistant_turn_is_rejected():
    with pytest.raises(DataFormatError, match="no assistant turn") as info:
        to_canonical({"conversations": [{"from": "human", "value": "q"}]}, "sharegpt", "s", 0)
    assert info.value.reason == "no_assistant"


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "mix.jsonl", [GOOD, GOOD, '{"conversations": [', GOOD])
    with pytest.raises(DataFormatError, match=r"mix\.jsonl, line 3: invalid JSON") as info:
        read_records(path)
    assert (info.value.path, info.value.line) == (str(path), 3)


def test_skip_mode_counts_bad_records_by_reason(tmp_path):
    bad_role = json.dumps({"conversations": [{"from": "robot", "value": "x"}]})
    path = write_jsonl(tmp_path / "mix.jsonl", [GOOD, "", "not json", bad_role, '{"prompt": 1}', GOOD, "[1]"])
    records, skipped = read_records(path, on_bad_record="skip")
    assert [r["id"] for r in records] == ["mix_0", "mix_4"]
    assert skipped == {"invalid_json": 1, "bad_role": 1, "unknown_format": 1, "not_object": 1}


def test_bad_record_in_json_list_names_record_number(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([json.loads(GOOD), {"instruction": "x", "output": 3}]))
    with pytest.raises(DataFormatError, match=r"data\.json, record 2: Alpaca record needs a string 'output'"):
        read_records(path)


def test_json_that_is_not_a_list_and_unknown_suffix(tmp_path):
    (tmp_path / "one.json").write_text(GOOD)
    with pytest.raises(DataFormatError, match="expected a JSON list.*use .jsonl"):
        read_records(tmp_path / "one.json")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(DataFormatError, match="unsupported file type '.csv'"):
        read_records(tmp_path / "data.csv")


def test_parquet_round_trip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": "t1", "conversations": [turn("human", "q"), turn("gpt", "a", True)]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "traj.parquet")
    records, skipped = read_records(tmp_path / "traj.parquet")
    assert records == [{"id": "t1", "source": "traj", "conversations": rows[0]["conversations"]}] and skipped == {}


def test_explicit_format_is_used(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps({"instruction": "i", "output": "o"})])
    with pytest.raises(DataFormatError, match="'conversations' must be a list"):
        read_records(path, fmt="sharegpt")
    assert read_records(path, fmt="alpaca")[0][0]["conversations"][1] == turn("gpt", "o")


@needs_data
@pytest.mark.parametrize(
    ("name", "count", "fmt"),
    [
        ("agentinstruct/db.json", 538, "agentinstruct"),
        ("general/sharegpt_identity.json", 500, "sharegpt"),
        ("general/alpaca_en_demo.json", 999, "alpaca"),
        ("general/glaive_toolcall_en_demo.json", 300, "sharegpt"),
    ],
)
def test_real_files_load_completely(name, count, fmt):
    path = DATA / name
    assert detect_format(json.loads(path.read_text())[0]) == fmt
    records, skipped = read_records(path)
    assert len(records) == count and skipped == {}
    assert len({r["id"] for r in records}) == count
    for r in records:
        assert r["source"] == path.stem
        assert {t["from"] for t in r["conversations"]} <= {"system", "human", "gpt"}


@needs_data
def test_real_agentinstruct_loss_flags_survive():
    records, _ = read_records(DATA / "agentinstruct" / "db.json")
    flags = [(t["from"], t["loss"]) for r in records for t in r["conversations"]]
    assert (flags.count(("human", None)), flags.count(("gpt", True)), flags.count(("gpt", False))) == (1647, 1109, 538)


@needs_data
def test_real_glaive_tools_fold_into_system_turn():
    records, _ = read_records(DATA / "general" / "glaive_toolcall_en_demo.json")
    with_tools = [r for r in records if r["conversations"][0]["from"] == "system"]
    assert len(with_tools) == 300 - 109  # 109 records have an empty tools list
    assert with_tools[0]["conversations"][0]["value"].startswith("You can call the following tools:\n[")
