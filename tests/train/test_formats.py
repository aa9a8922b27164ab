"""Loaders: every supported format into the canonical record, with bad records located by file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from train.errors import DataFormatError
from train.formats import detect_format, load_corpus, read_records, to_canonical

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder not found at {DATA}")


def turn(who: str, value: str, loss: bool | None = None) -> dict:
    return {"from": who, "value": value, "loss": loss}


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"conversations": [{"from": "human", "value": "a", "loss": None}]}, "agentinstruct"),
        ({"conversations": [{"from": "human", "value": "a"}]}, "sharegpt"),
        ({"conversations": [{"role": "user", "content": "a"}], "task": "db"}, "agentinstruct"),  # a re-publication
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


# ----------------------------------------------------------------------------- hf:// datasets


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """datasets writes its Arrow cache here instead of ~/.cache; offline, so nothing can reach the hub."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def hf_folder(root: Path, lines: list[str], name: str = "corpus") -> str:
    """A folder of data files, as a downloaded dataset repo is; ``hf://`` + its path goes through load_dataset."""
    (root / name).mkdir()
    write_jsonl(root / name / "data.jsonl", lines)
    return f"hf://{root / name}"


def test_hf_folder_goes_through_load_dataset_and_the_format_detection(tmp_path, hf_cache):
    alpaca = json.dumps({"instruction": "Add", "input": "2 and 3", "output": "5"})
    path = hf_folder(tmp_path, [alpaca, alpaca])
    corpus = load_corpus(path)
    assert corpus.formats == {"alpaca": 2} and corpus.rows == 2 and corpus.skipped == {}
    assert corpus.records[0] == {
        "id": "corpus_0",
        "source": "corpus",
        "conversations": [turn("human", "Add\n2 and 3"), turn("gpt", "5")],
    }
    assert (corpus.hf.name, corpus.hf.split, corpus.source) == (str(tmp_path / "corpus"), "train", path)
    assert load_corpus(path).digest == corpus.digest  # same rows, same digest


def test_hf_digest_changes_with_the_rows(tmp_path, hf_cache):
    first = load_corpus(hf_folder(tmp_path, [GOOD, GOOD], "a"))
    changed = load_corpus(hf_folder(tmp_path, [GOOD, GOOD.replace('"a"', '"b"')], "b"))
    assert first.digest != changed.digest


def test_hf_bad_row_names_the_row_or_is_skipped(tmp_path, hf_cache):
    no_answer = json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "human", "value": "r"}]})
    path = hf_folder(tmp_path, [GOOD, no_answer, GOOD])
    with pytest.raises(DataFormatError, match=r"corpus\[train\], row 2: the conversation has no assistant turn"):
        read_records(path)
    records, skipped = read_records(path, on_bad_record="skip")
    assert len(records) == 2 and skipped == {"no_assistant": 1}


def test_hf_unknown_split_names_the_key_and_the_splits(tmp_path, hf_cache):
    path = hf_folder(tmp_path, [GOOD])
    expected = r"corpus\[db\]: mix\.general\.0\.path: Unknown split \"db\".*\['train'\].*set mix\.general\.0\.split"
    with pytest.raises(DataFormatError, match=expected):
        load_corpus(path, split="db", key="mix.general.0")


def test_hf_options_on_a_local_file_are_refused(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD])
    with pytest.raises(
        DataFormatError, match=r"mix\.general\.1\.path: split, revision and subset apply only to hf://"
    ):
        load_corpus(path, split="db", key="mix.general.1")
    with pytest.raises(DataFormatError, match=r"name a dataset after hf://"):
        load_corpus("hf://", key="mix.general.1")


def test_hf_fields_in_the_config_need_an_hf_path():
    from pydantic import ValidationError

    from train.config import CorpusConfig

    assert CorpusConfig(path="hf://THUDM/AgentInstruct", split="db", revision="main").split == "db"
    with pytest.raises(ValidationError, match=r"split, subset: only for hf:// datasets"):
        CorpusConfig(path="data.json", split="db", subset="x")


def test_offline_unknown_hf_name_says_what_to_do(tmp_path):
    # A fresh interpreter: huggingface_hub reads HF_HUB_OFFLINE when it is imported.
    code = (
        "from train.formats import read_records\n"
        "try:\n"
        "    read_records('hf://agenttune-tests/no-such-dataset', key='mix.general.0')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    env.pop("HF_DATASETS_CACHE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    name = "agenttune-tests/no-such-dataset"
    assert out.startswith(f"DataFormatError hf://{name}[train]: mix.general.0.path: cannot load"), out
    for hint in (f"'{name}'", "HF_HUB_OFFLINE=1", "HF_HOME", str(tmp_path / "hf"), "--local-dir"):
        assert hint in out, hint


@needs_data
def test_real_glaive_reads_the_same_through_hf(tmp_path, hf_cache):
    source = DATA / "general" / "glaive_toolcall_en_demo.json"
    (tmp_path / "glaive").mkdir()
    (tmp_path / "glaive" / source.name).symlink_to(source)  # a folder holding the file, as a dataset repo would
    via_hf = load_corpus(f"hf://{tmp_path / 'glaive'}")
    direct, _ = read_records(source)
    assert via_hf.rows == 300 and via_hf.skipped == {}
    assert [r["conversations"] for r in via_hf.records] == [r["conversations"] for r in direct]


# ----------------------------------------------------------------------------- tool calls through the loss mask


def trained_texts(tok, out: dict) -> list[str]:
    """The decoded runs of trained tokens, in order."""
    runs, current = [], []
    for token, label in zip(out["input_ids"], out["labels"], strict=True):
        if label != -100:
            current.append(token)
        elif current:
            runs, current = [*runs, current], []
    runs += [current] if current else []
    return [tok.decode(r) for r in runs]


@pytest.fixture(scope="module")
def chatml_bytes():
    from train.tiny import SPECIAL_TOKENS, build_tiny_tokenizer

    return build_tiny_tokenizer(["unused"], vocab_size=256 + len(SPECIAL_TOKENS), chat_template="chatml")


def test_tool_calls_are_trained_and_tool_results_are_not(chatml_bytes):
    from train.masking import tokenize_conversation

    record = {
        "conversations": [
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
            {"from": "observation", "value": '{"temp": -3}'},
            {"from": "gpt", "value": "It is -3 degrees."},
        ],
        "tools": '[{"name": "weather"}]',
    }
    conv = to_canonical(record, detect_format(record), "glaive", 0)["conversations"]
    out = tokenize_conversation(chatml_bytes, conv, max_length=4096)
    assert trained_texts(chatml_bytes, out) == [
        '{"name": "weather", "arguments": {"city": "Oslo"}}<|im_end|>',
        "It is -3 degrees.<|im_end|>",
    ]


@needs_data
def test_real_glaive_trains_every_call_and_no_observation(chatml_bytes):
    from train.masking import tokenize_conversation

    raw = json.loads((DATA / "general" / "glaive_toolcall_en_demo.json").read_text())
    records, _ = read_records(DATA / "general" / "glaive_toolcall_en_demo.json")
    calls = observations = 0
    for source, record in zip(raw, records, strict=True):
        out = tokenize_conversation(chatml_bytes, record["conversations"], max_length=10**6)
        trained = "".join(trained_texts(chatml_bytes, out))
        for t in source["conversations"]:
            if t["from"] == "function_call":
                calls += 1
                assert t["value"] in trained
            elif t["from"] == "observation":
                observations += 1
                assert t["value"] not in trained
    assert calls > 100 and observations > 100
