"""The scripted oracle for KG tasks: it replays the gold program, then names the answer variable.

It is a pure function of the task and the conversation so far: the number of
assistant turns already taken says which gold call comes next, since the env runs
every well-formed gold call.
"""

from __future__ import annotations

from envs.base import Task
from envs.kg.prompts import OPENING_REPLIES
from envs.textenv import after_opening


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: ``Thought: ...`` then one gold ``Action:``, or the ``Final Answer``."""
    program = task.payload["program"]
    turn = sum(m.get("role") == "assistant" for m in after_opening(messages, OPENING_REPLIES))
    if turn < len(program):
        step = program[turn]
        return f"Thought: {step['thought']}\nAction: {step['action']}"
    answer = task.payload["answer_variable"]
    return f"Thought: #{answer} is what the question asks for, so it is my answer.\nFinal Answer: #{answer}"
