"""Our trajectories have the released AgentInstruct's turn structure: the instruction, the agent's fixed
acknowledgement and one-shot example turns (``loss: false``), then the task and the agent's own turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import envs
from rollouts.config import FilterConfig
from rollouts.episode import run_episode
from rollouts.filters import filter_records, to_agentinstruct
from rollouts.policies.oracle import OraclePolicy
from tests.rollouts import fault_envs
from tests.rollouts.test_episode import Scripted

RELEASED_DB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "agentinstruct" / "db.json"
NOT_SANDBOXED = [spec.id for spec in envs.list_specs() if spec.id != "agenttune/OS-v0"]
ONE_TURN_OPENING = {"agenttune/WebNav-v0"}  # released Mind2Web records: the step, then the answer; nothing fixed


def shape(record: dict) -> tuple[tuple[str, bool | None], ...]:
    return tuple((turn["from"], turn["loss"]) for turn in record["conversations"])


@pytest.mark.skipif(not RELEASED_DB.exists(), reason=f"needs the released AgentInstruct DB split at {RELEASED_DB}")
def test_kept_db_records_have_the_shape_of_released_ones() -> None:
    released = {shape(r) for r in json.loads(RELEASED_DB.read_text(encoding="utf-8"))}
    tasks = envs.generate_tasks("agenttune/DB-v0", "train", 12)
    records = []
    with envs.make_env("agenttune/DB-v0") as env:
        records += [run_episode(env, OraclePolicy(), task) for task in tasks]
        # longer episodes too: a look at the table first, then the oracle's query and answer
        look = "I will look at the table first.\nAction: Operation\n```sql\nSELECT * FROM `{}` LIMIT 1\n```"
        for task in tasks[:4]:
            query = OraclePolicy().act([], task=task)
            answer = OraclePolicy().act([{"role": "assistant", "content": query}], task=task)
            records.append(
                run_episode(env, Scripted([look.format(task.payload["table"]["name"]), query, answer]), task)
            )
    kept, report = filter_records(records, FilterConfig())
    assert report.kept == len(records) == 16 and {len(r["conversations"]) for r in kept} == {6, 8}
    for record in kept:
        written = json.loads(json.dumps(to_agentinstruct(record)))  # what the filter writes for training
        assert shape(written) in released, shape(written)
        assert written["conversations"][1] == {"from": "gpt", "value": "Ok.", "loss": False}


@pytest.mark.parametrize("env_id", NOT_SANDBOXED)
def test_every_env_opens_as_agentinstruct_does_and_trains_only_the_agents_turns(env_id: str) -> None:
    task = envs.generate_tasks(env_id, "train", 1, start=2)[0]
    with envs.make_env(env_id) as env:
        _, info = env.reset(options={"task": task})
        opening = info["opening_turns"]
        record = run_episode(env, OraclePolicy(), task)
    assert record["success"] is True, record
    turns = record["conversations"]
    # the opening: instruction first, the agent's fixed turns not trained on, the task last
    assert [(t["from"], t["value"]) for t in turns[: len(opening)]] == [
        ("human" if m["role"] == "user" else "gpt", m["content"]) for m in opening
    ]
    assert [t["loss"] for t in turns[: len(opening)] if t["from"] == "gpt"] == [False] * (len(opening) // 2)
    if env_id in ONE_TURN_OPENING:
        assert opening == [{"role": "user", "content": opening[0]["content"]}]
    else:
        assert len(opening) >= 3 and opening[1]["role"] == "assistant"  # an acknowledgement or the example's reply
    roles = [t["from"] for t in turns]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)) and roles[0] == "human"
    # after the opening, every agent turn is the policy's and trained on: one per turn the env counted
    agent = [t for t in turns[len(opening) :] if t["from"] == "gpt"]
    assert all(t["loss"] is True for t in agent) and len(agent) == record["turns"]


def test_a_gymnasium_env_without_opening_turns_opens_with_its_observation() -> None:
    with fault_envs.registered():
        task = fault_envs.tasks(["ok"])[0]
        with envs.make_env(fault_envs.ENV_ID) as env:
            record = run_episode(env, Scripted(["Action: done"]), task)
    assert record["status"] == "completed" and record["conversations"][0]["from"] == "human"
    assert shape(record) == (("human", None), ("gpt", True))
