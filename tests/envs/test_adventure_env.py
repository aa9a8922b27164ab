from __future__ import annotations

import json
import random
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.adventure import SPEC
from envs.adventure.env import TextAdventureEnv
from envs.adventure.game import Game
from envs.adventure.oracle import oracle
from envs.adventure.planner import plan
from envs.adventure.world import MAX_MOVES, MIN_MOVES
from envs.base import Task
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from tests.envs.conftest import run_episode

envs.register_env(SPEC)

# A hand-made house: hallway (start) -north-> attic behind a locked brass door; the key is in a closed box.
HOUSE = {
    "goal": "Find the ruby ring and put it in the wooden chest in the attic.",
    "goal_item": "ruby ring",
    "goal_container": "wooden chest",
    "start": "hallway",
    "rooms": {"hallway": {"north": "attic", "east": "pantry"}, "attic": {"south": "hallway"},
              "pantry": {"west": "hallway"}},
    "doors": [{"name": "brass door", "between": ["hallway", "attic"], "key": "brass key"}],
    "containers": {"wooden chest": {"room": "attic", "open": False},
                   "cardboard box": {"room": "pantry", "open": False}},
    "items": {"brass key": "cardboard box", "ruby ring": "hallway", "golden key": "hallway"},
}  # fmt: skip


@pytest.fixture
def adventure_env() -> gymnasium.Env:
    env = envs.make_env("TextAdventure")
    yield env
    env.close()


def test_spec_is_held_out_and_check_env_passes(adventure_env: gymnasium.Env) -> None:
    assert envs.get_spec("TextAdventure").role == "held_out"
    assert isinstance(adventure_env.unwrapped, TextAdventureEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(adventure_env.unwrapped)


def test_the_parser_and_the_world_rules() -> None:
    game = Game(HOUSE)
    assert game.run("go north") == ("The brass door is locked.", True)
    assert game.run("take ring") == ("You take the ruby ring.", True)
    assert game.run("unlock door with brass key") == ("You can't see any brass key here.", True)
    assert game.run("e")[0].startswith("-= Pantry =-\nYou are in the pantry.\nThere is a cardboard box here.")
    assert game.run("take brass key from box") == ("You can't see any brass key here.", True)  # the box is closed
    assert game.run("open the box") == (
        "You open the cardboard box. The cardboard box is open; in it you see a brass key.",
        True,
    )  # noqa: E501
    assert game.run("take brass key")[0] == "You take the brass key."
    assert game.run("inventory")[0] == "You are carrying a brass key and a ruby ring."
    assert game.run("drop brass key")[0] == "You drop the brass key."
    assert game.run("take key") == ("You take the brass key.", True)
    game.run("west")
    assert game.run("unlock brass door with brass key")[0] == "You unlock the brass door with the brass key."
    assert game.run("go north") == ("The brass door is closed.", True)
    game.run("open brass door")
    assert game.run("go north")[0].endswith("Exits: south (through the brass door, which is open).")
    assert game.run("put ring in chest") == ("The wooden chest is closed.", True) and not game.won
    game.run("open chest")
    assert game.run("put ruby ring into wooden chest")[0] == "You put the ruby ring in the wooden chest." and game.won


def test_nouns_name_the_one_thing_in_sight_or_ask_which() -> None:
    game = Game(HOUSE)
    assert game.run("examine key") == ("A golden key.", True)  # the brass key is out of sight in the closed box
    game.run("take key")
    game.run("east")
    game.run("open box")
    assert game.run("x key") == ("Which do you mean: the brass key or the golden key?", True)
    assert game.run("look at the brass key") == ("A brass key.", True)
    assert game.run("take lamp") == ("You can't see any lamp here.", True)
    assert game.run("take box") == ("The cardboard box is fixed in place.", True)


def test_the_planner_finds_the_shortest_plan() -> None:
    assert plan(HOUSE) == [
        "go east", "open cardboard box", "take brass key", "go west", "take ruby ring",
        "unlock brass door with brass key", "open brass door", "go north", "open wooden chest",
        "put ruby ring in wooden chest",
    ]  # fmt: skip
    sealed = {**HOUSE, "items": {**HOUSE["items"], "brass key": "wooden chest"}}  # the key is behind its own door
    assert plan(sealed) is None


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env("TextAdventure") as env:
            observation, info = env.reset(seed=77)
            steps = [env.step(f"Action: {c}")[0] for c in ("look", "go north", "go east", "dance", "inventory")]
            runs.append((info["task"], observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks("TextAdventure", "train", 1, start=77)[0]


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks("TextAdventure", "train", 50, start=SPLIT_SIZE - 50)
    test = envs.generate_tasks("TextAdventure", "test", 50)
    assert max(t.seed for t in train) == SPLIT_SIZE - 1 < min(t.seed for t in test) == SPLIT_SIZE
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_generated_task(adventure_env: gymnasium.Env, split: str) -> None:
    for task in envs.generate_tasks("TextAdventure", split, 50):
        assert Task.from_dict(json.loads(json.dumps(task.to_dict()))) == task
        reward, info, messages = run_episode(adventure_env, task, oracle)
        assert (reward, info["success"]) == (1.0, True), (task.task_id, messages[-4:])
        assert MIN_MOVES <= info["turn"] == task.payload["optimal_moves"] <= MAX_MOVES


def test_random_agents_solve_almost_nothing(adventure_env: gymnasium.Env) -> None:
    rng = random.Random(0)

    def random_agent(task: Task, messages: list[dict[str, str]]) -> str:
        # Well-formed commands about things that exist in this house.
        nouns = [*task.payload["items"], *task.payload["containers"], *(d["name"] for d in task.payload["doors"])]
        command = rng.choice([
            f"go {rng.choice(['north', 'south', 'east', 'west'])}", f"take {rng.choice(nouns)}",
            f"open {rng.choice(nouns)}", f"put {rng.choice(nouns)} in {rng.choice(nouns)}",
            f"unlock {rng.choice(nouns)} with {rng.choice(nouns)}", "look", "inventory",
        ])  # fmt: skip
        return f"Thought: why not.\nAction: {command}"

    tasks = envs.generate_tasks("TextAdventure", "test", 100, start=1000)
    assert sum(run_episode(adventure_env, task, random_agent)[0] for task in tasks) < 5


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I would like to go north.", "no 'Action:' line"),
        ("Action: dance wildly", "I don't know the verb 'dance'"),
        ("Action: take", "What do you want to take?"),
        ("Action: go up", "Go where?"),
        ("Action: unlock door", "Unlock it with what?"),
        ("Action: put ring", "Put it where?"),
        ("Action:   ", "Please type a command"),
        ("", "no 'Action:' line"),
    ],
)
def test_malformed_actions_are_explained_not_raised(adventure_env: gymnasium.Env, action: str, reason: str) -> None:
    adventure_env.reset(seed=0)
    observation, reward, terminated, truncated, info = adventure_env.step(action)
    assert info["invalid_action"] is True and (reward, terminated, truncated) == (0.0, False, False)
    assert observation.startswith("Invalid action: ") and reason in observation and "Action: go north" in observation


def test_failed_moves_are_ordinary_turns_and_the_turn_cap_truncates() -> None:
    with envs.make_env("TextAdventure", max_turns=2) as env:
        env.reset(options={"task": Task("house", SPEC.id, "external", None, HOUSE)})
        observation, reward, terminated, truncated, info = env.step("Action: go north")
        assert (observation, info["invalid_action"], terminated, truncated) == (
            "The brass door is locked.",
            False,
            False,
            False,
        )  # noqa: E501
        *_, terminated, truncated, info = env.step("Action: look")
        assert (terminated, truncated, info["success"]) == (False, True, False)
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("Action: look")


def test_bad_tasks_and_kwargs_raise_clear_errors(adventure_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("TextAdventure", "train", 1)[0]
    broken = task.to_dict() | {"payload": {**task.payload, "start": "moon"}}
    with pytest.raises(envs.TaskFormatError, match="start"):
        adventure_env.reset(options={"task": broken})
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        adventure_env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})
    with pytest.raises(envs.EnvsError, match="split"):
        TextAdventureEnv(split="dev")
