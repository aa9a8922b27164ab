"""``agenttune/DB-v0``: answer a question (or make a change) by running SQL on one table.

    import envs, gymnasium
    with gymnasium.make("agenttune/DB-v0", split="test") as env:
        obs, info = env.reset(seed=3)                          # a generated test task
        obs, info = env.reset(options={"task": task})          # or any Task / task dict, e.g. from dbbench
        obs, reward, terminated, truncated, info = env.step("...Action: Operation\\n```sql\\nSELECT 1\\n```")

Each episode owns a fresh in-memory SQLite copy of the task's table. An ``Operation``
runs one statement and the observation is the raw result (``[('a', 1)]``, or the
error text); an ``Answer`` ends the episode with reward 1.0 or 0.0, graded as
AgentBench grades (``grading``). A malformed reply is an observation with
``info["invalid_action"] = True``; the episode goes on until ``max_turns`` replies.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.db import grading, prompts
from envs.db.actions import Answer, Invalid, Operation, parse_action
from envs.db.generator import SPLIT_SEED_BASE, SPLIT_SIZE, generate_task
from envs.db.payload import ENV_ID, payload_problems
from envs.db.sqlite_exec import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_TIMEOUT_S, Database
from envs.errors import EnvsError
from envs.textenv import given_task, init_text_env

MAX_TURNS = 15  # AgentBench's dbbench max_round


class DBEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        split: Split = "train",
        max_turns: int = MAX_TURNS,
        sql_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        if sql_timeout_s <= 0 or max_output_chars < 1:
            raise EnvsError(
                f"{ENV_ID}: sql_timeout_s and max_output_chars must be > 0, got {sql_timeout_s}, {max_output_chars}"
            )
        self.sql_timeout_s = sql_timeout_s
        self.max_output_chars = max_output_chars
        self._task: Task | None = None
        self._db: Database | None = None
        self._turn = 0
        self._done = False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        self._close_db()
        self._db = Database(
            task.payload["table"], timeout_s=self.sql_timeout_s, max_output_chars=self.max_output_chars
        )
        self._task, self._turn, self._done = task, 0, False
        question = prompts.question_prompt(task.payload["question"], task.payload["description"])
        info = {
            "task_id": task.task_id,
            "task": task,
            "turn": 0,
            "invalid_action": False,
            "instruction": prompts.INSTRUCTION,  # AgentInstruct puts these in two user turns, with "Ok." between
            "question": question,
        }
        return prompts.first_observation(task.payload["question"], task.payload["description"]), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._db is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        reward, terminated = 0.0, False
        if isinstance(parsed, Invalid):
            observation = prompts.invalid_action(parsed.reason)
            info["invalid_action"] = True
        elif isinstance(parsed, Operation):
            observation = self._operate(parsed.sql, info)
        else:
            observation, reward, terminated = prompts.EPISODE_OVER, self._grade(parsed, info), True
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info["success"] = False
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._close_db()
        super().close()

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        task = given_task(given, ENV_ID, payload_problems)
        return task

    def _operate(self, sql: str, info: dict[str, Any]) -> str:
        assert self._db is not None  # checked by step()
        result = self._db.execute(sql)
        info.update(sql=sql, sql_ok=result.ok, sql_error=result.error, timed_out=result.timed_out)
        info["output_truncated"] = result.truncated
        if result.several_statements:
            info["invalid_action"] = True
            return prompts.invalid_action(result.output.removeprefix("Error: "))
        return result.output

    def _grade(self, answer: Answer, info: dict[str, Any]) -> float:
        assert self._task is not None and self._db is not None  # checked by step()
        payload = self._task.payload
        info["answer"] = answer.text
        if payload["kind"] == "select":
            success = grading.answers_match(grading.parse_answer_list(answer.text), payload["label"])
        else:
            table_md5 = self._db.table_md5()
            info.update(table_md5=table_md5, expected_md5=payload["answer_md5"])
            success = table_md5 == payload["answer_md5"]
        info["success"] = success
        return 1.0 if success else 0.0

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
