"""The scripted oracle for household tasks: a planner that reads the world's state and picks the next command.

It is a pure function of the task and the conversation so far: it rebuilds the world
from the task payload, replays every command the assistant has sent, and plans from
the resulting state. So it finishes any episode it joins midway (even after another
policy's detours), and it never needs per-episode memory.

The planner knows where every object is (the payload says so); it goes straight to the
lowest-numbered fitting object, makes it clean/hot/cool when the goal asks, and puts it
in the first receptacle of the goal's type (or switches on the lamp while holding it).
Each step is one command, so a task takes at most about a dozen turns of the 35.
"""

from __future__ import annotations

from typing import Any

from envs.base import Task
from envs.household import prompts
from envs.household.world import APPLIANCE_VERBS, LAMP_TYPES, World, kind
from envs.textenv import after_opening

Step = tuple[str, str]  # (thought, command)
_VERB_FOR_STATE = {gives: (verb, appliance) for verb, (appliance, gives, _) in APPLIANCE_VERBS.items()}


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message for ``task``: a short thought and one command."""
    world = replay(task, messages)
    thought, command = plan(world, task.payload)
    return prompts.reply(thought, command)


def replay(task: Task, messages: list[dict[str, str]]) -> World:
    """The world after every command the assistant has sent so far (malformed replies change nothing)."""
    world = World.from_payload(task.payload)
    for message in after_opening(messages, prompts.OPENING_REPLIES):
        if message.get("role") == "assistant":
            command, _ = prompts.parse_reply(message.get("content", ""))
            if command is not None:
                world.execute(command)
    return world


def plan(world: World, goal: dict[str, Any]) -> Step:
    """The next step towards ``goal`` (the payload's goal fields) from the current state."""
    wanted, held = goal["object"], world.holding
    if held is not None and kind(held) != wanted:
        return _put_down(world, held)
    if goal["task_type"] == "look_at_obj_in_light":
        if held is None:
            return _fetch(world, _candidates(world, goal)[0], goal)
        lamp = next(obj for obj in world.where if kind(obj) in LAMP_TYPES)
        if world.at != world.where[lamp]:
            return f"I have the {held}. Now I need light, so I will go to the {lamp}.", f"go to {world.where[lamp]}"
        # A lit lamp here would already have reached the goal, so the lamp is off: switch it on.
        return f"The {lamp} is here; I will switch it on to look at the {held} under it.", f"use {lamp}"
    if held is None:
        return _fetch(world, _candidates(world, goal)[0], goal)
    state = goal["state"]
    if state is not None and state not in world.states.get(held, ()):
        verb, appliance_kind = _VERB_FOR_STATE[state]
        appliance = _first(world, appliance_kind)
        if world.at != appliance:
            return (
                f"I have the {held}. Next I need to {verb} it, so I will go to the {appliance}.",
                f"go to {appliance}",
            )
        return f"I am at the {appliance}, so I can {verb} the {held} with it.", f"{verb} {held} with {appliance}"
    target = _first(world, goal["receptacle"])
    if world.at != target:
        return f"I have the {held}. Now I will take it to the {target}.", f"go to {target}"
    if not world.accessible(target):
        return f"The {target} is closed. I will open it first.", f"open {target}"
    return f"I am at the {target}, so I will put the {held} in/on it.", f"put {held} in/on {target}"


def _candidates(world: World, goal: dict[str, Any]) -> list[str]:
    """Objects of the wanted type that do not already count towards the goal, in a fixed order."""

    def counts(obj: str) -> bool:
        in_place = goal["receptacle"] is not None and kind(world.where[obj]) == goal["receptacle"]
        return in_place and (goal["state"] is None or goal["state"] in world.states.get(obj, ()))

    objects = [obj for obj in world.where if kind(obj) == goal["object"] and not counts(obj)]
    return sorted(objects, key=lambda obj: int(obj.rsplit(" ", 1)[1]))


def _fetch(world: World, obj: str, goal: dict[str, Any]) -> Step:
    place, wanted = world.where[obj], goal["object"]
    if world.at != place:
        # In a pick-two task the second trip says so, which keeps the thoughts true to the state.
        done = goal["count"] > 1 and len(_candidates(world, goal)) < len([o for o in world.where if kind(o) == wanted])
        need = f"I still need another {wanted}" if done else f"First I need to find {_a(wanted)}"
        return f"{need}. I will check the {place}.", f"go to {place}"
    if not world.accessible(place):
        return f"The {place} is closed. I will open it to look inside.", f"open {place}"
    return f"I see the {obj} here. I will pick it up.", f"take {obj} from {place}"


def _put_down(world: World, held: str) -> Step:
    """Free the hands of an object the goal does not need, where the agent stands (or on the first surface)."""
    here = world.at
    if here is None:
        here = next(r for r in world.openable if not world.openable[r])
        return f"I do not need the {held}. I will set it down on the {here}.", f"go to {here}"
    if not world.accessible(here):
        return f"I do not need the {held}. The {here} is closed, so I will open it.", f"open {here}"
    return f"I do not need the {held}, so I will put it down here.", f"put {held} in/on {here}"


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _first(world: World, receptacle_kind: str) -> str:
    return min((r for r in world.openable if kind(r) == receptacle_kind), key=lambda r: int(r.rsplit(" ", 1)[1]))
