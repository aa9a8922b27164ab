"""The scripted WebNav oracle: it gives each step's recorded answer, with the step's recorded thought.

A pure function of the task and the conversation: the step is the one whose observation the last user turn
shows (checked from the last step back), so the oracle does not depend on how many turns came before it
(worked examples sent as turns included).
"""

from __future__ import annotations

from envs.base import Task
from envs.webnav.prompts import gold_letter, reply, step_observation


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: a thought, the recorded element's letter, its operation and value."""
    payload = task.payload
    last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    steps = payload["steps"]
    index = next((i for i in reversed(range(len(steps))) if step_observation(payload, i) in last), 0)
    step = steps[index]
    thought = step.get("thought") or "This element does the next part of the task."
    return reply(thought, gold_letter(step), step["op"], step["value"])
