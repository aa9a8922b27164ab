"""``agenttune/WebShop-v0``: find and buy the product a customer asks for, in a seeded web shop.

    import envs
    envs.register_env(envs.webshop.SPEC)
    with envs.make_env("agenttune/WebShop-v0", split="test") as env:
        obs, info = env.reset(seed=3)                        # a generated test goal
        obs, info = env.reset(options={"task": task})        # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: search[gluten free chips]")

The agent searches (``search[keywords]``, on the search page) and clicks
(``click[value]``: buttons, product ids, option values). ``click[Buy Now]`` ends the
episode with WebShop's reward in [0, 1] (``reward.get_reward``; ``info`` carries its
parts) and ``info["success"]`` is True when the reward is exactly 1.0. An action that
cannot be read or done is an observation explaining why, with ``info["invalid_action"]``
True; it still uses a turn. After ``max_turns`` (10) turns without a purchase the
episode is truncated with reward 0.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.textenv import given_task, init_text_env
from envs.webshop import prompts
from envs.webshop.catalogue import get_catalogue
from envs.webshop.goals import ENV_ID, SPLIT_SEED_BASE, SPLIT_SIZE, generate_task, payload_problems
from envs.webshop.reward import get_reward
from envs.webshop.shop import Shop

MAX_TURNS = 10


class WebShopEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: Split = "train", max_turns: int = MAX_TURNS) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        self._task: Task | None = None
        self._shop: Shop | None = None
        self._turn = 0
        self._done = False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        catalogue = get_catalogue(task.payload["catalogue_seed"])
        if task.payload["asin"] not in catalogue.products:
            raise TaskFormatError(
                "reset(options={'task': ...})",
                f"task {task.task_id}: product {task.payload['asin']} is not in catalogue "
                f"{task.payload['catalogue_seed']}",
            )
        self._task, self._turn, self._done = task, 0, False
        self._shop = Shop(catalogue, task.payload["instruction_text"])
        page = prompts.observation(self._shop.screen())
        info = {
            "task_id": task.task_id,
            "task": task,
            "turn": 0,
            "invalid_action": False,
            "instruction": prompts.PROMPT,
            "question": page,
        }
        return f"{prompts.PROMPT}\n\n{page}", info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._shop is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        parsed = (
            prompts.parse_action(action) if isinstance(action, str) else prompts.Invalid("the action must be text.")
        )
        problem = parsed.reason if isinstance(parsed, prompts.Invalid) else self._act(parsed)
        reward, terminated = 0.0, False
        if problem is not None:
            info["invalid_action"] = True
            observation = prompts.invalid_action(problem, self._shop.screen())
        elif self._shop.bought is not None:
            reward, terminated = self._grade(info), True
            observation = prompts.bought(*self._shop.bought, reward)
        else:
            observation = prompts.observation(self._shop.screen())
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info["success"] = False
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, info

    def _act(self, action: prompts.Action) -> str | None:
        assert self._shop is not None  # checked by step()
        if action.kind == "search":
            return self._shop.search(action.argument)
        return self._shop.click(action.argument)

    def _grade(self, info: dict[str, Any]) -> float:
        assert self._task is not None and self._shop is not None and self._shop.bought is not None
        asin, chosen = self._shop.bought
        score = get_reward(self._shop.catalogue.products[asin], self._task.payload, chosen)
        info.update(score.to_dict(), asin=asin, options=chosen, success=score.reward == 1.0)
        return score.reward

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        task = given_task(given, ENV_ID, payload_problems)
        return task
