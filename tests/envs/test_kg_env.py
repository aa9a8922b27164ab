"""``agenttune/KG-v0`` end to end: gymnasium contract, oracle, random agents, malformed actions, determinism."""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import kg
from envs.base import Task
from envs.kg.env import KGEnv
from envs.kg.generator import CATEGORIES
from envs.kg.graph import world
from envs.kg.schema import ATTRIBUTES, RELATIONS
from envs.kg.tools import TOOLS
from envs.registry import _SPECS
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from rollouts.episode import run_episode as rollout
from rollouts.policies.oracle import OraclePolicy
from rollouts.policies.random_policy import RandomPolicy
from tests.envs.conftest import run_episode


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    """Register KG for this module and leave the global registries as other tests expect them afterwards."""
    was_registered = kg.SPEC.id in _SPECS
    envs.register_env(kg.SPEC)
    envs.register_env(kg.SPEC)  # idempotent
    yield
    if not was_registered:  # until envs/__init__.py registers KG itself
        _SPECS.pop(kg.SPEC.id, None)
        gymnasium.registry.pop(kg.SPEC.id, None)


@pytest.fixture
def kg_env() -> Iterator[gymnasium.Env]:
    env = envs.make_env("agenttune/KG-v0")
    yield env
    env.close()


def test_check_env_passes(kg_env: gymnasium.Env) -> None:
    assert isinstance(kg_env.unwrapped, KGEnv) and envs.get_spec("KG").max_turns == 15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(kg_env.unwrapped)


def test_first_observation_has_instruction_example_and_question(kg_env: gymnasium.Env) -> None:
    observation, info = kg_env.reset(seed=4)
    task: Task = info["task"]
    assert info["task_id"] == task.task_id == "kg-train-0000004"
    assert observation.startswith(info["instruction"]) and observation.endswith(info["question"])
    assert all(turn["content"] in observation for turn in info["example"])  # the one-shot example, as turns
    assert info["question"].endswith(
        f"Question: {task.payload['question']}\nEntities: [{', '.join(task.payload['entities'])}]"
    )
    roles = [(t["role"], t["content"][:9]) for t in info["opening_turns"]]
    assert roles[:3] == [("user", info["instruction"][:9]), ("assistant", "Understoo"), ("user", "Question:")]
    assert roles[-2:] == [("assistant", "Thought: "), ("user", "Now the r")]
    for text in (*TOOLS, "Thought:", "Action: get_relations(", "Final Answer: #3", "which are instances of"):
        assert text in observation
    graph = world(task.seed)
    for name in task.payload["entities"]:  # every entity the question names resolves by name
        assert name in task.payload["question"] and graph.entity(name) == name


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env("KG") as env:
            observation, info = env.reset(seed=123)
            entity, program = info["task"].payload["entities"][0], info["task"].payload["program"]
            actions = [f"Action: get_relations({entity})", "no action here", f"Action: {program[1]['action']}"]
            steps = [env.step(f"Thought: x\n{action}")[0] for action in actions]
            runs.append((info["task"], observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks("KG", "train", 1, start=123)[0]
    assert runs[0][2][0].startswith("Observation: [") and runs[0][2][2].startswith("Observation: variable #0")


def test_unseeded_resets_draw_from_the_env_rng(kg_env: gymnasium.Env) -> None:
    kg_env.reset(seed=7)
    first = [kg_env.reset()[1]["task_id"] for _ in range(3)]
    kg_env.reset(seed=7)
    assert [kg_env.reset()[1]["task_id"] for _ in range(3)] == first


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks("KG", "train", 100, start=SPLIT_SIZE - 100) + envs.generate_tasks("KG", "train", 100)
    test = envs.generate_tasks("KG", "test", 100)
    assert {t.seed for t in train}.isdisjoint({t.seed for t in test})
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    assert len({t.task_id for t in train + test}) == 300
    assert max(t.seed for t in train) < min(t.seed for t in test)
    with pytest.raises(envs.EnvsError, match="runs past the end"):
        envs.generate_tasks("KG", "train", 2, start=SPLIT_SIZE - 1)


def test_tasks_survive_a_json_round_trip(kg_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("KG", "test", 1, start=9)[0]
    copy = json.loads(json.dumps(task.to_dict()))
    assert kg_env.reset(options={"task": copy})[0] == kg_env.reset(options={"task": task})[0]
    assert Task.from_dict(copy) == task


def test_a_task_can_carry_its_whole_graph(kg_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("KG", "train", 1, start=5)[0]
    embedded = json.loads(json.dumps(task.to_dict() | {"payload": task.payload | {"graph": world(5).to_dict()}}))
    reward, info, _ = run_episode(kg_env, Task.from_dict(embedded), kg.oracle)
    assert (reward, info["success"]) == (1.0, True)


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_generated_task(kg_env: gymnasium.Env, split: str) -> None:
    for task in envs.generate_tasks("KG", split, 50):
        record = rollout(kg_env, OraclePolicy(), task)
        assert (record["reward"], record["success"], record["status"]) == (1.0, True, "completed"), record
        assert record["invalid_actions"] == 0 and record["turns"] == len(task.payload["program"]) + 1 <= 15


def test_the_generator_covers_every_category_with_fitting_answers() -> None:
    tasks = envs.generate_tasks("KG", "train", 150)
    assert {task.payload["category"] for task in tasks} == set(CATEGORIES)
    for task in tasks:
        payload = task.payload
        hops = sum(step["action"].startswith("get_neighbors") for step in payload["program"])
        assert 1 <= hops <= 4 and 1 <= len(payload["answer"]) <= 8, payload
        if payload["category"] == "count":
            assert payload["program"][-1]["action"].startswith("count(") and int(payload["answer"][0]) >= 2
        if payload["category"] in ("argmax", "argmin"):
            assert payload["program"][-1]["action"].startswith(payload["category"]) and len(payload["answer"]) == 1


def random_tool_agent(rng: random.Random):
    """Random but well-formed calls on the question's entities and the variables so far, then a random answer."""
    tools, relations, attributes = list(TOOLS), sorted(RELATIONS), sorted(ATTRIBUTES)

    def act(task: Task, messages: list[dict[str, str]]) -> str:
        made = sum(m["role"] == "user" and m["content"].startswith("Observation: variable #") for m in messages)
        turn = sum(m["role"] == "assistant" for m in messages)
        if made and (rng.random() < 0.25 or turn >= 12):
            return f"Thought: a guess.\nFinal Answer: #{rng.randrange(made)}"
        things = [*task.payload["entities"], *(f"#{i}" for i in range(made))]
        tool, thing = rng.choice(tools), rng.choice(things)
        second = {"get_neighbors": relations, "argmax": attributes, "argmin": attributes, "intersection": things}
        args = [thing, rng.choice(second[tool])] if tool in second else [thing]
        return f"Thought: let me try.\nAction: {tool}({', '.join(args)})"

    return act


def test_random_agents_solve_almost_nothing(kg_env: gymnasium.Env) -> None:
    tasks = envs.generate_tasks("KG", "test", 50, start=100)
    results = [run_episode(kg_env, task, random_tool_agent(random.Random(i))) for i, task in enumerate(tasks)]
    assert sum(info.get("success", False) for _, info, _ in results) < 0.05 * len(tasks)
    assert sum(reward for reward, _, _ in results) / len(tasks) < 0.05  # mean F1
    records = [rollout(kg_env, RandomPolicy(), task) for task in tasks[:10]]
    assert not any(r["success"] for r in records) and {r["status"] for r in records} == {"agent_invalid_action"}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I am not sure what to do.", "no 'Action:' line"),
        ("", "no 'Action:' line"),
        ("Thought: search.\nAction: search_web(films)", "unknown tool 'search_web'"),
        ("Action: get_neighbors(#0)", "takes 2 argument(s)"),
        ("Final Answer: the cities", "must name one variable"),
        ("Final Answer: #4", "#4, which does not exist"),
    ],
)
def test_malformed_actions_are_explained_not_raised(kg_env: gymnasium.Env, action: str, reason: str) -> None:
    kg_env.reset(seed=0)
    observation, reward, terminated, truncated, info = kg_env.step(action)
    assert info["invalid_action"] is True and reason in info["error"]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert observation.startswith("Invalid action: ") and reason in observation
    assert "Action: get_relations(Barack Obama)" in observation  # the expected format is restated


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ("get_relations(Nobody Anywhere)", "no entity named 'Nobody Anywhere'"),
        ("get_relations(#3)", "variable #3 does not exist"),
        ("count(#0)", "variable #0 does not exist; no variables exist yet"),
        ("get_neighbors({entity}, location.location.contains)", "has no relation 'location.location.contains'"),
        ("argmin({entity}, people.person.shoe_size)", "no attribute 'people.person.shoe_size'"),
    ],
)
def test_calls_that_cannot_run_are_explained_not_raised(kg_env: gymnasium.Env, call: str, reason: str) -> None:
    task = next(t for t in envs.generate_tasks("KG", "train", 30) if t.payload["entities"][0] in _films(t))
    kg_env.reset(options={"task": task})
    entity = task.payload["entities"][0]  # a film: films have no "contains" relation and no shoe size
    observation, reward, terminated, _, info = kg_env.step(f"Thought: t\nAction: {call.format(entity=entity)}")
    assert observation.startswith("Observation: Error: ") and reason in observation
    assert info["invalid_action"] is True and (reward, terminated) == (0.0, False)


def _films(task: Task) -> set[str]:
    return {name for name, kind in world(task.seed).types.items() if kind == "film.film"}


def test_answers_are_scored_by_f1_and_exact_match(kg_env: gymnasium.Env) -> None:
    task = next(t for t in envs.generate_tasks("KG", "train", 100) if len(t.payload["answer"]) == 2)
    kg_env.reset(options={"task": task})
    for step in task.payload["program"]:
        kg_env.step(f"Action: {step['action']}")
    _, reward, terminated, _, info = kg_env.step(f"Final Answer: #{task.payload['answer_variable']}")
    assert (reward, terminated, info["success"], info["f1"]) == (1.0, True, True, 1.0)
    # A variable holding one of the two gold entities: precision 1, recall 1/2, F1 2/3, no exact match.
    kg_env.reset(options={"task": task})
    for step in task.payload["program"]:
        kg_env.step(f"Action: {step['action']}")
    last = task.payload["answer_variable"]
    attribute = world(task.seed).attribute_names(task.payload["answer"])[0]
    kg_env.step(f"Action: argmax(#{last}, {attribute})")
    _, reward, terminated, _, info = kg_env.step(f"Final Answer: #{last + 1}")
    assert (reward, terminated, info["success"], info["exact_match"]) == (pytest.approx(2 / 3), True, False, False)


def test_turn_cap_truncates_the_episode() -> None:
    with envs.make_env("KG", max_turns=3) as env:
        env.reset(seed=0)
        results = [env.step("thinking...") for _ in range(3)]
        assert [(r[2], r[3]) for r in results] == [(False, False), (False, False), (False, True)]
        assert results[-1][4]["success"] is False and results[-1][4]["turn"] == 3
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("thinking...")


def test_bad_task_options_and_kwargs_raise_clear_errors(kg_env: gymnasium.Env) -> None:
    task = envs.generate_tasks("KG", "train", 1)[0]
    with pytest.raises(envs.TaskFormatError, match="answer: expected a list of strings"):
        kg_env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "answer": "x"}}})
    with pytest.raises(envs.TaskFormatError, match="graph.world"):
        kg_env.reset(
            options={"task": task.to_dict() | {"payload": {**task.payload, "graph": {"world": 0, "seed": 1}}}}
        )
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        kg_env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})
    with pytest.raises(envs.EnvsError, match="split"):
        KGEnv(split="validation")


def test_close_is_idempotent_and_the_env_is_a_context_manager() -> None:
    env = KGEnv()
    env.reset(seed=0)
    env.close()
    env.close()
    with KGEnv(split="test") as env:
        assert env.reset(seed=1)[1]["task_id"] == "kg-test-0000001"
