"""``agenttune/KG-v0``: answer a multi-hop question by querying a knowledge graph with AgentBench's KG tools.

    import envs, gymnasium
    with gymnasium.make("agenttune/KG-v0", split="test") as env:
        obs, info = env.reset(seed=3)                          # a generated test task
        obs, info = env.reset(options={"task": task})          # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: get_relations(Lena Ortiz)")

Each episode starts with no variables. A tool call is answered with an
``Observation: ...`` line (``tools``); ``Final Answer: #k`` ends the episode with
reward = F1 of the variable's answer set against the gold set and
``info["success"]`` = exact match, as AgentBench scores (``scoring``). A malformed
reply or a call that cannot run is an observation with ``info["invalid_action"] =
True``; the episode goes on until ``max_turns`` replies.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.kg import prompts
from envs.kg.generator import SPLIT_SEED_BASE, SPLIT_SIZE, generate_task
from envs.kg.payload import ENV_ID, MAX_TURNS, load_graph, payload_problems
from envs.kg.scoring import exact_match, f1_score
from envs.kg.tools import FinalAnswer, Invalid, Session, ToolError, parse_action
from envs.textenv import WHERE, given_task, init_text_env


class KGEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: Split = "train", max_turns: int = MAX_TURNS) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        self._task: Task | None = None
        self._session: Session | None = None
        self._turn = 0
        self._done = False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task, session = self._choose_task(seed, options or {})
        self._task, self._session, self._turn, self._done = task, session, 0, False
        question, entities = task.payload["question"], task.payload["entities"]
        info = {
            "task_id": task.task_id,
            "task": task,
            "turn": 0,
            "invalid_action": False,
            # AgentInstruct splits the prompt into turns: instruction, the one-shot example, then the question.
            "instruction": prompts.INSTRUCTION,
            "example": prompts.EXAMPLE,
            "question": prompts.question_prompt(question, entities),
        }
        return prompts.first_observation(question, entities), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._session is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        reward, terminated = 0.0, False
        if isinstance(parsed, Invalid):
            observation = prompts.invalid_action(parsed.reason)
            info.update(invalid_action=True, error=parsed.reason)
        elif isinstance(parsed, FinalAnswer):
            if parsed.variable < len(self._session.variables):
                observation, terminated = prompts.EPISODE_OVER, True
                reward = self._grade(parsed.variable, info)
            else:
                reason = f"the final answer names #{parsed.variable}, which does not exist; {self._session.hint()}"
                observation = prompts.invalid_action(reason)
                info.update(invalid_action=True, error=reason)
        else:
            info["call"] = str(parsed)
            try:
                observation = prompts.observation(self._session.run(parsed))
            except ToolError as error:
                observation = prompts.tool_error(str(error))
                info.update(invalid_action=True, error=str(error))
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info["success"] = False
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, info

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> tuple[Task, Session]:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            task = generate_task(self.split, index)
            return task, Session(load_graph(task.payload))
        task = given_task(given, ENV_ID, payload_problems)
        try:
            graph = load_graph(task.payload)
        except (KeyError, TypeError, ValueError) as error:
            raise TaskFormatError(WHERE, f"task {task.task_id} has a malformed graph ({error!r})") from error
        return task, Session(graph)

    def _grade(self, variable: int, info: dict[str, Any]) -> float:
        assert self._task is not None and self._session is not None  # checked by step()
        predicted = self._session.variables[variable].answer()
        gold = self._task.payload["answer"]
        f1, success = f1_score(predicted, gold), exact_match(predicted, gold)
        info.update(answer=sorted(predicted), gold=list(gold), f1=f1, exact_match=success, success=success)
        return f1
