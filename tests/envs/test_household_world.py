"""The household world's rules, its command grammar, the reply parser and the task generator."""

from __future__ import annotations

import pytest

from envs.household import prompts
from envs.household.generator import CAN_BECOME, TASK_TYPES, generate_tasks, payload_problems
from envs.household.world import NOTHING_HAPPENS, World, join_items, parse_command

KITCHEN = {
    "receptacles": [
        {"name": "cabinet 1", "openable": True},
        {"name": "countertop 1", "openable": False},
        {"name": "fridge 1", "openable": True},
        {"name": "microwave 1", "openable": True},
        {"name": "sinkbasin 1", "openable": False},
        {"name": "sidetable 1", "openable": False},
    ],
    "objects": [
        {"name": "mug 1", "location": "cabinet 1"},
        {"name": "apple 1", "location": "countertop 1"},
        {"name": "knife 2", "location": "countertop 1"},
        {"name": "apple 2", "location": "fridge 1"},
        {"name": "desklamp 1", "location": "sidetable 1"},
    ],
}


@pytest.fixture
def world() -> World:
    return World.from_payload(KITCHEN)


def run(world: World, *commands: str) -> list[str]:
    return [world.execute(command)[0] for command in commands]


def test_arriving_describes_the_receptacle_in_alfworlds_words(world: World) -> None:
    assert world.describe_room() == (
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, "
        "a fridge 1, a microwave 1, a sidetable 1, and a sinkbasin 1."
    )
    assert run(world, "go to cabinet 1", "go to countertop 1", "go to sinkbasin 1") == [
        "You arrive at cabinet 1. The cabinet 1 is closed.",
        "You arrive at countertop 1. On the countertop 1, you see a apple 1, and a knife 2.",
        "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing.",
    ]
    assert run(world, "go to sinkbasin 1", "go to attic 1") == [NOTHING_HAPPENS] * 2  # already there; no such place
    assert join_items(["mug 1"]) == "a mug 1"


def test_cannot_take_from_a_closed_receptacle(world: World) -> None:
    assert run(world, "go to cabinet 1", "take mug 1 from cabinet 1") == [
        "You arrive at cabinet 1. The cabinet 1 is closed.",
        NOTHING_HAPPENS,
    ]
    assert run(world, "open cabinet 1", "take mug 1 from cabinet 1") == [
        "You open the cabinet 1. The cabinet 1 is open. In it, you see a mug 1.",
        "You pick up the mug 1 from the cabinet 1.",
    ]
    assert world.holding == "mug 1" and "mug 1" not in world.where


def test_take_needs_the_agent_there_empty_hands_and_the_right_source(world: World) -> None:
    assert run(world, "take apple 1 from countertop 1") == [NOTHING_HAPPENS]  # still in the middle of the room
    world.execute("go to countertop 1")
    assert run(world, "take apple 2 from countertop 1", "take apple 1 from fridge 1") == [NOTHING_HAPPENS] * 2
    assert run(world, "take apple 1 from countertop 1", "take knife 2 from countertop 1") == [
        "You pick up the apple 1 from the countertop 1.",
        NOTHING_HAPPENS,  # one object at a time
    ]
    assert run(world, "inventory") == ["You are carrying: a apple 1."]


def test_put_needs_the_object_in_hand_and_an_open_receptacle_here(world: World) -> None:
    run(world, "go to countertop 1", "take apple 1 from countertop 1")
    assert run(world, "put apple 1 in fridge 1", "go to fridge 1", "put apple 1 in/on fridge 1") == [
        NOTHING_HAPPENS,
        "You arrive at fridge 1. The fridge 1 is closed.",
        NOTHING_HAPPENS,
    ]
    assert run(world, "open fridge 1", "put knife 2 in fridge 1", "put apple 1 in fridge 1", "look") == [
        "You open the fridge 1. The fridge 1 is open. In it, you see a apple 2.",
        NOTHING_HAPPENS,
        "You put the apple 1 in/on the fridge 1.",
        "You are facing the fridge 1. Next to it, you see nothing.",
    ]
    assert world.where["apple 1"] == "fridge 1" and world.holding is None
    assert run(world, "examine fridge 1", "close fridge 1", "close fridge 1") == [
        "The fridge 1 is open. In it, you see a apple 2, and a apple 1.",  # a put object is listed last
        "You close the fridge 1.",
        NOTHING_HAPPENS,
    ]


def test_heat_requires_holding_the_object_at_a_microwave(world: World) -> None:
    world.execute("go to microwave 1")
    assert run(world, "heat apple 1 with microwave 1") == [NOTHING_HAPPENS]  # not holding it
    run(world, "go to countertop 1", "take apple 1 from countertop 1")
    assert run(world, "heat apple 1 with microwave 1") == [NOTHING_HAPPENS]  # not at the microwave
    world.execute("go to fridge 1")
    assert run(world, "heat apple 1 with fridge 1") == [NOTHING_HAPPENS]  # a fridge does not heat
    assert run(world, "go to microwave 1", "heat apple 1 with microwave 1") == [
        "You arrive at microwave 1. The microwave 1 is closed.",
        "You heat the apple 1 using the microwave 1.",  # closed or not, as in ALFWorld
    ]
    assert world.states["apple 1"] == {"hot"}
    assert run(world, "examine apple 1") == ["This is a hot apple 1."]


def test_cool_undoes_hot_and_clean_needs_a_sinkbasin(world: World) -> None:
    run(world, "go to countertop 1", "take apple 1 from countertop 1", "go to microwave 1")
    run(world, "heat apple 1 with microwave 1", "go to fridge 1", "cool apple 1 with fridge 1")
    assert world.states["apple 1"] == {"cool"}
    assert run(world, "clean apple 1 with fridge 1", "go to sinkbasin 1", "clean apple 1 with sinkbasin 1") == [
        NOTHING_HAPPENS,
        "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing.",
        "You clean the apple 1 using the sinkbasin 1.",
    ]
    assert run(world, "examine apple 1") == ["This is a clean and cool apple 1."]


def test_a_desklamp_is_a_fixture_switched_where_it_stands(world: World) -> None:
    assert run(world, "use desklamp 1") == [NOTHING_HAPPENS]
    world.execute("go to sidetable 1")
    assert run(
        world, "take desklamp 1 from sidetable 1", "use desklamp 1", "examine desklamp 1", "toggle desklamp 1"
    ) == [
        NOTHING_HAPPENS,
        "You turn on the desklamp 1.",
        "The desklamp 1 is on.",
        "You turn off the desklamp 1.",
    ]
    assert run(world, "examine knife 2") == [NOTHING_HAPPENS]  # not here


def test_goal_states_for_each_task_type(world: World) -> None:
    def goal(task_type: str, obj: str, receptacle: str | None = None, state: str | None = None) -> dict:
        return {"task_type": task_type, "object": obj, "receptacle": receptacle, "state": state,
                "count": TASK_TYPES[task_type][1]}  # fmt: skip

    look = goal("look_at_obj_in_light", "apple")
    place, two = goal("pick_and_place_simple", "apple", "fridge"), goal("pick_two_obj_and_place", "apple", "fridge")
    hot = goal("pick_heat_then_place_in_recep", "apple", "fridge", "hot")
    assert world.goal_reached(place) and not world.goal_reached(two)  # apple 2 starts in the fridge
    run(world, "go to countertop 1", "take apple 1 from countertop 1", "go to sidetable 1", "use desklamp 1")
    assert world.goal_reached(look)
    run(world, "go to microwave 1", "heat apple 1 with microwave 1", "go to fridge 1", "open fridge 1")
    assert not world.goal_reached(look) and not world.goal_reached(two) and not world.goal_reached(hot)
    world.execute("put apple 1 in fridge 1")
    assert world.goal_reached(two) and world.goal_reached(hot)


def test_admissible_actions_all_do_something(world: World) -> None:
    run(world, "go to countertop 1", "take apple 1 from countertop 1", "go to microwave 1", "open microwave 1")
    actions = world.admissible_actions()
    assert "heat apple 1 with microwave 1" in actions and "put apple 1 in/on microwave 1" in actions
    assert "go to microwave 1" not in actions and "take knife 2 from countertop 1" not in actions
    for action in actions:
        copy = World.from_payload(KITCHEN)
        run(copy, "go to countertop 1", "take apple 1 from countertop 1", "go to microwave 1", "open microwave 1")
        assert copy.execute(action)[1], action


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("go to cabinet 1", ("go", ("cabinet 1",))),
        ("  Go To  Cabinet 1. ", ("go", ("cabinet 1",))),
        ("`take mug 2 from countertop 1`", ("take", ("mug 2", "countertop 1"))),
        ("put mug 2 in/on coffeemachine 1", ("put", ("mug 2", "coffeemachine 1"))),
        ("put mug 2 on shelf 3", ("put", ("mug 2", "shelf 3"))),
        ("cool apple 1 with fridge 1", ("cool", ("apple 1", "fridge 1"))),
        ("inventory", ("inventory", ())),
        ("go to cabinet", None),
        ("take mug 2", None),
        ("jump", None),
    ],
)
def test_command_grammar(text: str, parsed: tuple | None) -> None:
    assert parse_command(text) == parsed


@pytest.mark.parametrize(
    ("reply", "command"),
    [
        ("THOUGHT: go.\nACTION: go to cabinet 1", "go to cabinet 1"),
        ("ACTION: look\nACTION: inventory", "look"),  # the first ACTION line counts
        ("Thought: hmm ACTION: open drawer 2", "open drawer 2"),
        ("THOUGHT: the next action: unclear\naction: look", "look"),
        ("THOUGHT: nothing to do", None),
    ],
)
def test_reply_parser(reply: str, command: str | None) -> None:
    assert prompts.parse_reply(reply)[0] == command


def test_generated_tasks_are_valid_unsolved_and_plausible() -> None:
    tasks = generate_tasks("train", 200) + generate_tasks("test", 100)
    for task in tasks:
        payload = task.payload
        assert payload_problems(payload) == [], task.task_id
        world = World.from_payload(payload)
        assert not world.goal_reached(payload), task.task_id  # nothing is solved before the agent acts
        assert sum(o["name"].startswith(payload["object"] + " ") for o in payload["objects"]) >= payload["count"]
        if payload["state"] is not None:
            assert payload["object"] in CAN_BECOME[payload["state"]]
        names = [r["name"] for r in payload["receptacles"]] + [o["name"] for o in payload["objects"]]
        assert len(names) == len(set(names)), task.task_id
    assert {task.payload["room"] for task in tasks} == {"kitchen", "bathroom", "bedroom", "livingroom"}
    heat = [t for t in tasks if t.payload["task_type"] == "pick_heat_then_place_in_recep"]
    assert heat and all(t.payload["room"] == "kitchen" for t in heat)


def test_payload_problems_name_the_bad_keys() -> None:
    assert payload_problems([]) == ["payload: expected an object, got list"]
    problems = payload_problems({"task_type": "x", "state": "wet"})
    assert any(p.startswith("goal:") for p in problems) and any(p.startswith("task_type:") for p in problems)
    assert any(p.startswith("state:") for p in problems)
