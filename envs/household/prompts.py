"""What the household environment says to the agent, and how its reply is read.

The format is AgentBench's ALFWorld task (and so AgentInstruct's), so models tuned on
AgentInstruct's ALFWorld trajectories transfer: an instruction listing the commands,
a one-shot example, then "Here is your task. <the room>\\nYour task is to: <goal>".
The agent answers ``THOUGHT: ...`` then ``ACTION: <command>``. The sentences are our own.

The example's observations are produced by running its actions in a real ``World``,
so they always match what the environment says.
"""

from __future__ import annotations

import re

from envs.household.world import World
from envs.textenv import fixed_replies

INSTRUCTION_HEAD = """\
You are an agent in a household, and your job is to reach a goal by acting in the room. You will first get a \
description of the room and the goal. Each turn, write one action; the environment then replies with what happened, \
and you plan your next steps from that.
Write every reply in exactly this form:
THOUGHT: your reasoning about the situation and your plan.
ACTION: your next action
The commands you can use are:
1. go to {recep}
2. take {obj} from {recep}
3. put {obj} in/on {recep}
4. open {recep}
5. close {recep}
6. use {obj}   (switch a lamp on or off)
7. clean {obj} with {recep}
8. heat {obj} with {recep}
9. cool {obj} with {recep}
10. examine {obj} or examine {recep}
11. inventory
12. look
Here {obj} and {recep} stand for the names of objects and receptacles in the room, with their numbers \
(e.g. "mug 2", "cabinet 4").
Keep in mind:
1. You act only on the receptacle you are at, you can hold one object at a time, and a closed receptacle must be \
opened before you can take from it or put into it.
2. If the environment answers "Nothing happens.", your action was not possible; try something else.
3. Give exactly one action per reply and use the commands above only; think briefly, then act."""

_EXAMPLE_PAYLOAD = {
    "goal": "put a cool tomato in diningtable.",
    "receptacles": [
        {"name": n, "openable": n.startswith(("cabinet", "fridge", "microwave"))}
        for n in ("cabinet 1", "cabinet 2", "countertop 1", "diningtable 1", "fridge 1", "garbagecan 1",
                  "microwave 1", "sinkbasin 1", "stoveburner 1", "stoveburner 2")
    ],
    "objects": [
        {"name": "bread 1", "location": "countertop 1"}, {"name": "knife 1", "location": "countertop 1"},
        {"name": "plate 1", "location": "diningtable 1"}, {"name": "tomato 1", "location": "sinkbasin 1"},
        {"name": "egg 1", "location": "fridge 1"},
    ],
}  # fmt: skip
_EXAMPLE_STEPS = (
    ("To do this, I need to find a tomato, cool it with the fridge, and then put it on the diningtable. A tomato is "
     "probably on a countertop, in the sinkbasin or in the fridge. I will check the countertop first.",
     "go to countertop 1"),
    ("There is no tomato on the countertop. Next I will try the sinkbasin.", "go to sinkbasin 1"),
    ("There is a tomato 1 here. I will pick it up.", "take tomato 1 from sinkbasin 1"),
    ("I am holding the tomato 1. Now I need to cool it, so I will go to the fridge.", "go to fridge 1"),
    ("I am at the fridge 1 and can cool the tomato with it.", "cool tomato 1 with fridge 1"),
    ("The tomato is cool now. Next I will take it to the diningtable.", "go to diningtable 1"),
    ("I am at the diningtable 1, so I will put the tomato on it.", "put tomato 1 in/on diningtable 1"),
)  # fmt: skip

_ACTION_LINE = re.compile(r"(?:^[ \t]*(?i:action)|ACTION)[ \t]*:[ \t]*(.*)$", re.MULTILINE)
FORMAT_REMINDER = "Reply in the form\nTHOUGHT: <your reasoning>\nACTION: <one command, e.g. go to cabinet 1>"


def reply(thought: str, action: str) -> str:
    """An assistant message in the expected format."""
    return f"THOUGHT: {thought}\nACTION: {action}"


def task_prompt(world: World, goal: str) -> str:
    """The task turn: the room as seen from its middle, then the goal."""
    return f"Here is your task. {world.describe_room()}\nYour task is to: {goal}"


def _example_turns() -> list[dict[str, str]]:
    """The worked example as chat turns (AgentInstruct sends ALFWorld's one-shot example this way)."""
    world = World.from_payload(_EXAMPLE_PAYLOAD)
    turns = [{"role": "user", "content": task_prompt(world, _EXAMPLE_PAYLOAD["goal"])}]
    for thought, action in _EXAMPLE_STEPS:
        observation, ok = world.execute(action)
        assert ok, f"the prompt's example is broken at {action!r}"  # a bug in this module, caught at import
        turns += [{"role": "assistant", "content": reply(thought, action)}, {"role": "user", "content": observation}]
    return turns[:-1]  # the example ends with the agent's last action; the real task follows


def _example(turns: list[dict[str, str]]) -> str:
    """The same example as one text, for the flat first observation."""
    lines = ["Here is an example.", turns[0]["content"].removeprefix("Here is your task. ")]
    lines += [f"{'Agent' if t['role'] == 'assistant' else 'Environment'}: {t['content']}" for t in turns[1:]]
    return "\n".join(lines)


EXAMPLE_TURNS = _example_turns()
ACKNOWLEDGEMENT = "OK"
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT, EXAMPLE_TURNS)
INSTRUCTION = f"{INSTRUCTION_HEAD}\n\n{_example(EXAMPLE_TURNS)}"


def first_observation(world: World, goal: str) -> str:
    return f"{INSTRUCTION}\n\n{task_prompt(world, goal)}"


def parse_reply(text: str) -> tuple[str | None, str | None]:
    """``(command, None)`` from the first ``ACTION:`` line, or ``(None, why the reply is malformed)``."""
    match = _ACTION_LINE.search(text)
    if match is None:
        return None, "no 'ACTION:' line was found."
    command = match.group(1).strip()
    if not command:
        return None, "the 'ACTION:' line is empty; write one command after it."
    return command, None


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"
