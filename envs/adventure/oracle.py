"""The scripted oracle for TextAdventure: it plays the BFS planner's shortest winning plan, one command a turn.

A pure function of the task and the conversation: the number of assistant turns so far
is the index of the next command (the plan is cached per payload, so this is cheap).
"""

from __future__ import annotations

from envs.adventure.planner import plan
from envs.adventure.prompts import OPENING_REPLIES
from envs.base import Task
from envs.textenv import after_opening

_THOUGHTS = {
    "go": "I will head {rest}, which leads towards where I need to be.",
    "take": "The {rest} is within reach and I need it, so I will pick it up.",
    "open": "The {rest} is closed and I need to get past it or into it, so I will open it.",
    "unlock": "This door is locked and I have its key, so I will {command}.",
    "look": "I cannot see a way to finish the task, so I will look around again.",
    "put": "I have the {item} and the {container} is open in front of me, so I will finish the task.",
}


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: the next command of the shortest winning plan."""
    commands = plan(task.payload) or ["look"]  # generated tasks always have a plan; "look" keeps others safe
    step = sum(message.get("role") == "assistant" for message in after_opening(messages, OPENING_REPLIES))
    command = commands[min(step, len(commands) - 1)]
    verb, _, rest = command.partition(" ")
    item, _, container = rest.partition(" in ")
    thought = _THOUGHTS[verb].format(rest=rest, command=command, item=item, container=container)
    return f"Thought: {thought}\nAction: {command}"
