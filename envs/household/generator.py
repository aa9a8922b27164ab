"""Seeded generator of household tasks: a room layout, where everything is, and one ALFWorld goal.

Splits use disjoint generator seeds: task ``i`` of "train" is seed ``i`` and task ``i``
of "test" is seed ``10_000_000 + i``, for ``0 <= i < 10_000_000``. The same seed always
gives the same task (only ``random.Random(seed)`` is used, never global state).

    python -c "from envs.household.generator import generate_tasks; print(generate_tasks('train', 1)[0])"

The payload is plain JSON:

    {"task_type": "pick_clean_then_place_in_recep", "goal": "put a clean mug in coffeemachine.",
     "room": "kitchen", "object": "mug", "receptacle": "coffeemachine", "state": "clean", "count": 1,
     "receptacles": [{"name": "cabinet 1", "openable": true}, ...],   # openable ones start closed
     "objects": [{"name": "mug 1", "location": "cabinet 1"}, ...]}    # listing order within a receptacle

No object of the goal's type starts where the goal wants it, so no task is solved at the start.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.household.world import APPLIANCE_VERBS, LAMP_TYPES
from envs.splits import split_seed, task_range

ENV_ID = "agenttune/Household-v0"
_ATTEMPTS = 100

# ALFWorld's task types -> (the state the object must be in, how many, goal texts in ALFWorld's wording)
TASK_TYPES: dict[str, tuple[str | None, int, tuple[str, str]]] = {
    "pick_and_place_simple": (None, 1, ("put a {o} in {r}.", "put some {o} on {r}.")),
    "look_at_obj_in_light": (None, 1, ("look at {o} under the {r}.", "examine the {o} with the {r}.")),
    "pick_clean_then_place_in_recep": ("clean", 1, ("put a clean {o} in {r}.", "clean some {o} and put it in {r}.")),
    "pick_heat_then_place_in_recep": ("hot", 1, ("put a hot {o} in {r}.", "heat some {o} and put it in {r}.")),
    "pick_cool_then_place_in_recep": ("cool", 1, ("put a cool {o} in {r}.", "cool some {o} and put it in {r}.")),
    "pick_two_obj_and_place": (None, 2, ("put two {o} in {r}.", "find two {o} and put them in {r}.")),
}
# Which objects can be cleaned, heated and cooled (the object types ALFWorld's tasks use).
CAN_BECOME: dict[str, frozenset[str]] = {
    "clean": frozenset(
        "apple bowl butterknife cloth cup dishsponge egg fork kettle knife ladle lettuce mug pan plate pot potato "
        "soapbar spatula spoon tomato".split()
    ),
    "hot": frozenset("apple bread cup egg mug plate potato tomato".split()),
    "cool": frozenset("apple bowl bread cup lettuce mug pan plate pot potato tomato winebottle".split()),
}


@dataclass(frozen=True)
class Room:
    """A room type: receptacle type -> (min count, max count, openable); object type -> where it can lie."""

    name: str
    receptacles: dict[str, tuple[int, int, bool]]
    objects: dict[str, tuple[str, ...]]
    lamp_on: tuple[str, ...] = ()  # receptacle types a desklamp stands on (rooms with a lamp)


def _where(spec: str) -> tuple[str, ...]:
    return tuple(spec.split())


_TABLES = "countertop diningtable"
_FOOD = _where(f"{_TABLES} fridge garbagecan sinkbasin microwave")
_DISHES = _where(f"{_TABLES} cabinet fridge microwave shelf sinkbasin")
_CUTLERY = _where(f"{_TABLES} drawer sinkbasin")
_SMALL = "desk sidetable shelf drawer dresser"
ROOMS: dict[str, Room] = {
    "kitchen": Room(
        "kitchen",
        {"cabinet": (4, 9, True), "coffeemachine": (1, 1, False), "countertop": (1, 3, False),
         "diningtable": (0, 1, False), "drawer": (2, 6, True), "fridge": (1, 1, True), "garbagecan": (1, 1, False),
         "microwave": (1, 1, True), "shelf": (0, 3, False), "sinkbasin": (1, 1, False),
         "stoveburner": (2, 4, False), "toaster": (1, 1, False)},
        {"apple": _FOOD, "bread": _where(f"{_TABLES} fridge"), "egg": _FOOD, "lettuce": _where(f"{_TABLES} fridge"),
         "potato": _FOOD, "tomato": _FOOD, "mug": (*_DISHES, "coffeemachine"), "cup": _DISHES, "bowl": _DISHES,
         "plate": _DISHES, "pan": _where(f"{_TABLES} stoveburner cabinet fridge sinkbasin"),
         "pot": _where(f"{_TABLES} stoveburner cabinet fridge sinkbasin"), "knife": _CUTLERY,
         "butterknife": _CUTLERY, "fork": _CUTLERY, "spoon": _CUTLERY, "spatula": _CUTLERY, "ladle": _CUTLERY,
         "saltshaker": _where(f"{_TABLES} cabinet shelf drawer"),
         "peppershaker": _where(f"{_TABLES} cabinet shelf drawer"),
         "dishsponge": _where("countertop cabinet drawer sinkbasin shelf"),
         "soapbottle": _where("countertop cabinet shelf"), "winebottle": _where(f"{_TABLES} fridge cabinet shelf"),
         "kettle": _where("countertop stoveburner cabinet shelf")},
    ),
    "bathroom": Room(
        "bathroom",
        {"bathtubbasin": (1, 1, False), "cabinet": (2, 5, True), "countertop": (1, 1, False), "drawer": (0, 4, True),
         "garbagecan": (1, 1, False), "handtowelholder": (1, 1, False), "shelf": (0, 2, False),
         "sinkbasin": (1, 2, False), "toilet": (1, 1, False), "toiletpaperhanger": (1, 1, False),
         "towelholder": (1, 1, False)},
        {"soapbar": _where("countertop sinkbasin bathtubbasin toilet cabinet shelf"),
         "soapbottle": _where("countertop toilet cabinet shelf"),
         "cloth": _where("countertop cabinet bathtubbasin sinkbasin shelf drawer"),
         "candle": _where("countertop toilet cabinet shelf"),
         "spraybottle": _where("countertop toilet cabinet garbagecan"),
         "toiletpaper": _where("toiletpaperhanger countertop cabinet toilet shelf garbagecan"),
         "towel": _where("towelholder"), "handtowel": _where("handtowelholder"),
         "dishsponge": _where("countertop cabinet drawer sinkbasin"), "tissuebox": _where("countertop toilet shelf"),
         "scrubbrush": _where("toilet cabinet countertop")},
    ),
    "bedroom": Room(
        "bedroom",
        {"bed": (1, 1, False), "desk": (0, 1, False), "drawer": (2, 6, True), "dresser": (0, 1, False),
         "garbagecan": (1, 1, False), "laundryhamper": (0, 1, False), "safe": (0, 1, True), "shelf": (1, 4, False),
         "sidetable": (1, 2, False)},
        {"alarmclock": _where("desk sidetable dresser shelf"), "book": _where(f"bed {_SMALL}"),
         "cd": _where(f"{_SMALL} safe garbagecan"), "cellphone": _where(f"bed {_SMALL}"),
         "creditcard": _where(_SMALL), "keychain": _where(f"{_SMALL} safe"),
         "laptop": _where("bed desk sidetable dresser"), "pen": _where(_SMALL), "pencil": _where(_SMALL),
         "pillow": _where("bed"), "mug": _where("desk sidetable shelf dresser"),
         "bowl": _where("desk sidetable shelf dresser"), "cloth": _where("drawer dresser laundryhamper")},
        lamp_on=("desk", "sidetable"),
    ),
    "livingroom": Room(
        "livingroom",
        {"armchair": (0, 1, False), "cabinet": (0, 3, True), "coffeetable": (1, 1, False), "drawer": (1, 4, True),
         "dresser": (0, 1, False), "garbagecan": (1, 1, False), "shelf": (1, 3, False), "sidetable": (1, 2, False),
         "sofa": (1, 1, False), "tvstand": (1, 1, False)},
        {"remotecontrol": _where("sofa armchair coffeetable sidetable tvstand drawer"),
         "keychain": _where("coffeetable sidetable drawer shelf dresser"),
         "creditcard": _where("sofa armchair coffeetable sidetable drawer"),
         "newspaper": _where("sofa armchair coffeetable sidetable drawer"), "book": _where("sofa coffeetable shelf"),
         "laptop": _where("sofa armchair coffeetable tvstand"), "pillow": _where("sofa armchair"),
         "statue": _where("coffeetable shelf sidetable tvstand dresser cabinet"),
         "vase": _where("shelf coffeetable sidetable tvstand cabinet"),
         "box": _where("coffeetable sofa shelf cabinet"),
         "watch": _where("coffeetable sidetable drawer shelf"), "tissuebox": _where("coffeetable sidetable shelf")},
        lamp_on=("sidetable", "dresser"),
    ),
}  # fmt: skip
_APPLIANCE_OF = {gives: appliance for appliance, gives, _ in APPLIANCE_VERBS.values()}  # "hot" -> "microwave"


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("household", split, index)
    rng = random.Random(seed)
    task_type = rng.choice(list(TASK_TYPES))
    for _ in range(_ATTEMPTS):
        payload = _draw(rng, task_type)
        if payload is not None:
            return Task(f"household-{split}-{index:06d}", ENV_ID, split, seed, payload)
    raise EnvsError(f"could not generate a {task_type} task from seed {seed}; this is a generator bug")


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def _draw(rng: random.Random, task_type: str) -> dict[str, Any] | None:
    """One attempt at a task of ``task_type``; None when the drawn room cannot host it."""
    state, count, goal_texts = TASK_TYPES[task_type]
    lamp = task_type == "look_at_obj_in_light"
    rooms = [room for room in ROOMS.values() if room.lamp_on or not lamp]
    if state is not None:
        rooms = [room for room in rooms if _APPLIANCE_OF[state] in room.receptacles]
    room = rng.choice(rooms)
    counts = {kind: rng.randint(low, high) for kind, (low, high, _) in room.receptacles.items()}
    present = {kind for kind, n in counts.items() if n > 0}
    candidates = sorted(o for o in room.objects if state is None or o in CAN_BECOME[state])
    wanted = rng.choice(candidates)
    homes = [k for k in room.objects[wanted] if k in present]
    lamp_homes = [k for k in room.lamp_on if k in present]  # rooms with a lamp always show it, as in ALFWorld
    if lamp:
        target = "desklamp"
    else:
        # The target is a plausible place for the object, never the appliance of the task itself.
        targets = [k for k in homes if k != _APPLIANCE_OF.get(state or "")]
        if not targets:
            return None
        target = rng.choice(targets)
        homes = [k for k in homes if k != target]
    if not homes:
        return None
    receptacles = [
        {"name": f"{kind} {i}", "openable": room.receptacles[kind][2]}
        for kind in sorted(present)
        for i in range(1, counts[kind] + 1)
    ]
    by_kind: dict[str, list[str]] = {}
    for r in receptacles:
        by_kind.setdefault(r["name"].rsplit(" ", 1)[0], []).append(r["name"])
    placed = [(wanted, rng.choice(by_kind[rng.choice(homes)])) for _ in range(count + rng.randint(0, 2))]
    others = [o for o in room.objects if o != wanted and any(k in present for k in room.objects[o])]
    for obj in rng.choices(others, k=rng.randint(8, 16)):
        placed.append((obj, rng.choice(by_kind[rng.choice([k for k in room.objects[obj] if k in present])])))
    if lamp_homes:
        placed.append(("desklamp", rng.choice(by_kind[rng.choice(lamp_homes)])))
    rng.shuffle(placed)  # numbers and listing order carry no hint of which object the goal wants
    numbered: dict[str, int] = {}
    objects = []
    for obj, location in placed:
        numbered[obj] = numbered.get(obj, 0) + 1
        objects.append({"name": f"{obj} {numbered[obj]}", "location": location})
    return {
        "task_type": task_type,
        "goal": rng.choice(goal_texts).format(o=wanted, r=target),
        "room": room.name,
        "object": wanted,
        "receptacle": None if lamp else target,
        "state": state,
        "count": count,
        "receptacles": receptacles,
        "objects": objects,
    }


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above, as 'key: what is wrong' lines (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected {kind.__name__}, got {type(payload.get(key)).__name__}"
        for key, kind in (("goal", str), ("object", str), ("count", int), ("receptacles", list), ("objects", list))
        if not isinstance(payload.get(key), kind)
    ]
    if payload.get("task_type") not in TASK_TYPES:
        problems.append(f"task_type: expected one of {list(TASK_TYPES)}, got {payload.get('task_type')!r}")
    if payload.get("state") not in (None, *CAN_BECOME):
        problems.append(f"state: expected null or one of {list(CAN_BECOME)}, got {payload.get('state')!r}")
    if problems:
        return problems
    names = set()
    for i, r in enumerate(payload["receptacles"]):
        if not (isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("openable"), bool)):
            problems.append(f"receptacles[{i}]: expected {{'name': str, 'openable': bool}}, got {r!r}")
        else:
            names.add(r["name"])
    for i, o in enumerate(payload["objects"]):
        if not (isinstance(o, dict) and isinstance(o.get("name"), str) and o.get("location") in names):
            problems.append(f"objects[{i}]: expected {{'name': str, 'location': <a receptacle>}}, got {o!r}")
    if payload["task_type"] == "look_at_obj_in_light" and not any(
        isinstance(o, dict) and o.get("name", "").rsplit(" ", 1)[0] in LAMP_TYPES for o in payload["objects"]
    ):
        problems.append("objects: a look_at_obj_in_light task needs a desklamp")
    return problems


def check_payload(payload: Any, where: str) -> None:
    """Raise ``TaskFormatError`` naming every problem of ``payload``."""
    if problems := payload_problems(payload):
        raise TaskFormatError(where, "malformed household payload: " + "; ".join(problems))
