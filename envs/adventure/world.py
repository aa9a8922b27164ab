"""Seeded generator of TextAdventure tasks: a small house of rooms, locked doors, keys, containers and a goal.

Task ``i`` of "train" uses seed ``i`` and task ``i`` of "test" seed ``10_000_000 + i``
(``0 <= i < 10_000_000``); only ``random.Random(seed)`` is used. A payload is plain JSON:

    {
      "goal": "Find the ruby ring and put it in the wooden chest in the attic.",
      "goal_item": "ruby ring", "goal_container": "wooden chest", "start": "kitchen",
      "rooms": {"kitchen": {"north": "hallway"}, "hallway": {"south": "kitchen", "east": "attic"}, ...},
      "doors": [{"name": "iron door", "between": ["hallway", "attic"], "key": "iron key"}],   # all start locked
      "containers": {"wooden chest": {"room": "attic", "open": false}, ...},
      "items": {"ruby ring": "cardboard box", "iron key": "kitchen", "apple": "pantry"},   # item -> room/container
      "optimal_moves": 9,
    }

Rooms lie on a grid and form a tree, so every locked door really blocks the rooms behind
it. Keys are placed in unlock order, each where it can be reached through doors already
opened, so every task is solvable by construction; the BFS planner (``planner``) then
confirms it and its plan length bounds the task's difficulty.

    python -c "from envs.adventure.world import generate_tasks; print(generate_tasks('test', 1)[0].payload['goal'])"
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from envs.adventure.game import DIRECTIONS, OPPOSITE
from envs.adventure.planner import plan
from envs.base import Split, Task
from envs.errors import EnvsError
from envs.splits import split_seed, task_range

ENV_ID = "agenttune/TextAdventure-v0"
MIN_MOVES, MAX_MOVES = 8, 22  # optimal plan length: long enough that luck never wins, short enough for 30 turns
_ATTEMPTS = 200

ROOMS = (
    "kitchen", "hallway", "attic", "cellar", "study", "library", "pantry", "bedroom", "bathroom", "workshop",
    "conservatory", "gallery", "nursery", "parlour", "scullery", "garden shed", "dining room", "music room",
)  # fmt: skip
CONTAINERS = ("wooden chest", "cardboard box", "oak cabinet", "tin trunk", "wicker basket", "iron safe",
              "glass case", "leather satchel")  # fmt: skip
GOAL_ITEMS = ("golden key", "ruby ring", "silver coin", "old map", "crystal orb", "pocket watch", "jade figurine",
              "pearl necklace")  # fmt: skip
MATERIALS = ("brass", "copper", "bronze", "steel", "rusty", "bone")  # door/key pairs: "brass door", "brass key"
TRINKETS = ("apple", "candle", "book", "lamp", "rope", "teacup", "umbrella", "feather", "spoon", "blanket")


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("TextAdventure", split, index)
    rng = random.Random(seed)
    for _ in range(_ATTEMPTS):
        payload = _draw(rng)
        commands = plan(payload)
        if commands is not None and MIN_MOVES <= len(commands) <= MAX_MOVES:
            payload["optimal_moves"] = len(commands)
            return Task(f"adventure-{split}-{index:06d}", ENV_ID, split, seed, payload)
    raise EnvsError(f"could not generate a TextAdventure task from seed {seed}; this is a generator bug")


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected a string" for key in ("goal", "goal_item", "goal_container", "start")
        if not isinstance(payload.get(key), str)
    ]  # fmt: skip
    problems += [
        f"{key}: expected an object"
        for key in ("rooms", "containers", "items")
        if not isinstance(payload.get(key), dict)
    ]
    if not isinstance(payload.get("doors"), list):
        problems.append("doors: expected a list")
    if problems:
        return problems
    rooms = payload["rooms"]
    if payload["start"] not in rooms:
        problems.append(f"start: {payload['start']!r} is not a room")
    for room, exits in rooms.items():
        if not isinstance(exits, dict) or any(d not in DIRECTIONS or t not in rooms for d, t in exits.items()):
            problems.append(f"rooms.{room}: exits must map north/south/east/west to rooms")
    for name, container in payload["containers"].items():
        if not isinstance(container, dict) or container.get("room") not in rooms:
            problems.append(f"containers.{name}: expected {{'room': <a room>, 'open': bool}}")
    for door in payload["doors"]:
        if not isinstance(door, dict) or not {"name", "between", "key"} <= set(door):
            problems.append(f"doors: expected {{'name', 'between', 'key'}}, got {door!r}"[:200])
    places = set(rooms) | set(payload["containers"])
    problems += [f"items.{item}: {at!r} is not a room or container" for item, at in payload["items"].items()
                 if at not in places]  # fmt: skip
    if payload["goal_item"] not in payload["items"] or payload["goal_container"] not in payload["containers"]:
        problems.append("goal_item / goal_container: must name an item and a container of this world")
    return problems


def _draw(rng: random.Random) -> dict[str, Any]:
    rooms = rng.sample(ROOMS, rng.randint(5, 8))
    exits = _layout(rng, rooms)
    edges = [(a, b) for a in rooms for b in exits[a].values() if rooms.index(a) < rooms.index(b)]
    # Doors go on tree edges away from the start, so each one hides the rooms behind it.
    materials = rng.sample(MATERIALS, rng.randint(1, 2))
    locked = rng.sample(edges, len(materials))
    pairs = zip(materials, locked, strict=True)
    doors = [{"name": f"{m} door", "between": list(edge), "key": f"{m} key"} for m, edge in pairs]
    start = rooms[0]
    chosen = rng.sample(CONTAINERS, rng.randint(3, 5))
    containers = {name: {"room": rng.choice(rooms), "open": rng.random() < 0.3} for name in chosen}
    goal_container = next(iter(containers))
    containers[goal_container] = {"room": rng.choice(rooms[1:]), "open": False}
    items: dict[str, str] = {}
    # Place each key where the doors opened so far let the player reach it, in an order that opens every door.
    reachable, closed = _reach(exits, start, doors), list(doors)
    while closed:
        frontier = [door for door in closed if set(door["between"]) & reachable]
        door = rng.choice(frontier)
        items[door["key"]] = _spot(rng, reachable, containers, exclude=goal_container)
        closed.remove(door)
        reachable = _reach(exits, start, closed)
    goal_item = rng.choice(GOAL_ITEMS)
    items[goal_item] = _spot(rng, set(rooms), containers, exclude=goal_container)
    for trinket in rng.sample(TRINKETS, rng.randint(2, 4)):
        items[trinket] = _spot(rng, set(rooms), containers, exclude=None)
    goal_room = containers[goal_container]["room"]
    return {
        "goal": f"Find the {goal_item} and put it in the {goal_container} in the {goal_room}.",
        "goal_item": goal_item,
        "goal_container": goal_container,
        "start": start,
        "rooms": exits,
        "doors": doors,
        "containers": containers,
        "items": dict(sorted(items.items())),
    }


def _layout(rng: random.Random, rooms: list[str]) -> dict[str, dict[str, str]]:
    """Rooms on grid cells, each joined to one earlier neighbour: a tree whose exits agree both ways."""
    steps = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
    cells, exits = {(0, 0): rooms[0]}, {rooms[0]: {}}
    position = {rooms[0]: (0, 0)}
    for room in rooms[1:]:
        while True:
            parent = rng.choice(list(position))
            direction = rng.choice(DIRECTIONS)
            x, y = position[parent]
            cell = (x + steps[direction][0], y + steps[direction][1])
            if cell not in cells:
                break
        cells[cell], position[room] = room, cell
        exits[parent][direction] = room
        exits[room] = {OPPOSITE[direction]: parent}
    return exits


def _reach(exits: dict[str, dict[str, str]], start: str, locked: list[dict[str, Any]]) -> set[str]:
    blocked = {frozenset(door["between"]) for door in locked}
    seen, todo = {start}, [start]
    while todo:
        room = todo.pop()
        for other in exits[room].values():
            if other not in seen and frozenset((room, other)) not in blocked:
                seen.add(other)
                todo.append(other)
    return seen


def _spot(rng: random.Random, rooms: set[str], containers: dict[str, dict[str, Any]], exclude: str | None) -> str:
    """A room of ``rooms``, or (half the time) a container standing in one of them."""
    inside = [name for name, c in containers.items() if c["room"] in rooms and name != exclude]
    if inside and rng.random() < 0.5:
        return rng.choice(inside)
    return rng.choice(sorted(rooms))
