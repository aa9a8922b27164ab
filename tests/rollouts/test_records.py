import json

import pytest

from rollouts.errors import RolloutError
from rollouts.records import JsonlWriter, messages_to_conversations, read_jsonl, sample_records, write_json_atomic


def test_writer_appends_and_repairs_a_partial_last_line(tmp_path):
    path = tmp_path / "t.jsonl"
    with JsonlWriter(path) as w:
        w.write({"id": "a"})
        w.write({"id": "b"})
    with path.open("a") as f:
        f.write('{"id": "c", "conv')  # a crash mid-write
    w = JsonlWriter(path)
    assert w.repaired_lines == 1
    w.write({"id": "d"})
    w.close()
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b", "d"]


def test_reader_names_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1}\n\nnot json\n')
    with pytest.raises(RolloutError, match=r"t\.jsonl:3: not a JSON record"):
        list(read_jsonl(path))


def test_atomic_json_leaves_no_temp_files(tmp_path):
    write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_messages_become_agentinstruct_turns():
    conv = messages_to_conversations(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    )
    assert conv == [
        {"from": "system", "value": "s", "loss": None},
        {"from": "human", "value": "q", "loss": None},
        {"from": "gpt", "value": "a", "loss": True},
    ]


def test_the_trajectory_sample_shows_every_kind_of_ending_of_every_env():
    recs = [
        {"id": f"{env}-{status}-{i:03d}", "env": env, "status": status, "success": status == "completed" and i % 2}
        for env in ("a", "b")
        for status in ("completed", "timeout")
        for i in range(50)
    ]
    sample = sample_records(reversed(recs), per_group=2)
    groups = {(r["env"], r["status"], r["success"]) for r in sample}
    assert len(groups) == 6 and len(sample) == 12  # (a|b) x (completed ok, completed failed, timeout)
    assert [r["id"] for r in sample[:2]] == ["a-completed-000", "a-completed-002"]  # smallest ids, stable
