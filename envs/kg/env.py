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

from envs.base import Task
from envs.errors import TaskFormatError
from envs.kg import prompts
from envs.kg.generator import generate_task
from envs.kg.payload import ENV_ID, MAX_TURNS, load_graph, payload_problems
from envs.kg.scoring import exact_match, f1_score
from envs.kg.tools import FinalAnswer, Invalid, Session, ToolError, parse_action
from envs.textenv import WHERE, Opening, TextEnv


class KGEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    _session: Session | None = None

    def _check_task(self, task: Task) -> None:
        # Built here to refuse a bad graph before the last episode is touched. _start builds it again: free for a
        # generated world (cached), a little work for a graph written out in the payload.
        try:
            load_graph(task.payload)
        except (KeyError, TypeError, ValueError) as error:
            raise TaskFormatError(WHERE, f"task {task.task_id} has a malformed graph ({error!r})") from error

    def _start(self, task: Task) -> Opening:
        self._session = Session(load_graph(task.payload))
        question, entities = task.payload["question"], task.payload["entities"]
        # AgentInstruct splits the prompt into turns: instruction, the one-shot example, then the question.
        return Opening(
            prompts.first_observation(question, entities),
            instruction=prompts.INSTRUCTION,
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            example=prompts.EXAMPLE_TURNS,
            question=prompts.NEW_QUESTION + prompts.question_prompt(question, entities),
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._session is not None  # set by _start
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        if isinstance(parsed, Invalid):
            info.update(invalid_action=True, error=parsed.reason)
            return prompts.invalid_action(parsed.reason), 0.0, False
        if isinstance(parsed, FinalAnswer):
            if parsed.variable < len(self._session.variables):
                return prompts.EPISODE_OVER, self._grade(parsed.variable, info), True
            reason = f"the final answer names #{parsed.variable}, which does not exist; {self._session.hint()}"
            info.update(invalid_action=True, error=reason)
            return prompts.invalid_action(reason), 0.0, False
        info["call"] = str(parsed)
        try:
            return prompts.observation(self._session.run(parsed)), 0.0, False
        except ToolError as error:
            info.update(invalid_action=True, error=str(error))
            return prompts.tool_error(str(error)), 0.0, False

    def _grade(self, variable: int, info: dict[str, Any]) -> float:
        assert self._task is not None and self._session is not None  # set by reset
        predicted = self._session.variables[variable].answer()
        gold = self._task.payload["answer"]
        f1, success = f1_score(predicted, gold), exact_match(predicted, gold)
        info.update(answer=sorted(predicted), gold=list(gold), f1=f1, exact_match=success, success=success)
        return f1
