"""agenttune/Household-v0 as a gymnasium env: checker, oracle, random agents, determinism, splits, bad replies."""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator
from typing import Any

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import household
from envs.base import Task
from envs.household import prompts
from envs.household.env import HouseholdEnv
from envs.household.generator import TASK_TYPES
from envs.household.oracle import oracle
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE

ENV_ID = "agenttune/Household-v0"
COMMAND_TEMPLATES = (
    "go to {r}", "open {r}", "close {r}", "take {o} from {r}", "put {o} in/on {r}", "use {o}", "clean {o} with {r}",
    "heat {o} with {r}", "cool {o} with {r}", "examine {o}", "look", "inventory",
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _registered() -> Iterator[None]:
    """Register the env, and leave the registry as found: other tests pin what ``import envs`` registers."""
    was_registered = ENV_ID in {spec.id for spec in envs.list_specs()}
    envs.register_env(household.SPEC)
    envs.register_env(household.SPEC)  # idempotent
    yield
    if not was_registered:
        envs.registry._SPECS.pop(ENV_ID, None)
        gymnasium.registry.pop(ENV_ID, None)


@pytest.fixture
def env() -> Iterator[gymnasium.Env]:
    env = envs.make_env(ENV_ID)
    yield env
    env.close()


def play(env: gymnasium.Env, task: Task, act: Any) -> tuple[float, dict[str, Any], list[dict[str, str]]]:
    """One episode; ``act(task, messages, info)`` gives each reply. Returns last reward, last info, conversation."""
    observation, info = env.reset(options={"task": task})
    messages = [{"role": "user", "content": observation}]
    while True:
        reply = act(task, messages, info)
        observation, reward, terminated, truncated, info = env.step(reply)
        messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": observation}]
        if terminated or truncated:
            return float(reward), info, messages


def test_spec_and_registration() -> None:
    spec = envs.get_spec("Household")
    assert (spec.id, spec.role, spec.max_turns) == (ENV_ID, "held_in", 35)
    assert spec.entry_point == "envs.household.env:HouseholdEnv"
    assert isinstance(envs.make_env("Household-v0").unwrapped, HouseholdEnv)


def test_check_env_passes(env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_first_observation_is_instruction_example_and_task(env: gymnasium.Env) -> None:
    observation, info = env.reset(seed=4)
    task: Task = info["task"]
    assert info["task_id"] == task.task_id == "household-train-000004"
    assert observation == f"{prompts.INSTRUCTION}\n\n{info['question']}"  # instruction, example, task as one text
    assert info["question"].startswith("Here is your task. You are in the middle of a room. Looking quickly around")
    assert info["question"].endswith(f"\nYour task is to: {task.payload['goal']}")
    for fact in ("THOUGHT:", "ACTION:", "put {obj} in/on {recep}", "heat {obj} with {recep}", "Nothing happens."):
        assert fact in info["instruction"]
    # The one-shot example shows replies in the agent's format and the env's own observations; the episode
    # runner sends it as turns after the acknowledgement, as AgentInstruct does (ALFWorld's "OK").
    assert "Agent: THOUGHT: " in observation and "\nACTION: go to countertop 1\n" in observation
    assert "Environment: You arrive at fridge 1. The fridge 1 is closed." in observation
    turns = info["opening_turns"]
    assert [t["role"] for t in turns[:4]] == ["user", "assistant", "user", "assistant"] and turns[1]["content"] == "OK"
    assert turns[3]["content"].startswith("THOUGHT: ") and "\nACTION: go to countertop 1" in turns[3]["content"]
    assert {"role": "user", "content": "You arrive at fridge 1. The fridge 1 is closed."} in turns
    assert turns[-1] == {"role": "user", "content": info["question"]}
    assert "go to " + task.payload["receptacles"][0]["name"] in info["admissible_actions"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_task_of_every_type(env: gymnasium.Env, split: str) -> None:
    tasks = envs.generate_tasks(ENV_ID, split, 50)
    assert {task.payload["task_type"] for task in tasks} == set(TASK_TYPES)
    for task in tasks:
        reward, info, messages = play(env, task, lambda t, m, i: oracle(t, m))
        assert (reward, info["success"]) == (1.0, True), (task.task_id, messages[-6:])
        assert info["turn"] <= 15  # far inside the 35-turn cap
        assert not any(m["content"] == "Nothing happens." for m in messages[1:])


def test_the_oracle_finishes_after_someone_elses_detours(env: gymnasium.Env) -> None:
    rng = random.Random(1)
    for task in envs.generate_tasks(ENV_ID, "test", 30, start=200):
        turns = 0

        def detour_then_oracle(t: Task, m: list[dict[str, str]], info: dict[str, Any]) -> str:
            nonlocal turns
            turns += 1
            if turns <= 8:  # eight random admissible commands: open things, pick things up, wander
                return f"THOUGHT: let me try something.\nACTION: {rng.choice(info['admissible_actions'])}"
            return oracle(t, m)

        reward, _, messages = play(env, task, detour_then_oracle)
        assert reward == 1.0, (task.task_id, messages[-6:])


def test_random_agents_solve_under_5_percent(env: gymnasium.Env) -> None:
    rng = random.Random(0)
    tasks = envs.generate_tasks(ENV_ID, "test", 50, start=1000)

    def admissible(task: Task, messages: list[dict[str, str]], info: dict[str, Any]) -> str:
        return f"THOUGHT: any move will do.\nACTION: {rng.choice(info['admissible_actions'])}"

    def plausible(task: Task, messages: list[dict[str, str]], info: dict[str, Any]) -> str:
        # Well-formed commands over the room's own names, whether or not they make sense now.
        receptacle = rng.choice(task.payload["receptacles"])["name"]
        obj = rng.choice(task.payload["objects"])["name"]
        verb = rng.choice(COMMAND_TEMPLATES)
        return f"THOUGHT: guessing.\nACTION: {verb.format(r=receptacle, o=obj)}"

    for agent in (admissible, plausible):
        solved = sum(play(env, task, agent)[0] for task in tasks)
        assert solved < 0.05 * len(tasks), agent.__name__


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env(ENV_ID) as env:
            observation, info = env.reset(seed=123)
            task = info["task"]
            steps = [env.step(oracle(task, [{"role": "user", "content": observation}]))[0], env.step("hmm")[0]]
            steps += [env.step(f"ACTION: {action}")[0] for action in info["admissible_actions"][:5]]
            runs.append((task, observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks(ENV_ID, "train", 1, start=123)[0]


def test_unseeded_resets_draw_from_the_env_rng(env: gymnasium.Env) -> None:
    env.reset(seed=7)
    first = [env.reset()[1]["task_id"] for _ in range(3)]
    env.reset(seed=7)
    assert [env.reset()[1]["task_id"] for _ in range(3)] == first


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks(ENV_ID, "train", 300) + envs.generate_tasks(
        ENV_ID, "train", 300, start=SPLIT_SIZE - 300
    )
    test = envs.generate_tasks(ENV_ID, "test", 300)
    assert {t.seed for t in train}.isdisjoint({t.seed for t in test})
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    assert max(t.seed for t in train) < min(t.seed for t in test)
    with pytest.raises(envs.EnvsError, match="runs past the end"):
        envs.generate_tasks(ENV_ID, "train", 1, start=SPLIT_SIZE)


def test_tasks_survive_a_json_round_trip(env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1, start=9)[0]
    copy = json.loads(json.dumps(task.to_dict()))
    assert env.reset(options={"task": copy})[0] == env.reset(options={"task": task})[0]
    assert Task.from_dict(copy) == task


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I am not sure what to do.", "no 'ACTION:' line"),
        ("THOUGHT: I should go to the fridge.", "no 'ACTION:' line"),
        ("THOUGHT: hm\nACTION:   ", "'ACTION:' line is empty"),
        ("", "no 'ACTION:' line"),
        ("go to fridge 1", "no 'ACTION:' line"),
        (42, "must be text"),
    ],
)
def test_malformed_replies_are_explained_not_raised(env: gymnasium.Env, reply: Any, reason: str) -> None:
    env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(reply)
    assert info["invalid_action"] is True
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert reason in observation and "THOUGHT: <your reasoning>\nACTION: <one command" in observation


@pytest.mark.parametrize("command", ["dance wildly", "go to the moon 1", "take mug 99 from cabinet 1", "go to"])
def test_impossible_commands_are_nothing_happens_not_invalid(env: gymnasium.Env, command: str) -> None:
    env.reset(seed=0)
    observation, reward, terminated, _, info = env.step(f"THOUGHT: trying.\nACTION: {command}")
    assert observation == "Nothing happens."
    assert (reward, terminated, info["invalid_action"], info["action_done"]) == (0.0, False, False, False)


def test_lenient_about_case_spacing_and_a_final_full_stop(env: gymnasium.Env) -> None:
    _, info = env.reset(seed=0)
    receptacle = info["task"].payload["receptacles"][0]["name"]
    observation, *_, info = env.step(f"Thought: go.\nAction:  Go  To {receptacle.title()}.")
    assert observation.startswith(f"You arrive at {receptacle}.") and info["action"] == f"go to {receptacle}"
    # A thought that merely mentions "action:" in lower case does not hide the real ACTION line.
    observation, *_ = env.step("THOUGHT: my next action: look around\nACTION: inventory")
    assert observation == "You are not carrying anything."


def test_turn_cap_truncates_the_episode() -> None:
    with envs.make_env(ENV_ID, max_turns=3) as env:
        env.reset(seed=0)
        results = [env.step("ACTION: look") for _ in range(3)]
        assert [(r[2], r[3]) for r in results] == [(False, False), (False, False), (False, True)]
        assert results[-1][4]["success"] is False and results[-1][4]["turn"] == 3
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("ACTION: look")


def test_bad_task_options_and_kwargs_raise_clear_errors(env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "train", 1)[0]
    with pytest.raises(envs.TaskFormatError, match="task_type"):
        env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "task_type": "juggle"}}})
    dangling = [*task.payload["objects"], {"name": "mug 9", "location": "attic 1"}]
    with pytest.raises(envs.TaskFormatError, match=r"objects\[\d+\]"):
        env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "objects": dangling}}})
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})
    with pytest.raises(envs.EnvsError, match="split"):
        HouseholdEnv(split="validation")
    with pytest.raises(envs.EnvsError, match="call reset"):
        HouseholdEnv().step("ACTION: look")


def test_close_is_idempotent_and_the_env_is_a_context_manager() -> None:
    env = HouseholdEnv()
    env.reset(seed=0)
    env.close()
    env.close()
    with HouseholdEnv() as env:
        env.reset(seed=1)
