from __future__ import annotations

import json
import random
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.base import Task
from envs.db.env import DBEnv
from envs.db.oracle import oracle
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from tests.envs.conftest import run_episode

SQL = "I will look at the table.\nAction: Operation\n```sql\nSELECT * FROM `{table}` LIMIT 3\n```"


def test_check_env_passes(db_env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(db_env.unwrapped)


def test_spaces_hold_any_unicode_text(db_env: gymnasium.Env) -> None:
    text = "São Paulo – 東京 😀 £8.5m"
    assert db_env.observation_space.contains(text)
    assert db_env.action_space.contains(text)
    assert not db_env.action_space.contains("\ud800")  # a lone surrogate is not text
    assert db_env.action_space.contains(db_env.action_space.sample())


def test_first_observation_has_the_instruction_question_and_table(db_env: gymnasium.Env) -> None:
    observation, info = db_env.reset(seed=4)
    task: Task = info["task"]
    assert info["task_id"] == task.task_id == "db-train-000004"
    assert observation == f"{info['instruction']}\n\n{info['question']}"
    assert info["question"] == f"{task.payload['question']}\n{task.payload['description']}"
    assert task.payload["description"].startswith(f"The name of this table is {task.payload['table']['name']}, ")
    for grammar in ("Action: Operation", "```sql", "Action: Answer", 'Final Answer: ["ANSWER1", "ANSWER2", ...]'):
        assert grammar in observation


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env("DB") as env:
            observation, info = env.reset(seed=123)
            table = info["task"].payload["table"]["name"]
            steps = [env.step(SQL.format(table=table))[0], env.step("no action here")[0]]
            runs.append((info["task"], observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks("DB", "train", 1, start=123)[0]


def test_unseeded_resets_draw_from_the_env_rng(db_env: gymnasium.Env) -> None:
    db_env.reset(seed=7)
    first = [db_env.reset()[1]["task_id"] for _ in range(3)]
    db_env.reset(seed=7)
    assert [db_env.reset()[1]["task_id"] for _ in range(3)] == first


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks("DB", "train", 1500, start=SPLIT_SIZE - 1500) + envs.generate_tasks(
        "DB", "train", 1500
    )
    test = envs.generate_tasks("DB", "test", 1500)
    assert {t.seed for t in train}.isdisjoint({t.seed for t in test})
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    assert len({t.task_id for t in train + test}) == 4500
    assert max(t.seed for t in train) < min(t.seed for t in test)


def test_tasks_survive_a_json_round_trip(db_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("DB", "test", 1, start=9)[0]
    copy = json.loads(json.dumps(task.to_dict()))
    assert db_env.reset(options={"task": copy})[0] == db_env.reset(options={"task": task})[0]
    assert Task.from_dict(copy) == task


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_generated_task(db_env: gymnasium.Env, split: str) -> None:
    for task in envs.generate_tasks("DB", split, 50):
        reward, info, messages = run_episode(db_env, task, oracle)
        assert (reward, info["success"]) == (1.0, True), (task.task_id, messages[-4:])
        assert len(messages) == 5  # prompt, gold SQL, its result, answer, end


def test_the_generator_covers_every_category() -> None:
    categories = {task.payload["category"] for task in envs.generate_tasks("DB", "train", 200)}
    assert categories == {
        "filtering", "counting", "aggregation-SUM", "aggregation-AVG", "aggregation-MAX", "aggregation-MIN",
        "ranking", "comparison", "INSERT", "UPDATE", "DELETE",
    }  # fmt: skip


def test_garbage_agents_solve_almost_nothing(db_env: gymnasium.Env) -> None:
    rng = random.Random(0)
    db_env.action_space.seed(0)

    def garbage(task: Task, messages: list[dict[str, str]]) -> str:
        return db_env.action_space.sample(mask=(rng.randint(0, 300), None))

    def guesser(task: Task, messages: list[dict[str, str]]) -> str:
        guess = rng.choice(["0", "1", '"none"', '"yes"'])
        return f"Action: Answer\nFinal Answer: [{guess}]"

    tasks = envs.generate_tasks("DB", "test", 50, start=100)
    assert sum(run_episode(db_env, task, garbage)[0] for task in tasks) == 0
    assert sum(run_episode(db_env, task, guesser)[0] for task in tasks) <= 3


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I am not sure what to do.", "no 'Action: Operation' or 'Action: Answer'"),
        ("Action: Operation\nSELECT 1", "```sql code block"),
        ("Action: Operation\n```sql\n\n```", "empty"),
        ("Action: Answer\n42", "Final Answer"),
        ("Action: Dance", "unknown action"),
        ("```sql\nSELECT 1\n```", "after a line 'Action: Operation'"),
        ("Action: Operation\n```sql\nSELECT 1; SELECT 2\n```", "only one SQL statement"),
        ("", "no 'Action"),
    ],
)
def test_malformed_actions_are_explained_not_raised(db_env: gymnasium.Env, action: str, reason: str) -> None:
    db_env.reset(seed=0)
    observation, reward, terminated, truncated, info = db_env.step(action)
    assert info["invalid_action"] is True
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert reason in observation
    assert "Action: Operation\n```sql" in observation  # the expected format is restated


def test_sql_errors_are_observations(db_env: gymnasium.Env) -> None:
    db_env.reset(seed=0)
    observation, _, terminated, _, info = db_env.step("Action: Operation\n```sql\nSELECT x FROM nowhere\n```")
    assert observation == "OperationalError: no such table: nowhere"
    assert not terminated and info["invalid_action"] is False and info["sql_ok"] is False


def test_attach_is_denied_in_an_episode(db_env: gymnasium.Env) -> None:
    db_env.reset(seed=0)
    observation, *_ = db_env.step("Action: Operation\n```sql\nATTACH DATABASE 'x.db' AS x\n```")
    assert "not authorized" in observation


def test_runaway_query_is_stopped_with_an_observation() -> None:
    with envs.make_env("DB", sql_timeout_s=0.3) as env:
        env.reset(seed=0)
        recursive = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1e12) SELECT MAX(i) FROM n"
        )
        observation, _, terminated, _, info = env.step(f"Action: Operation\n```sql\n{recursive}\n```")
        assert "time limit" in observation and info["timed_out"] is True and not terminated


def test_long_outputs_are_truncated_in_the_observation() -> None:
    with envs.make_env("DB", max_output_chars=50) as env:
        env.reset(seed=0)
        big = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n LIMIT 5000"
        observation, *_, info = env.step(f"Action: Operation\n```sql\n{big}\n```")
        assert observation.endswith("[TRUNCATED]") and len(observation) == 50 + len("[TRUNCATED]")
        assert info["output_truncated"] is True


def test_turn_cap_truncates_the_episode() -> None:
    with envs.make_env("DB", max_turns=3) as env:
        env.reset(seed=0)
        results = [env.step("thinking...") for _ in range(3)]
        assert [(r[2], r[3]) for r in results] == [(False, False), (False, False), (False, True)]
        assert results[-1][4]["success"] is False and results[-1][4]["turn"] == 3
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("thinking...")


def test_a_wrong_answer_ends_the_episode_with_zero_reward(db_env: gymnasium.Env) -> None:
    task = next(t for t in envs.generate_tasks("DB", "train", 30) if t.payload["kind"] == "select")
    db_env.reset(options={"task": task})
    _, reward, terminated, _, info = db_env.step('Action: Answer\nFinal Answer: ["certainly wrong"]')
    assert (reward, terminated, info["success"]) == (0.0, True, False)


def test_a_modifying_task_is_graded_by_the_table_not_the_answer(db_env: gymnasium.Env) -> None:
    task = next(t for t in envs.generate_tasks("DB", "train", 30) if t.payload["kind"] != "select")
    db_env.reset(options={"task": task})
    assert db_env.step('Action: Answer\nFinal Answer: ["none"]')[1] == 0.0  # nothing was changed
    db_env.reset(options={"task": task})
    db_env.step(f"Action: Operation\n```sql\n{task.payload['gold_sql']}\n```")
    assert db_env.step('Action: Answer\nFinal Answer: ["anything"]')[1] == 1.0


def test_bad_task_options_and_kwargs_raise_clear_errors(db_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("DB", "train", 1)[0]
    broken = task.to_dict() | {"payload": {**task.payload, "kind": "merge"}}
    with pytest.raises(envs.TaskFormatError, match="kind"):
        db_env.reset(options={"task": broken})
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        db_env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/OS-v0"}})
    with pytest.raises(envs.EnvsError, match="split"):
        DBEnv(split="validation")


def test_an_unbuildable_table_is_an_env_error(db_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("DB", "train", 1)[0]
    table = task.payload["table"]
    duplicated = {**table, "columns": [table["columns"][0]] * len(table["columns"])}
    with pytest.raises(envs.EnvError, match="duplicate column name"):
        db_env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "table": duplicated}}})


def test_close_is_idempotent_and_the_env_is_a_context_manager() -> None:
    env = DBEnv()
    env.reset(seed=0)
    env.close()
    env.close()
    with DBEnv() as env:
        env.reset(seed=1)
