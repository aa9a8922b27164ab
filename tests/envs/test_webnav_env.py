"""``agenttune/WebNav-v0``: Mind2Web-style steps on generated sites, scored per step (element, op F1, step success)."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.base import Task
from envs.errors import TaskFormatError
from envs.splits import SPLIT_SIZE
from envs.webnav import prompts
from envs.webnav.generator import MAX_CANDIDATES, MAX_STEPS
from envs.webnav.oracle import oracle
from envs.webnav.scoring import op_f1
from envs.webnav.sites import SITES
from rollouts.config import FilterConfig
from rollouts.episode import run_episode as rollout_episode
from rollouts.filters import filter_records
from rollouts.policies.oracle import OraclePolicy
from rollouts.policies.random_policy import RandomPolicy
from tests.envs.conftest import run_episode

ENV_ID = "agenttune/WebNav-v0"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nav_env() -> Iterator[gymnasium.Env]:
    env = envs.make_env(ENV_ID)
    yield env
    env.close()


def answer_for(task: Task, index: int, *, letter: str | None = None, value: str | None = None) -> str:
    """The recorded answer of step ``index``, with the letter or the value swapped when given."""
    step = task.payload["steps"][index]
    return prompts.reply(
        "test", letter or prompts.gold_letter(step), step["op"], step["value"] if value is None else value
    )


def play(env: gymnasium.Env, task: Task, answers: list[str]) -> tuple[float, dict, bool, bool, list[str]]:
    env.reset(options={"task": task})
    total, observations = 0.0, []
    for answer in answers:
        observation, reward, terminated, truncated, info = env.step(answer)
        total += reward
        observations.append(observation)
        if terminated or truncated:
            return total, info, terminated, truncated, observations
    raise AssertionError("the episode did not end")


def test_registered_held_in_with_the_reward_as_headline() -> None:
    spec = envs.get_spec("WebNav")
    assert (spec.id, spec.role, spec.headline, spec.max_turns) == (ENV_ID, "held_in", "reward", MAX_STEPS)


def test_check_env_passes(nav_env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(nav_env.unwrapped)


def test_the_opening_is_the_instruction_and_the_first_step_in_one_turn(nav_env: gymnasium.Env) -> None:
    observation, info = nav_env.reset(seed=4)
    task: Task = info["task"]
    assert info["task_id"] == task.task_id == "webnav-train-0000004"
    assert info["question"] == prompts.step_observation(task.payload, 0)
    assert observation.startswith(info["instruction"]) and observation.endswith(info["question"])
    for grammar in ("Thought:", "Answer:", "Action:", "Value:", "CLICK", "TYPE", "SELECT", "None of the above"):
        assert grammar in info["instruction"]
    # As the released Mind2Web records: one user turn, no acknowledgement and no worked example to train around
    assert "example" not in info and info["opening_turns"] == [{"role": "user", "content": observation}]
    question = info["question"]
    assert f"Task: {task.payload['task']}\nPrevious actions:\nNone\n" in question
    assert "\nA. None of the above\nB. " in question and question.startswith("'''\n<html> ")


def test_each_step_shows_the_recorded_previous_actions_and_its_candidates() -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1, start=3)[0]
    steps, pages = task.payload["steps"], task.payload["pages"]
    last = prompts.step_observation(task.payload, len(steps) - 1)
    done = last.split("Previous actions:\n", 1)[1].split("\nWhat is the next action?", 1)[0].splitlines()
    assert len(done) == len(steps) - 1
    for line, step in zip(done, steps, strict=False):
        target = pages[step["page"]]["elements"][step["target"]]
        assert line.startswith(f"[{prompts.role(target)}]  {target['text']} -> {step['op']}")
    choices = re.findall(r"^([A-F])\. ", last, re.MULTILINE)
    assert choices == ["A", *(chr(66 + i) for i in range(len(steps[-1]["candidates"])))]


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env(ENV_ID) as env:
            observation, info = env.reset(seed=123)
            task = info["task"]
            steps = [env.step(a)[0] for a in (answer_for(task, 0), "nonsense", answer_for(task, 2, letter="A"))]
            runs.append((task, observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks(ENV_ID, "train", 1, start=123)[0]


def test_train_and_test_seeds_never_overlap_and_tasks_vary() -> None:
    train = envs.generate_tasks(ENV_ID, "train", 150, start=SPLIT_SIZE - 150) + envs.generate_tasks(
        ENV_ID, "train", 150
    )
    test = envs.generate_tasks(ENV_ID, "test", 150)
    assert max(t.seed for t in train) < min(t.seed for t in test)
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    assert len({t.payload["task"] for t in train + test}) >= 440  # distinct tasks, not the same few again
    assert set(Counter(t.payload["kind"] for t in train + test)) == set(SITES)
    ops = Counter(step["op"] for t in train + test for step in t.payload["steps"])
    assert set(ops) == {"CLICK", "TYPE", "SELECT"} and min(ops.values()) > 100
    for t in train + test:
        assert 3 <= len(t.payload["steps"]) <= MAX_STEPS
        assert all(2 <= len(s["candidates"]) <= MAX_CANDIDATES for s in t.payload["steps"])


def test_tasks_survive_a_json_round_trip(nav_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1, start=9)[0]
    copied = json.loads(json.dumps(task.to_dict()))
    assert nav_env.reset(options={"task": copied})[0] == nav_env.reset(options={"task": task})[0]
    assert Task.from_dict(copied) == task


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_gets_every_step_of_every_task_right(nav_env: gymnasium.Env, split: str) -> None:
    for task in envs.generate_tasks(ENV_ID, split, 60):
        reward, info, messages = run_episode(nav_env, task, oracle)
        n = len(task.payload["steps"])
        assert (reward, info["success"], info["turn"]) == (1.0, True, n), messages[-2:]
        assert (info["element_accuracy"], info["op_f1"], info["step_success_rate"]) == (1.0, 1.0, 1.0)
        assert [s["step_success"] for s in info["step_scores"]] == [True] * n


def test_the_oracle_also_finds_its_step_when_the_opening_is_sent_as_turns(nav_env: gymnasium.Env) -> None:
    # The rollout runner opens with the instruction, the acknowledgement and the examples as separate turns.
    for task in envs.generate_tasks(ENV_ID, "test", 8, start=40):
        record = rollout_episode(nav_env, OraclePolicy(), task)
        assert (record["reward"], record["success"], record["status"]) == (1.0, True, "completed")
        assert record["turns"] == len(task.payload["steps"])


def test_random_agents_almost_never_succeed(nav_env: gymnasium.Env) -> None:
    rng = random.Random(0)

    def guesser(task: Task, messages: list[dict[str, str]]) -> str:
        letters = re.findall(r"^([A-F])\. ", messages[-1]["content"], re.MULTILINE)
        op = rng.choice(prompts.OPS)
        value = " ".join(rng.sample(task.payload["task"].rstrip(".").split(), 2))
        return prompts.reply("guessing", rng.choice(letters), op, value)

    tasks = envs.generate_tasks(ENV_ID, "test", 60, start=100)
    results = [run_episode(nav_env, task, guesser) for task in tasks]
    assert sum(info["success"] for _, info, _ in results) < 0.05 * len(tasks)
    assert sum(reward for reward, _, _ in results) / len(tasks) < 0.2
    assert sum(info["element_accuracy"] for _, info, _ in results) > 0  # it does hit elements, just not whole tasks
    records = [rollout_episode(nav_env, RandomPolicy(), task) for task in tasks[:20]]
    assert sum(r["success"] for r in records) == 0 and all(r["invalid_actions"] == r["turns"] for r in records)


def test_partial_credit_is_the_fraction_of_steps_that_succeeded(nav_env: gymnasium.Env) -> None:
    task = next(t for t in envs.generate_tasks(ENV_ID, "test", 50) if t.payload["steps"][1]["op"] == "TYPE")
    n = len(task.payload["steps"])
    right = [answer_for(task, i) for i in range(n)]
    gold_value = task.payload["steps"][1]["value"]
    wrong_value = right[:1] + [answer_for(task, 1, value=f"{gold_value} please")] + right[2:]
    reward, info, terminated, truncated, _ = play(nav_env, task, wrong_value)
    assert (terminated, truncated, info["success"]) == (True, False, False)
    assert reward == round((n - 1) / n, 3)
    step = info["step_scores"][1]
    assert step["element_correct"] and not step["step_success"]
    gold_tokens = len(set(f"TYPE {gold_value}".split()))
    assert step["op_f1"] == round(2 * gold_tokens / (2 * gold_tokens + 1), 4)  # one extra token: P<1, R=1
    assert info["element_accuracy"] == 1.0 and info["step_success_rate"] == round((n - 1) / n, 4)
    other = next(c for c in "BCDEF" if c != prompts.gold_letter(task.payload["steps"][0]))
    wrong_element = [answer_for(task, 0, letter=other), *right[1:]]
    reward, info, *_ = play(nav_env, task, wrong_element)
    assert reward == round((n - 1) / n, 3) and not info["step_scores"][0]["element_correct"]
    assert info["step_scores"][0]["op_f1"] == 1.0  # right operation on the wrong element still fails the step


def test_the_paper_filter_rule_keeps_two_of_three_steps(nav_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1, start=5)[0]
    three = Task(
        task.task_id, task.env_id, task.split, task.seed, {**task.payload, "steps": task.payload["steps"][:3]}
    )
    records = []
    for right in (3, 2, 1):
        answers = [answer_for(three, i) if i < right else answer_for(three, i, letter="A") for i in range(3)]
        reward, info, *_ = play(nav_env, three, answers)
        turns = [{"from": "human", "value": f"q{right}"}, {"from": "gpt", "value": "a"}]
        records.append(
            {"env": ENV_ID, "reward": reward, "status": "completed", "invalid_actions": 0, "conversations": turns}
        )
    assert [r["reward"] for r in records] == [1.0, 0.667, 0.333]
    kept, report = filter_records(records, FilterConfig(min_reward_per_env={ENV_ID: 0.667}))
    assert [r["reward"] for r in kept] == [1.0, 0.667] and report.dropped["reward_threshold"] == 1


def test_unreadable_replies_are_missed_steps_and_the_task_goes_on(nav_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "train", 1, start=11)[0]
    nav_env.reset(options={"task": task})
    num = len(task.payload["steps"][0]["candidates"])
    cases = [
        ("I would click the search button.", "no 'Answer: <letter>.' line"),
        ("Thought: x\nAnswer: Z.\nAction: CLICK", f"the choices are A to {chr(65 + num)}"),
    ]
    for index, (reply, reason) in enumerate(cases):
        observation, reward, terminated, truncated, info = nav_env.step(reply)
        assert info["invalid_action"] and reason in info["error"] and reward == 0.0 and not terminated
        assert (
            observation.startswith("Invalid answer: ")
            and prompts.step_observation(task.payload, index + 1) in observation
        )
        assert info["step"] == index and not info["step_scores"][index]["element_correct"]
    observation, _, _, _, info = nav_env.step("Thought: x\nAnswer: B.")
    assert info["invalid_action"] and "no 'Action:' line" in info["error"]
    observation, _, _, _, info = nav_env.step(12345)  # not even text
    assert info["invalid_action"] and "must be text" in info["error"]
    observation, _, _, _, info = nav_env.step("Thought: none fits\nAnswer: A.")  # readable: a wrong answer
    assert not info["invalid_action"] and info["step_scores"][-1]["answer"] == "A"


def test_the_turn_cap_ends_the_episode_and_pays_the_steps_done() -> None:
    task = next(t for t in envs.generate_tasks(ENV_ID, "test", 20) if len(t.payload["steps"]) >= 6)
    n = len(task.payload["steps"])
    with envs.make_env(ENV_ID, max_turns=2) as env:
        reward, info, terminated, truncated, _ = play(env, task, [answer_for(task, i) for i in range(n)])
    assert (terminated, truncated, info["success"]) == (False, True, False)
    assert reward == round(2 / n, 3) and info["step_success_rate"] == round(2 / n, 4)


def test_a_malformed_task_is_refused_with_what_is_wrong(nav_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1)[0].to_dict()
    select = next(i for i, s in enumerate(task["payload"]["steps"]) if s["op"] == "SELECT")
    bad = copy.deepcopy(task)
    bad["payload"]["steps"][select]["value"] = "no such option"
    with pytest.raises(TaskFormatError, match=rf"steps\[{select}\]\.value: 'no such option' is not an option"):
        nav_env.reset(options={"task": bad})
    bad = copy.deepcopy(task)
    bad["payload"]["steps"][0]["candidates"] = [c for c in bad["payload"]["steps"][0]["candidates"]
                                                if c != bad["payload"]["steps"][0]["target"]]  # fmt: skip
    with pytest.raises(TaskFormatError, match=r"steps\[0\]\.candidates"):
        nav_env.reset(options={"task": bad})
    with pytest.raises(TaskFormatError, match="pages: expected a non-empty list"):
        nav_env.reset(options={"task": {**task, "payload": {**task["payload"], "pages": []}}})


@pytest.mark.parametrize(
    ("predicted", "gold", "f1"),
    [("CLICK", "CLICK", 1.0), ("TYPE New York", "TYPE New York", 1.0), ("TYPE New", "TYPE New York", 0.8),
     ("CLICK", "TYPE Denver", 0.0), ("SELECT 2 Adults", "SELECT 2 adults", 2 / 3), ("", "", 1.0), ("", "CLICK", 0.0),
     ("CLICK Search", "CLICK", 2 / 3)],
)  # fmt: skip
def test_operation_f1_is_agentbench_token_set_f1(predicted: str, gold: str, f1: float) -> None:
    assert op_f1(predicted, gold) == pytest.approx(f1)


def test_tasks_are_the_same_in_every_process() -> None:
    # Nothing may hang on set or dict order of strings, which changes with PYTHONHASHSEED between processes.
    script = (
        "import hashlib, json, envs; tasks = envs.generate_tasks('WebNav', 'test', 300); "
        "print(hashlib.sha256(json.dumps([t.to_dict() for t in tasks]).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, cwd=REPO,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }  # fmt: skip
    assert len(digests) == 1
