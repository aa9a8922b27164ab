from __future__ import annotations

import json
import random
import re
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.base import Task
from envs.qa import SPEC
from envs.qa.env import MultiHopQAEnv
from envs.qa.generator import TEMPLATES
from envs.qa.oracle import oracle
from envs.qa.scoring import exact_match, f1_score, normalize_answer
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from tests.envs.conftest import run_episode

envs.register_env(SPEC)


@pytest.fixture
def qa_env() -> gymnasium.Env:
    env = envs.make_env("MultiHopQA")
    yield env
    env.close()


def test_spec_is_held_out_and_registered() -> None:
    assert envs.get_spec("MultiHopQA").role == "held_out"
    assert isinstance(envs.make_env("agenttune/MultiHopQA-v0").unwrapped, MultiHopQAEnv)


def test_check_env_passes(qa_env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(qa_env.unwrapped)


def test_normalisation_and_metrics_follow_hotpotqa() -> None:
    assert normalize_answer("  The Orvane-Labs, Inc.!") == "orvanelabs inc"
    assert normalize_answer("An apple a day") == "apple day"
    assert exact_match("the Velford.", "Velford") and not exact_match("Velford city", "Velford")
    assert f1_score("Velford city", "Velford") == pytest.approx(2 / 3)
    assert f1_score("Ilsa Dorwick", "Dorwick Ilsa Marne") == pytest.approx(0.8)  # p=1, r=2/3
    assert f1_score("the a an", "Velford") == 0.0  # nothing left after normalisation
    assert f1_score("yes it is", "yes") == 0.0  # yes/no get no partial credit, as in HotpotQA
    assert f1_score("1931", "1931") == 1.0


def test_first_observation_has_instruction_example_and_question(qa_env: gymnasium.Env) -> None:
    observation, info = qa_env.reset(seed=4)
    assert info["task_id"] == "qa-train-000004"
    assert observation.endswith(info["question"]) and info["question"].startswith("Now the real question.\nQuestion: ")
    assert [t["role"] for t in info["opening_turns"]] == ["user", "assistant", "user"]
    for grammar in ("Action: Search[", "Action: Lookup[", "Action: Finish[", "You have 10 actions"):
        assert grammar in observation


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env("MultiHopQA") as env:
            observation, info = env.reset(seed=321)
            first = info["task"].payload["supporting_docs"][0]
            steps = [env.step(a)[0] for a in (f"Action: Search[{first}]", "Action: Lookup[in]", "oops")]
            runs.append((info["task"], observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks("MultiHopQA", "train", 1, start=321)[0]


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks("MultiHopQA", "train", 100, start=SPLIT_SIZE - 100)
    test = envs.generate_tasks("MultiHopQA", "test", 100)
    assert max(t.seed for t in train) == SPLIT_SIZE - 1 < min(t.seed for t in test) == SPLIT_SIZE
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    with pytest.raises(envs.EnvsError, match="runs past the end"):
        envs.generate_tasks("MultiHopQA", "train", 2, start=SPLIT_SIZE - 1)


def test_generated_tasks_are_well_formed_and_cover_every_template() -> None:
    tasks = envs.generate_tasks("MultiHopQA", "train", 100)
    assert {t.payload["template"] for t in tasks} == set(TEMPLATES)
    for task in tasks:
        payload = task.payload
        assert Task.from_dict(json.loads(json.dumps(task.to_dict()))) == task
        assert len(payload["supporting_docs"]) == 2 and set(payload["supporting_docs"]) <= set(payload["docs"])
        if payload["type"] == "comparison":
            assert payload["answer"] in payload["supporting_docs"]
        else:  # two hops: the question names only the first page, the answer is only on the second
            assert payload["answer"] in " ".join(payload["docs"][payload["supporting_docs"][1]])
            assert payload["supporting_docs"][1] not in payload["question"]
            assert payload["answer"] not in " ".join(payload["docs"][payload["supporting_docs"][0]])


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_generated_task(qa_env: gymnasium.Env, split: str) -> None:
    for task in envs.generate_tasks("MultiHopQA", split, 50):
        reward, info, messages = run_episode(qa_env, task, oracle)
        assert (reward, info["success"], info["f1"]) == (1.0, True, 1.0), (task.task_id, messages[-4:])
        assert len(messages) == 7  # prompt, two searches and their pages, finish, end


def test_random_agents_solve_almost_nothing(qa_env: gymnasium.Env) -> None:
    rng = random.Random(0)

    def random_agent(task: Task, messages: list[dict[str, str]]) -> str:
        # Well-formed actions whose arguments are capitalised words or years seen so far.
        words = re.findall(r"\b(?:[A-Z][a-z]+|\d{4})\b", messages[-1]["content"]) or ["Labs"]
        kind = rng.choice(["Search", "Lookup", "Finish"])
        return f"Thought: trying something.\nAction: {kind}[{' '.join(rng.sample(words, rng.randint(1, 2)))}]"

    tasks = envs.generate_tasks("MultiHopQA", "test", 100, start=500)
    assert sum(run_episode(qa_env, task, random_agent)[0] for task in tasks) < 5


def test_search_lookup_and_wrong_answers(qa_env: gymnasium.Env) -> None:
    _, info = qa_env.reset(seed=11)
    task: Task = info["task"]
    title = task.payload["supporting_docs"][0]
    assert qa_env.step("Action: Lookup[born]")[0].startswith("Observation: No page is open yet")
    observation, *_, info = qa_env.step(f"Thought: go.\nAction 1: Search[  the {title.upper()} ]")
    assert observation == "Observation: " + " ".join(task.payload["docs"][title]) and info["found"]
    observation, *_, info = qa_env.step(f"Action: Search[{title[:-2]}]")
    assert observation.startswith(f"Observation: There is no page titled [{title[:-2]}]. Similar titles: [")
    assert f"[{title}]" in observation and not info["found"]
    qa_env.step(f"Action: Search[{title}]")
    hits = [s for s in task.payload["docs"][title] if "in" in s.lower()]
    shown = [qa_env.step("Action: Lookup[IN]")[0] for _ in hits]
    assert shown[0] == f"Observation: (Result 1 / {len(hits)}) {hits[0]}"
    assert qa_env.step("Action: Lookup[in]")[0].startswith("Observation: No more results for [in]")
    _, reward, terminated, _, info = qa_env.step("Action: Finish[certainly wrong]")
    assert (reward, terminated, info["em"], info["success"], info["f1"]) == (0.0, True, False, False, 0.0)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I think it is Velford.", "no 'Action:' line"),
        ("Action: Search Orvane Labs", "is not of the form"),
        ("Action: Dance[now]", "unknown action 'Dance'"),
        ("Action: Finish[ ]", "Finish[] is empty"),
        ("", "no 'Action:' line"),
    ],
)
def test_malformed_actions_are_explained_not_raised(qa_env: gymnasium.Env, action: str, reason: str) -> None:
    qa_env.reset(seed=0)
    observation, reward, terminated, truncated, info = qa_env.step(action)
    assert info["invalid_action"] is True and (reward, terminated, truncated) == (0.0, False, False)
    assert reason in observation and "Action: Search[entity]" in observation


def test_turn_cap_truncates_and_bad_tasks_raise(qa_env: gymnasium.Env) -> None:
    with envs.make_env("MultiHopQA", max_turns=2) as env:
        env.reset(seed=0)
        assert env.step("Action: Search[nothing]")[2:4] == (False, False)
        *_, terminated, truncated, info = env.step("Action: Search[nothing]")
        assert (terminated, truncated, info["success"], info["f1"]) == (False, True, False, 0.0)
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("Action: Finish[x]")
    task = envs.generate_tasks("MultiHopQA", "train", 1)[0]
    with pytest.raises(envs.TaskFormatError, match="supporting_docs"):
        qa_env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "supporting_docs": ["Nowhere"]}}})
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        qa_env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})
    with pytest.raises(envs.EnvsError, match="split"):
        MultiHopQAEnv(split="dev")
