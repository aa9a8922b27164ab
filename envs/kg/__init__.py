"""The KnowledgeGraph environment, ``agenttune/KG-v0`` (held-in, as in AgentTuning).

Multi-hop questions over a seeded, fictional knowledge graph, answered with AgentBench's
KG tools (``get_relations``, ``get_neighbors``, ``intersection``, ``get_attributes``,
``argmax``, ``argmin``, ``count``); scored by F1 (reward) and exact match (success).

    import envs
    from envs import kg
    envs.register_env(kg.SPEC)            # until envs/__init__.py registers it
    env = envs.make_env("KG")
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.kg.env import KGEnv
from envs.kg.generator import generate_tasks
from envs.kg.oracle import oracle
from envs.kg.payload import ENV_ID, MAX_TURNS
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    headline="reward",  # the paper scores it by its reward (KG: answer F1; WebShop: attribute match)
    max_turns=MAX_TURNS,
    entry_point="envs.kg.env:KGEnv",
    description="Answer multi-hop questions over a knowledge graph with AgentBench's KG tools; F1 reward.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "KGEnv", "generate_tasks", "oracle"]
