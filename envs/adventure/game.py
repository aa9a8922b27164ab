"""The text-adventure engine: the state of one game and a small Zork-like parser.

    game = Game(task.payload)
    text, understood = game.run("unlock iron door with iron key")
    game.won                     # the goal item is in the goal container

``understood`` is False when the command could not be parsed at all (an unknown verb, a
verb without its object): the env marks those replies as invalid. A command that parses
but fails in the world ("The iron door is locked.") is an ordinary move.

Nouns are matched leniently: "key" means the one key in sight, "iron key" or "the iron
key" a particular one; when several things match, the game asks which one.
"""

from __future__ import annotations

import re
from typing import Any

DIRECTIONS = ("north", "south", "east", "west")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
_SHORT = {"n": "north", "s": "south", "e": "east", "w": "west"}
INVENTORY = "inventory"  # the location of a carried item
VERBS = ("go", "look", "inventory", "examine", "take", "drop", "open", "close", "unlock", "put")
HELP = (
    "Commands: look, inventory, go north/south/east/west, examine X, take X, drop X, open X, close X, "
    "unlock X with Y, put X in Y."
)
_ARTICLES = re.compile(r"\b(the|a|an)\b")


class Game:
    """One game's state, built from a task payload (see ``envs.adventure.world``)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.exits: dict[str, dict[str, str]] = payload["rooms"]
        self.containers: dict[str, str] = {name: c["room"] for name, c in payload["containers"].items()}
        self.door_keys = {door["name"]: door["key"] for door in payload["doors"]}
        self.door_at = {frozenset(door["between"]): door["name"] for door in payload["doors"]}
        self.goal_item, self.goal_container = payload["goal_item"], payload["goal_container"]
        self.room: str = payload["start"]
        self.where: dict[str, str] = dict(payload["items"])  # item -> room, container or INVENTORY
        self.opened = {name for name, c in payload["containers"].items() if c["open"]}
        self.doors = dict.fromkeys(self.door_keys, "locked")  # door -> locked | closed | open

    @property
    def won(self) -> bool:
        return self.where.get(self.goal_item) == self.goal_container

    def snapshot(self) -> tuple[Any, ...]:
        """A hashable summary of everything that can change (the planner's search state)."""
        return self.room, tuple(sorted(self.where.items())), frozenset(self.opened), tuple(sorted(self.doors.items()))

    def copy(self) -> Game:
        clone = object.__new__(Game)
        clone.__dict__.update(self.__dict__)
        clone.where, clone.opened, clone.doors = dict(self.where), set(self.opened), dict(self.doors)
        return clone

    # ------------------------------------------------------------------------------------------ parser

    def run(self, command: str) -> tuple[str, bool]:
        """Carry out one command; returns (what the player sees, whether the command was understood)."""
        words = _ARTICLES.sub(" ", command.lower().strip().rstrip(".!")).split()
        if not words:
            return f"Please type a command. {HELP}", False
        verb, rest = words[0], " ".join(words[1:])
        if verb in _SHORT or verb in DIRECTIONS:
            return self.go(_SHORT.get(verb, verb)), True
        if verb in ("go", "walk", "move"):
            direction = _SHORT.get(rest, rest)
            if direction not in DIRECTIONS:
                return f"Go where? Say go north, go south, go east or go west. {HELP}", False
            return self.go(direction), True
        if verb in ("look", "l") and not rest:
            return self.describe(), True
        if verb in ("inventory", "i", "inv") and not rest:
            return self.inventory(), True
        if verb in ("examine", "x", "look", "read") and rest:
            return self._with_one(rest.removeprefix("at "), self.examine), True
        if verb in ("take", "get", "pick") and rest:
            name = rest.removeprefix("up ").split(" from ")[0]
            return self._with_one(name, self.take), True
        if verb == "drop" and rest:
            return self._with_one(rest, self.drop), True
        if verb in ("open", "close") and rest:
            return self._with_one(rest, self.open if verb == "open" else self.close), True
        if verb == "unlock" and " with " in rest:
            target, key = rest.split(" with ", 1)
            return self._with_two(target, key, self.unlock), True
        if verb in ("put", "place", "insert") and (match := re.fullmatch(r"(.+?) (?:in|into|inside) (.+)", rest)):
            return self._with_two(match.group(1), match.group(2), self.put), True
        if verb in ("look", "l", "inventory", "i", "inv"):
            return f"'{verb}' takes no object here. {HELP}", False
        if verb in ("examine", "x", "read", "take", "get", "pick", "drop", "open", "close"):
            return f"What do you want to {verb}? Name the thing, e.g. '{verb} box'. {HELP}", False
        if verb == "unlock":
            return f"Unlock it with what? Say 'unlock <door> with <key>'. {HELP}", False
        if verb in ("put", "place", "insert"):
            return f"Put it where? Say 'put <thing> in <container>'. {HELP}", False
        return f"I don't know the verb '{verb}'. {HELP}", False

    def _with_one(self, noun: str, act: Any) -> str:
        name = self._resolve(noun)
        return act(name) if name in self._in_sight() else name

    def _with_two(self, first: str, second: str, act: Any) -> str:
        a, b = self._resolve(first), self._resolve(second)
        for name in (a, b):
            if name not in self._in_sight():
                return name
        return act(a, b)

    def _resolve(self, noun: str) -> str:
        """The name of the one thing in sight that ``noun`` means, or a message saying why there is none."""
        wanted = noun.split()
        sight = self._in_sight()
        if noun in sight:
            return noun
        matches = [name for name in sight if all(word in name.split() for word in wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            return f"Which do you mean: {_listing(sorted(matches), 'or')}?"
        return f"You can't see any {noun} here."

    def _in_sight(self) -> list[str]:
        here = [name for name, room in self.containers.items() if room == self.room]
        items = [
            i for i, at in self.where.items() if at in (self.room, INVENTORY) or (at in here and at in self.opened)
        ]
        doors = [self.door_at.get(frozenset((self.room, other))) for other in self.exits[self.room].values()]
        return here + items + [door for door in doors if door]

    # ------------------------------------------------------------------------------------------ verbs

    def go(self, direction: str) -> str:
        target = self.exits[self.room].get(direction)
        if target is None:
            return f"You can't go {direction} from here."
        door = self.door_at.get(frozenset((self.room, target)))
        if door is not None and self.doors[door] != "open":
            return f"The {door} is {self.doors[door]}."
        self.room = target
        return self.describe()

    def describe(self) -> str:
        lines = [f"-= {self.room.title()} =-", f"You are in the {self.room}."]
        for container, room in self.containers.items():
            if room == self.room:
                lines.append(f"There is {_a(container)} here. {self._contents(container)}")
        loose = sorted(item for item, at in self.where.items() if at == self.room)
        if loose:
            lines.append(f"On the floor you see {_listing(loose, 'and')}.")
        exits = []
        for direction, other in self.exits[self.room].items():
            door = self.door_at.get(frozenset((self.room, other)))
            exits.append(f"{direction} (through the {door}, which is {self.doors[door]})" if door else direction)
        lines.append(f"Exits: {', '.join(exits)}.")
        return "\n".join(lines)

    def inventory(self) -> str:
        held = sorted(item for item, at in self.where.items() if at == INVENTORY)
        return f"You are carrying {_listing(held, 'and')}." if held else "You are carrying nothing."

    def examine(self, name: str) -> str:
        if name in self.containers:
            return f"A sturdy {name}. {self._contents(name)}"
        if name in self.doors:
            key = _a(self.door_keys[name]).capitalize()
            return f"A heavy {name}; it is {self.doors[name]}. {key} would fit its lock."
        return f"{_a(name).capitalize()}." + (" You are carrying it." if self.where[name] == INVENTORY else "")

    def take(self, name: str) -> str:
        if name in self.containers or name in self.doors:
            return f"The {name} is fixed in place."
        if self.where[name] == INVENTORY:
            return f"You already have the {name}."
        self.where[name] = INVENTORY
        return f"You take the {name}."

    def drop(self, name: str) -> str:
        if self.where.get(name) != INVENTORY:
            return f"You are not carrying the {name}."
        self.where[name] = self.room
        return f"You drop the {name}."

    def open(self, name: str) -> str:
        if name in self.doors:
            state = self.doors[name]
            if state == "closed":
                self.doors[name] = "open"
                return f"You open the {name}."
            return f"The {name} is {'already open' if state == 'open' else 'locked'}."
        if name not in self.containers:
            return f"The {name} cannot be opened."
        if name in self.opened:
            return f"The {name} is already open."
        self.opened.add(name)
        return f"You open the {name}. {self._contents(name)}"

    def close(self, name: str) -> str:
        if name in self.doors and self.doors[name] == "open":
            self.doors[name] = "closed"
            return f"You close the {name}."
        if name in self.opened:
            self.opened.discard(name)
            return f"You close the {name}."
        return f"The {name} is not open."

    def unlock(self, door: str, key: str) -> str:
        if door not in self.doors:
            return f"The {door} has no lock."
        if self.where.get(key) != INVENTORY:
            return f"You are not carrying the {key}."
        if self.doors[door] != "locked":
            return f"The {door} is not locked."
        if self.door_keys[door] != key:
            return f"The {key} does not fit the lock of the {door}."
        self.doors[door] = "closed"
        return f"You unlock the {door} with the {key}."

    def put(self, item: str, container: str) -> str:
        if self.where.get(item) != INVENTORY:
            return f"You are not carrying the {item}."
        if container not in self.containers:
            return f"You can't put things in the {container}."
        if container not in self.opened:
            return f"The {container} is closed."
        self.where[item] = container
        return f"You put the {item} in the {container}."

    def _contents(self, container: str) -> str:
        if container not in self.opened:
            return f"The {container} is closed."
        inside = sorted(item for item, at in self.where.items() if at == container)
        return f"The {container} is open; in it you see {_listing(inside, 'and') if inside else 'nothing'}."


def _listing(names: list[str], joiner: str) -> str:
    named = [f"the {name}" if joiner == "or" else _a(name) for name in names]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + f" {joiner} " + named[-1]


def _a(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name
