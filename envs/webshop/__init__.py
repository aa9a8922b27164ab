"""The WebShop environment, ``agenttune/WebShop-v0`` (held-in, as in AgentTuning).

A seeded store of 6,000 products (``catalogue``) searched with BM25, browsed in
WebShop's text mode (``shop``) and scored with WebShop's reward (``reward``); goals are
generated from seeds (``goals``) and ``oracle`` buys the gold product.

    import envs
    from envs import webshop
    envs.register_env(webshop.SPEC)
    env = envs.make_env("agenttune/WebShop-v0")
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.splits import SPLIT_SIZE
from envs.webshop.env import MAX_TURNS, WebShopEnv
from envs.webshop.goals import ENV_ID, generate_tasks
from envs.webshop.oracle import oracle

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    headline="reward",  # the paper scores it by its reward (KG: answer F1; WebShop: attribute match)
    max_turns=MAX_TURNS,
    entry_point="envs.webshop.env:WebShopEnv",
    description="Search a seeded web shop and buy the product a customer asks for; WebShop's reward.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "WebShopEnv", "generate_tasks", "oracle"]
