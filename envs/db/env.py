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

from envs.base import Split, Task
from envs.db import grading, prompts
from envs.db.actions import Answer, Invalid, Operation, parse_action
from envs.db.generator import generate_task
from envs.db.payload import ENV_ID, payload_problems
from envs.db.sqlite_exec import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_TIMEOUT_S, Database
from envs.errors import EnvsError
from envs.textenv import Opening, TextEnv

MAX_TURNS = 15  # AgentBench's dbbench max_round


class DBEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)

    def __init__(
        self,
        split: Split = "train",
        max_turns: int = MAX_TURNS,
        sql_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        super().__init__(split, max_turns)
        if sql_timeout_s <= 0 or max_output_chars < 1:
            raise EnvsError(
                f"{ENV_ID}: sql_timeout_s and max_output_chars must be > 0, got {sql_timeout_s}, {max_output_chars}"
            )
        self.sql_timeout_s = sql_timeout_s
        self.max_output_chars = max_output_chars
        self._db: Database | None = None

    def _start(self, task: Task) -> Opening:
        payload = task.payload
        self._db = Database(payload["table"], timeout_s=self.sql_timeout_s, max_output_chars=self.max_output_chars)
        return Opening(
            prompts.first_observation(payload["question"], payload["description"]),
            instruction=prompts.INSTRUCTION,
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            question=prompts.question_prompt(payload["question"], payload["description"]),
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        if isinstance(parsed, Invalid):
            info["invalid_action"] = True
            return prompts.invalid_action(parsed.reason), 0.0, False
        if isinstance(parsed, Operation):
            return self._operate(parsed.sql, info), 0.0, False
        return prompts.EPISODE_OVER, self._grade(parsed, info), True

    def _release(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _operate(self, sql: str, info: dict[str, Any]) -> str:
        assert self._db is not None  # set by _start
        result = self._db.execute(sql)
        info.update(sql=sql, sql_ok=result.ok, sql_error=result.error, timed_out=result.timed_out)
        info["output_truncated"] = result.truncated
        if result.several_statements:
            info["invalid_action"] = True
            return prompts.invalid_action(result.output.removeprefix("Error: "))
        return result.output

    def _grade(self, answer: Answer, info: dict[str, Any]) -> float:
        assert self._task is not None and self._db is not None  # set by reset
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
