"""The web navigation environment, ``agenttune/WebNav-v0`` (held-in: AgentTuning's Mind2Web task).

Mind2Web-style tasks on made-up web sites (``sites``: flights, hotels, restaurants, a shop, car rental, support
and job forms, event tickets), generated from seeds (``generator``); each step asks for the next element and
operation (CLICK / TYPE / SELECT with a value) as multiple choice (``prompts``), scored with Mind2Web's element
accuracy, operation F1 and step success (``scoring``); ``oracle`` gives the recorded answers.

    import envs
    env = envs.make_env("agenttune/WebNav-v0")
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.splits import SPLIT_SIZE
from envs.webnav.env import WebNavEnv
from envs.webnav.generator import ENV_ID, MAX_STEPS, generate_tasks
from envs.webnav.oracle import oracle

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    headline="reward",  # the paper reports Mind2Web's step success rate: the mean of this env's reward
    max_turns=MAX_STEPS,
    entry_point="envs.webnav.env:WebNavEnv",
    description="Pick the next element and operation on generated web pages (Mind2Web-like); step success.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "WebNavEnv", "generate_tasks", "oracle"]
