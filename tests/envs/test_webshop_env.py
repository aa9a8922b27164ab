from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import registry, webshop
from envs.base import Task
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from envs.webshop.catalogue import get_catalogue
from envs.webshop.env import WebShopEnv
from envs.webshop.oracle import oracle
from tests.envs.conftest import run_episode

ENV_ID = "agenttune/WebShop-v0"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registered for each test only, and taken out afterwards: other tests list the registry and, until
    # envs/__init__.py registers WebShop itself, expect DB alone there.
    monkeypatch.setitem(registry._SPECS, webshop.SPEC.id, webshop.SPEC)
    envs.register_env(webshop.SPEC)


@pytest.fixture
def shop_env() -> Iterator[gymnasium.Env]:
    env = envs.make_env(ENV_ID)
    yield env
    env.close()


def act(action: str) -> str:
    return f"Thought: next step.\nAction: {action}"


def clickables(observation: str) -> dict:
    return json.loads(observation.rsplit("Available Actions:\n", 1)[1].splitlines()[0])


def test_check_env_passes(shop_env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(shop_env.unwrapped)


def test_first_observation_has_the_prompt_example_and_search_page(shop_env: gymnasium.Env) -> None:
    observation, info = shop_env.reset(seed=4)
    task: Task = info["task"]
    assert info["task_id"] == task.task_id == "webshop-train-0000004"
    assert observation == f"{info['instruction']}\n\n{info['question']}"
    for grammar in ("Thought:", "Action:", "search[", "click[", "Available Actions:", "[Buy Now]"):
        assert grammar in info["instruction"]
    assert info["question"].startswith(f"Observation:\nWebShop\nInstruction:\n{task.payload['instruction_text']}\n")
    assert clickables(observation) == {"has_search_bar": True, "clickables": []}
    assert task.payload["instruction_text"].endswith(f"price lower than {task.payload['price_upper']:.2f} dollars")


def test_same_seed_same_task_and_observations() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env(ENV_ID) as env:
            observation, info = env.reset(seed=123)
            steps = [env.step(act(a))[0] for a in ("search[gluten free chips]", "click[Next >]", "nonsense")]
            runs.append((info["task"], observation, steps))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks(ENV_ID, "train", 1, start=123)[0]


def test_unseeded_resets_draw_from_the_env_rng(shop_env: gymnasium.Env) -> None:
    shop_env.reset(seed=7)
    first = [shop_env.reset()[1]["task_id"] for _ in range(3)]
    shop_env.reset(seed=7)
    assert [shop_env.reset()[1]["task_id"] for _ in range(3)] == first


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train = envs.generate_tasks(ENV_ID, "train", 200, start=SPLIT_SIZE - 200) + envs.generate_tasks(
        ENV_ID, "train", 200
    )
    test = envs.generate_tasks(ENV_ID, "test", 200)
    assert max(t.seed for t in train) < min(t.seed for t in test)
    assert {t.task_id for t in train}.isdisjoint({t.task_id for t in test})
    assert len({t.task_id for t in train + test}) == 600
    goals = {(t.payload["asin"], t.payload["instruction_text"]) for t in train + test}
    assert len(goals) == 600  # distinct goals, not the same few drawn again


def test_tasks_survive_a_json_round_trip(shop_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "test", 1, start=9)[0]
    copy = json.loads(json.dumps(task.to_dict()))
    assert shop_env.reset(options={"task": copy})[0] == shop_env.reset(options={"task": task})[0]
    assert Task.from_dict(copy) == task


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_buys_the_gold_product_on_every_task(shop_env: gymnasium.Env, split: str) -> None:
    pages_turned = 0
    for task in envs.generate_tasks(ENV_ID, split, 50):
        reward, info, messages = run_episode(shop_env, task, oracle)
        assert (reward, info["success"], info["asin"]) == (1.0, True, task.payload["asin"]), messages[-4:]
        assert info["turn"] <= webshop.SPEC.max_turns
        pages_turned += any("click[Next >]" in m["content"] for m in messages if m["role"] == "assistant")
    assert pages_turned > 0  # some gold products sit below the first page, so the oracle shows paging


def test_a_random_shopper_almost_never_succeeds(shop_env: gymnasium.Env) -> None:
    rng = random.Random(0)
    vocabulary = get_catalogue().vocabulary()

    def shopper(task: Task, messages: list[dict[str, str]]) -> str:
        page = clickables(messages[-1]["content"])
        if page["has_search_bar"]:
            return act(f"search[{' '.join(rng.sample(vocabulary, rng.randint(1, 3)))}]")
        if "Buy Now" in page["clickables"] and rng.random() < 0.3:
            return act("click[Buy Now]")
        return act(f"click[{rng.choice(page['clickables'])}]")

    tasks = envs.generate_tasks(ENV_ID, "test", 50, start=100)
    results = [run_episode(shop_env, task, shopper) for task in tasks]
    assert sum(info.get("success", False) for _, info, _ in results) < 0.05 * len(tasks)
    assert sum("asin" in info for _, info, _ in results) >= 10  # it did buy things, just not the right ones


def test_browsing_prev_next_details_and_back(shop_env: gymnasium.Env) -> None:
    shop_env.reset(seed=0)
    first, *_ = shop_env.step(act("search[machine washable shirt]"))
    assert "Page 1 (Total results: 50)" in first and "[< Prev]" not in first
    second, *_ = shop_env.step(act("click[next >]"))  # clicks ignore case
    assert "Page 2 (Total results: 50)" in second and clickables(second)["clickables"][:3] == [
        "Back to Search",
        "< Prev",
        "Next >",
    ]
    assert shop_env.step(act("click[< Prev]"))[0] == first
    asin = clickables(first)["clickables"][2]
    item, *_ = shop_env.step(act(f"click[{asin}]"))
    product = get_catalogue().products[asin]
    assert f"\n{product.title}\nPrice: ${product.price:.2f}\n" in item
    name, values = next(iter(product.options.items()))
    selected, *_ = shop_env.step(act(f"click[{values[0]}]"))
    assert f"(selected: {values[0]})" in selected
    features, *_ = shop_env.step(act("click[Features]"))
    assert all(f"- {feature}" in features for feature in product.features)
    assert shop_env.step(act("click[[< Prev]]"))[0] == selected  # outer brackets are forgiven; selection kept
    assert product.description in shop_env.step(act("click[Description]"))[0]
    search, reward, terminated, truncated, info = shop_env.step(act("click[Back to Search]"))
    assert clickables(search)["has_search_bar"] and (reward, terminated, truncated) == (0.0, False, False)


def test_buying_ends_the_episode_with_the_score_parts(shop_env: gymnasium.Env) -> None:
    _, info = shop_env.reset(seed=0)
    goal = info["task"].payload
    results = shop_env.step(act(f"search[{goal['oracle_query']}]"))[0]
    other = next(c for c in clickables(results)["clickables"][2:] if c != goal["asin"])
    shop_env.step(act(f"click[{other}]"))
    observation, reward, terminated, truncated, info = shop_env.step(act("click[Buy Now]"))
    assert terminated and not truncated and observation.startswith("Thank you for shopping with us!")
    assert 0.0 <= reward < 1.0 and info["success"] is False and info["options"] == {}
    assert info["options_matched"] == 0 and info["asin"] == other and info["reward"] == reward


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I am not sure what to do.", "no 'Action:' line"),
        ("Thought: hmm\nAction: buy the shirt", "could not read the action"),
        ("Action: search[]", "needs keywords"),
        ("Action: click[Buy Now]", "nothing to click on the search page"),
        ("Action: click[B0NOTHERE0]", "not a clickable"),
        ("", "no 'Action:' line"),
    ],
)
def test_malformed_actions_are_explained_not_raised(shop_env: gymnasium.Env, action: str, reason: str) -> None:
    shop_env.reset(seed=0)
    if "B0NOTHERE0" in action:
        shop_env.step(act("search[gluten free]"))
    observation, reward, terminated, truncated, info = shop_env.step(action)
    assert info["invalid_action"] is True
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert reason in observation and "Action: search[keywords] or click[value]" in observation
    assert "\nAvailable Actions:\n" in observation  # the page is shown again


def test_search_only_works_on_the_search_page(shop_env: gymnasium.Env) -> None:
    shop_env.reset(seed=0)
    shop_env.step(act("search[granola]"))
    observation, *_, info = shop_env.step(act("search[cookies]"))
    assert info["invalid_action"] and "click[Back to Search] first" in observation
    assert "Page 1 (Total results:" in observation


def test_a_search_with_no_hits_says_so(shop_env: gymnasium.Env) -> None:
    shop_env.reset(seed=0)
    observation, *_, info = shop_env.step(act("search[zzzz qqqq]"))
    assert "Total results: 0" in observation and "No products match" in observation
    assert clickables(observation)["clickables"] == ["Back to Search"] and not info["invalid_action"]


def test_turn_cap_truncates_the_episode() -> None:
    with envs.make_env(ENV_ID) as env:
        env.reset(seed=0)
        results = [env.step("thinking...") for _ in range(10)]
        assert [(r[2], r[3]) for r in results] == [(False, False)] * 9 + [(False, True)]
        assert results[-1][4]["success"] is False and results[-1][4]["turn"] == 10
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step(act("search[x]"))


def test_bad_task_options_and_kwargs_raise_clear_errors(shop_env: gymnasium.Env) -> None:
    task = envs.generate_tasks(ENV_ID, "train", 1)[0]
    with pytest.raises(envs.TaskFormatError, match="goal_options"):
        shop_env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "goal_options": ["large"]}}})
    with pytest.raises(envs.TaskFormatError, match="belongs to"):
        shop_env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})
    with pytest.raises(envs.TaskFormatError, match="not in catalogue"):
        shop_env.reset(options={"task": task.to_dict() | {"payload": {**task.payload, "asin": "B0MISSING0"}}})
    with pytest.raises(envs.EnvsError, match="split"):
        WebShopEnv(split="validation")


def test_close_is_idempotent_and_the_env_is_a_context_manager() -> None:
    env = WebShopEnv()
    env.reset(seed=0)
    env.close()
    env.close()
    with WebShopEnv(split="test") as env:
        assert env.reset(seed=1)[1]["task_id"] == "webshop-test-0000001"
