"""Task files with some bad records: the good tasks load with stable ids, the bad ones are reported by line/record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import envs
from envs.base import BadTask, LoadedTasks
from envs.config import EnvSelection, select_tasks
from envs.db.dbbench import load_dbbench
from envs.os.tasks import load_os_tasks
from tests.conftest import shared_file
from tests.envs.bad_task_files import DB_BAD_AT, DB_RECORDS, OS_BAD_AT, OS_RECORDS, write_bad_dbbench, write_bad_os


@pytest.fixture
def bad_dbbench(tmp_path: Path) -> Path:
    return write_bad_dbbench(tmp_path)


@pytest.fixture
def bad_os(tmp_path: Path) -> Path:
    return write_bad_os(tmp_path)


def test_dbbench_skips_exactly_the_bad_lines_and_keeps_every_other_id(bad_dbbench: Path) -> None:
    loaded = envs.load_tasks("DB", str(bad_dbbench), on_bad_task="skip")
    assert [(b.line, b.index) for b in loaded.bad] == [(11, 10), (42, 41)]
    assert "table.rows[2]: expected a list of 6 values" in loaded.bad[0].reason
    assert "table.rows[5]: expected a list of 6 values, got []" in loaded.bad[1].reason
    assert loaded.bad[0].where == "dbbench_bad.jsonl line 11"
    assert loaded.bad[1].to_dict() == {"file": str(bad_dbbench), "line": 42, "reason": loaded.bad[1].reason}
    # Ids are record positions: the tasks before and after a bad line keep the ids they have when it is fixed.
    assert [t.task_id for t in loaded] == [f"dbbench-bad-{i:04d}" for i in range(DB_RECORDS) if i not in DB_BAD_AT]
    dev = envs.load_tasks("DB", str(shared_file("agentbench/dbbench_dev.jsonl")))
    assert [t.payload for t in loaded.tasks] == [t.payload for t in dev]
    assert len(loaded) == 60 and loaded[10].task_id == "dbbench-bad-0011"  # the result reads as its good tasks


def test_dbbench_on_bad_task_error_names_the_file_and_the_first_bad_line(bad_dbbench: Path) -> None:
    for load in (
        lambda: envs.load_tasks("DB", str(bad_dbbench), on_bad_task="error"),
        lambda: load_dbbench(bad_dbbench),
    ):
        with pytest.raises(envs.TaskFormatError) as raised:
            load()
        assert str(raised.value).startswith(f"{bad_dbbench}, line 11: table.rows[2]: expected a list of 6 values")
        assert raised.value.line == 11


def test_a_file_with_no_valid_task_still_fails(tmp_path: Path) -> None:
    path = tmp_path / "dbbench_junk.jsonl"
    path.write_text("{not json\n\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(envs.TaskFormatError, match=r"no valid task.*2 bad.*line 1: not valid JSON") as raised:
        envs.load_tasks("DB", str(path), on_bad_task="skip")
    assert str(raised.value).startswith(str(path))
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(envs.TaskFormatError, match=r"holds no valid task \(no records\)"):
        envs.load_tasks("DB", str(path), on_bad_task="skip")


def test_os_skips_the_bad_records_and_keeps_every_other_id(bad_os: Path) -> None:
    loaded = envs.load_tasks("OS", str(bad_os), on_bad_task="skip")
    assert [(b.index, b.line) for b in loaded.bad] == [(3, None), (12, None)]
    assert "needs 'match' or 'check'" in loaded.bad[0].reason
    assert loaded.bad[1].reason == "missing key 'description'"
    assert loaded.bad[0].where == "os_bad.json record 3"
    assert loaded.bad[0].to_dict() == {"file": str(bad_os), "record": 3, "reason": loaded.bad[0].reason}
    assert [t.task_id for t in loaded] == [f"os-os_bad-{i:05d}" for i in range(OS_RECORDS) if i not in OS_BAD_AT]
    dev = load_os_tasks(shared_file("agentbench/os_dev.json"))
    assert [t.payload for t in loaded] == [t.payload for t in dev]
    with pytest.raises(envs.TaskFormatError, match=r"os_bad.json: record 3: .*needs 'match' or 'check'"):
        load_os_tasks(bad_os)


def test_os_jsonl_reports_lines(tmp_path: Path) -> None:
    good = {"description": "Say hi.", "evaluation": {"match": "hi"}}
    path = tmp_path / "mini.jsonl"
    path.write_text(f"{json.dumps(good)}\n\n{{oops\n{json.dumps(good)}\n", encoding="utf-8")
    loaded = load_os_tasks(path, on_bad_task="skip")
    assert [t.task_id for t in loaded] == ["os-mini-00000", "os-mini-00002"]  # blank lines are not records
    (bad,) = loaded.bad
    assert (bad.line, bad.index, bad.where) == (3, 1, "mini.jsonl line 3")
    assert bad.reason.startswith("not valid JSON")


def test_select_tasks_windows_by_record_position_and_reports_the_bad_ones_inside(bad_dbbench: Path) -> None:
    sel = EnvSelection(id="DB", tasks_file=str(bad_dbbench), start=5, num_tasks=10)
    assert sel.on_bad_task == "skip"
    selected = select_tasks(sel)
    assert isinstance(selected, LoadedTasks)
    assert [t.task_id for t in selected] == [f"dbbench-bad-{i:04d}" for i in range(5, 15) if i != 10]
    assert [b.line for b in selected.bad] == [11]
    assert selected.bad_report() == [{"env": "agenttune/DB-v0", **selected.bad[0].to_dict()}]
    everything = select_tasks(sel.model_copy(update={"start": 0, "num_tasks": 1000}))
    assert (len(everything), len(everything.bad)) == (60, 2)
    with pytest.raises(envs.TaskFormatError, match="line 11"):
        select_tasks(sel.model_copy(update={"on_bad_task": "error"}))
    generated = select_tasks(EnvSelection(id="DB", num_tasks=3))
    assert (len(generated), generated.bad) == (3, [])


def test_bad_task_error_for_a_record_says_record() -> None:
    bad = BadTask(source="tasks.json", index=4, line=None, reason="missing key 'evaluation'")
    assert str(bad.error()) == "tasks.json: record 4: missing key 'evaluation'"
