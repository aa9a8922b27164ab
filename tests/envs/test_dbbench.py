from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import gymnasium
import pytest

import envs
from envs.base import Task
from envs.db.dbbench import load_dbbench
from envs.db.oracle import oracle
from envs.db.sqlite_exec import Database
from tests.envs.conftest import run_episode


def test_loads_every_dev_record(dbbench_tasks: list[Task]) -> None:
    assert len(dbbench_tasks) == 60
    assert dbbench_tasks[7].task_id == "dbbench-dev-0007"
    assert Counter(t.payload["kind"] for t in dbbench_tasks) == {"select": 20, "insert": 20, "update": 20}
    first = dbbench_tasks[0]
    assert (first.split, first.seed, first.env_id) == ("external", None, "agenttune/DB-v0")
    assert first.payload["label"] == ["March 19, 1998"]
    assert first.payload["description"].startswith("The name of this table is US Ambassadors")
    json.dumps([t.to_dict() for t in dbbench_tasks])  # plain data, ready to cross process boundaries


def test_modifying_tasks_carry_gold_sql_and_md5(dbbench_tasks: list[Task]) -> None:
    task = dbbench_tasks[20]
    assert task.payload["category"] == "INSERT" and task.payload["label"] == []
    assert task.payload["gold_sql"].startswith("INSERT INTO `School Location Table`")
    assert task.payload["answer_md5"] == "09aa8fbf72f39362970f95a1276b957c"
    # AgentBench creates every column as TEXT; the declared type is kept for reference.
    assert {c["type"] for c in task.payload["table"]["columns"]} == {"TEXT"}
    assert task.payload["table"]["columns"][2]["declared_type"] == "YEAR"


def test_table_md5_reproduces_agentbench_on_every_modifying_dev_task(dbbench_tasks: list[Task]) -> None:
    modifying = [t for t in dbbench_tasks if t.payload["kind"] != "select"]
    matched = []
    for task in modifying:
        with Database(task.payload["table"]) as db:
            assert db.execute(task.payload["gold_sql"]).ok, task.task_id
            matched.append(db.table_md5() == task.payload["answer_md5"])
    assert (sum(matched), len(modifying)) == (40, 40)


def test_the_oracle_solves_every_dev_task(db_env: gymnasium.Env, dbbench_tasks: list[Task]) -> None:
    for task in dbbench_tasks:
        reward, info, messages = run_episode(db_env, task, oracle)
        assert (reward, info["success"]) == (1.0, True), (task.task_id, messages[-4:])


def test_real_text_is_inside_the_observation_space(db_env: gymnasium.Env, dbbench_tasks: list[Task]) -> None:
    for task in dbbench_tasks:
        observation, _ = db_env.reset(options={"task": task})
        assert db_env.observation_space.contains(observation), task.task_id
        result, *_ = db_env.step(
            "Action: Operation\n```sql\nSELECT * FROM `{}`\n```".format(task.payload["table"]["name"])
        )
        assert db_env.observation_space.contains(result), task.task_id


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "dbbench_mini.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _record(**changes: object) -> dict:
    record = {
        "description": "How many rows?",
        "label": ["2"],
        "table": {"table_name": "t", "table_info": {"columns": [{"name": "a", "type": "INT"}], "rows": [[1], ["2"]]}},
        "type": ["counting"],
        "sql": {"query": "SELECT COUNT(*) FROM t"},
        "add_description": "The name of this table is t, and the headers of this table are a.",
    }
    return record | changes


def test_a_small_file_loads_with_its_stem_as_id(tmp_path: Path) -> None:
    tasks = load_dbbench(_write(tmp_path, [json.dumps(_record()), ""]))
    assert [t.task_id for t in tasks] == ["dbbench-mini-0000"]
    assert tasks[0].payload["table"]["rows"] == [["1"], ["2"]]  # inserted as text, as AgentBench does
    assert tasks[0].payload["gold_sql"] == "SELECT COUNT(*) FROM t"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(_record(type="counting")), "'type' must be a non-empty list"),
        (json.dumps({k: v for k, v in _record().items() if k != "table"}), "missing key 'table'"),
        (json.dumps(_record(type=["UPDATE"], label=["UPDATE t SET a = 1"], answer_md5="oops")), "answer_md5"),
        (json.dumps(_record(table={"table_name": "t", "table_info": {"columns": [], "rows": []}})), "table.columns"),
    ],
)
def test_malformed_records_name_the_file_and_line(tmp_path: Path, bad_line: str, problem: str) -> None:
    path = _write(tmp_path, [json.dumps(_record()), bad_line])
    with pytest.raises(envs.TaskFormatError) as raised:
        load_dbbench(path)
    assert str(raised.value).startswith(f"{path}, line 2: ")
    assert problem in str(raised.value)
    assert raised.value.line == 2


def test_a_missing_file_is_a_task_format_error(tmp_path: Path) -> None:
    with pytest.raises(envs.TaskFormatError, match="cannot read the file"):
        envs.load_tasks("DB", str(tmp_path / "absent.jsonl"))
