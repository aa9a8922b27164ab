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

from envs.base import Task
from envs.errors import TaskFormatError
from envs.textenv import WHERE, Opening, TextEnv
from envs.webshop import prompts
from envs.webshop.catalogue import get_catalogue
from envs.webshop.goals import ENV_ID, generate_task, payload_problems
from envs.webshop.reward import get_reward
from envs.webshop.shop import Shop

MAX_TURNS = 10


class WebShopEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    _shop: Shop | None = None

    def _check_task(self, task: Task) -> None:
        # Generated goals always name a product of their catalogue; a task from elsewhere may not.
        if task.payload["asin"] not in get_catalogue(task.payload["catalogue_seed"]).products:
            raise TaskFormatError(
                WHERE,
                f"task {task.task_id}: product {task.payload['asin']} is not in catalogue "
                f"{task.payload['catalogue_seed']}",
            )

    def _start(self, task: Task) -> Opening:
        self._shop = Shop(get_catalogue(task.payload["catalogue_seed"]), task.payload["instruction_text"])
        page = prompts.observation(self._shop.screen())
        return Opening(
            f"{prompts.PROMPT}\n\n{page}",
            instruction=prompts.PROMPT,
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            question=page,
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._shop is not None  # set by _start
        parsed = (
            prompts.parse_action(action) if isinstance(action, str) else prompts.Invalid("the action must be text.")
        )
        problem = parsed.reason if isinstance(parsed, prompts.Invalid) else self._do(parsed)
        if problem is not None:
            info["invalid_action"] = True
            return prompts.invalid_action(problem, self._shop.screen()), 0.0, False
        if self._shop.bought is not None:
            reward = self._grade(info)
            return prompts.bought(*self._shop.bought, reward), reward, True
        return prompts.observation(self._shop.screen()), 0.0, False

    def _do(self, action: prompts.Action) -> str | None:
        assert self._shop is not None  # set by _start
        if action.kind == "search":
            return self._shop.search(action.argument)
        return self._shop.click(action.argument)

    def _grade(self, info: dict[str, Any]) -> float:
        assert self._task is not None and self._shop is not None and self._shop.bought is not None
        asin, chosen = self._shop.bought
        score = get_reward(self._shop.catalogue.products[asin], self._task.payload, chosen)
        info.update(score.to_dict(), asin=asin, options=chosen, success=score.reward == 1.0)
        return score.reward
