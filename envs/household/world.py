"""The household world: receptacles, objects, and ALFWorld's rules for the agent's commands.

A ``World`` is built from a task payload (see ``generator``) and changed only by
``World.execute(command)``, which returns ALFWorld-style text: "You arrive at cabinet 1.
The cabinet 1 is closed.", "You pick up the mug 1 from the countertop 1.", or
"Nothing happens." for a command that does not parse or cannot be done now.

    world = World.from_payload(task.payload)
    print(world.describe_room())                  # "You are in the middle of a room. Looking quickly around ..."
    text, ok = world.execute("go to countertop 1")
    world.goal_reached(task.payload)              # True once the goal state holds
    world.admissible_actions()                    # what ALFWorld would list as admissible commands now

The rules follow ALFWorld: the agent stands at one receptacle at a time and acts only
there; it holds at most one object; an openable receptacle must be open to take from
or put into it; clean/heat/cool need the object in hand at a sinkbasin/microwave/fridge;
a desklamp is a fixture that is switched with ``use``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NOTHING_HAPPENS = "Nothing happens."
LAMP_TYPES = frozenset({"desklamp"})
# verb -> (the appliance it needs, the state it gives, the state it removes)
APPLIANCE_VERBS: dict[str, tuple[str, str, str | None]] = {
    "clean": ("sinkbasin", "clean", None),
    "heat": ("microwave", "hot", "cool"),
    "cool": ("fridge", "cool", "hot"),
}

_NAME = r"([a-z]+ \d+)"
_GRAMMAR: list[tuple[str, re.Pattern[str]]] = [
    (verb, re.compile(pattern + "$"))
    for verb, pattern in (
        ("look", r"look"),
        ("inventory", r"inventory"),
        ("go", rf"go to {_NAME}"),
        ("open", rf"open {_NAME}"),
        ("close", rf"close {_NAME}"),
        ("take", rf"take {_NAME} from {_NAME}"),
        ("put", rf"put {_NAME} (?:in/on|in|on|into|onto) {_NAME}"),
        ("clean", rf"clean {_NAME} with {_NAME}"),
        ("heat", rf"heat {_NAME} with {_NAME}"),
        ("cool", rf"cool {_NAME} with {_NAME}"),
        ("use", rf"(?:use|toggle) {_NAME}"),
        ("examine", rf"examine {_NAME}"),
    )
]


def kind(name: str) -> str:
    """The type of a receptacle or object: ``kind("cabinet 3") == "cabinet"``."""
    return name.rsplit(" ", 1)[0]


def normalise_command(text: str) -> str:
    """Lower case, single spaces, no wrapping quotes or trailing full stop: how commands are compared."""
    text = " ".join(text.lower().split()).strip("`'\" ")
    return text.rstrip(".").strip()


def parse_command(text: str) -> tuple[str, tuple[str, ...]] | None:
    """``(verb, arguments)`` for a command in ALFWorld's grammar, or None."""
    command = normalise_command(text)
    for verb, pattern in _GRAMMAR:
        if match := pattern.match(command):
            return verb, match.groups()
    return None


def join_items(names: list[str]) -> str:
    """ALFWorld's listing: "nothing", "a apple 1", "a apple 1, and a knife 2" (always "a", as ALFWorld writes)."""
    items = [f"a {name}" for name in names]
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", and " + items[-1]


@dataclass
class World:
    """The mutable state of one episode; every field is plain data so a world is cheap to rebuild."""

    openable: dict[str, bool]  # receptacle -> can it be opened (all openable ones start closed)
    where: dict[str, str]  # object -> receptacle it is in/on; insertion order is listing order
    opened: set[str] = field(default_factory=set)
    states: dict[str, set[str]] = field(default_factory=dict)  # object -> {"clean", "hot", "cool"}
    lamps_on: set[str] = field(default_factory=set)
    at: str | None = None  # None: the middle of the room
    holding: str | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> World:
        openable = {r["name"]: bool(r["openable"]) for r in payload["receptacles"]}
        return cls(openable=openable, where={o["name"]: o["location"] for o in payload["objects"]})

    # ------------------------------------------------------------------------------------------ queries

    def accessible(self, receptacle: str) -> bool:
        return not self.openable[receptacle] or receptacle in self.opened

    def contents(self, receptacle: str) -> list[str]:
        return [obj for obj, place in self.where.items() if place == receptacle]

    def visible_here(self) -> list[str]:
        """Objects the agent can see and reach: in its hand, or in the receptacle it faces (when open)."""
        here = self.contents(self.at) if self.at is not None and self.accessible(self.at) else []
        return [self.holding, *here] if self.holding else here

    def describe(self, receptacle: str) -> str:
        if not self.openable[receptacle]:
            return f"On the {receptacle}, you see {join_items(self.contents(receptacle))}."
        if receptacle not in self.opened:
            return f"The {receptacle} is closed."
        return f"The {receptacle} is open. In it, you see {join_items(self.contents(receptacle))}."

    def describe_room(self) -> str:
        # ALFWorld lists receptacles by type, alphabetically, highest number first within a type.
        names = sorted(self.openable, key=lambda r: (kind(r), -int(r.rsplit(" ", 1)[1])))
        return f"You are in the middle of a room. Looking quickly around you, you see {join_items(names)}."

    def goal_reached(self, goal: dict[str, Any]) -> bool:
        """Whether the goal state holds: the goal fields of a payload (task_type, object, receptacle, state, count)."""
        wanted = goal["object"]
        if goal["task_type"] == "look_at_obj_in_light":
            lit = any(lamp in self.lamps_on for lamp in self.contents(self.at)) if self.at else False
            return lit and self.holding is not None and kind(self.holding) == wanted
        placed = [
            obj
            for obj, place in self.where.items()
            if kind(obj) == wanted
            and kind(place) == goal["receptacle"]
            and (goal["state"] is None or goal["state"] in self.states.get(obj, ()))
        ]
        return len(placed) >= goal["count"]

    def admissible_actions(self) -> list[str]:
        """The commands that do something now, as ALFWorld's ``admissible_commands`` lists them."""
        actions = [f"go to {r}" for r in self.openable if r != self.at] + ["inventory", "look"]
        if self.at is not None:
            here = self.at
            actions.append(f"examine {here}")
            if self.openable[here]:
                actions.append(f"close {here}" if here in self.opened else f"open {here}")
            if self.accessible(here):
                for obj in self.contents(here):
                    if kind(obj) in LAMP_TYPES:
                        actions.append(f"use {obj}")
                    elif self.holding is None:
                        actions.append(f"take {obj} from {here}")
                if self.holding is not None:
                    actions.append(f"put {self.holding} in/on {here}")
            for verb, (appliance, _, _) in APPLIANCE_VERBS.items():
                if self.holding is not None and kind(here) == appliance:
                    actions.append(f"{verb} {self.holding} with {here}")
        return actions + [f"examine {obj}" for obj in self.visible_here()]

    # ------------------------------------------------------------------------------------------ commands

    def execute(self, command: str) -> tuple[str, bool]:
        """Apply one command; returns the observation and whether the command did anything."""
        parsed = parse_command(command)
        if parsed is None:
            return NOTHING_HAPPENS, False
        verb, args = parsed
        handler = getattr(self, f"_{verb}")
        result = handler(*args)
        return (NOTHING_HAPPENS, False) if result is None else (result, True)

    def _look(self) -> str:
        if self.at is None:
            return self.describe_room()
        return f"You are facing the {self.at}. Next to it, you see nothing."

    def _inventory(self) -> str:
        return f"You are carrying: a {self.holding}." if self.holding else "You are not carrying anything."

    def _go(self, target: str) -> str | None:
        if target not in self.openable or target == self.at:
            return None
        self.at = target
        return f"You arrive at {target}. {self.describe(target)}"

    def _open(self, target: str) -> str | None:
        if target != self.at or not self.openable[target] or target in self.opened:
            return None
        self.opened.add(target)
        return f"You open the {target}. {self.describe(target)}"

    def _close(self, target: str) -> str | None:
        if target != self.at or target not in self.opened:
            return None
        self.opened.discard(target)
        return f"You close the {target}."

    def _take(self, obj: str, source: str) -> str | None:
        reachable = source == self.at and self.accessible(source) and self.where.get(obj) == source
        if self.holding is not None or not reachable or kind(obj) in LAMP_TYPES:
            return None
        del self.where[obj]
        self.holding = obj
        return f"You pick up the {obj} from the {source}."

    def _put(self, obj: str, target: str) -> str | None:
        if self.holding != obj or target != self.at or not self.accessible(target):
            return None
        self.where[obj] = target  # re-inserted last: a put object is listed last, as in ALFWorld
        self.holding = None
        return f"You put the {obj} in/on the {target}."

    def _apply(self, verb: str, obj: str, appliance: str) -> str | None:
        needed, gives, removes = APPLIANCE_VERBS[verb]
        if self.holding != obj or appliance != self.at or kind(appliance) != needed:
            return None
        states = self.states.setdefault(obj, set())
        states.add(gives)
        states.discard(removes)
        return f"You {verb} the {obj} using the {appliance}."

    def _clean(self, obj: str, appliance: str) -> str | None:
        return self._apply("clean", obj, appliance)

    def _heat(self, obj: str, appliance: str) -> str | None:
        return self._apply("heat", obj, appliance)

    def _cool(self, obj: str, appliance: str) -> str | None:
        return self._apply("cool", obj, appliance)

    def _use(self, lamp: str) -> str | None:
        if kind(lamp) not in LAMP_TYPES or self.at is None or self.where.get(lamp) != self.at:
            return None
        if lamp in self.lamps_on:
            self.lamps_on.discard(lamp)
            return f"You turn off the {lamp}."
        self.lamps_on.add(lamp)
        return f"You turn on the {lamp}."

    def _examine(self, target: str) -> str | None:
        if target == self.at:
            return self.describe(target)
        if target not in self.visible_here():
            return None
        if kind(target) in LAMP_TYPES:
            return f"The {target} is {'on' if target in self.lamps_on else 'off'}."
        states = sorted(self.states.get(target, ()))
        return f"This is a {' and '.join(states)} {target}." if states else f"There's nothing special about {target}."
