"""The multi-hop question answering environment, ``agenttune/MultiHopQA-v0`` (held out).

HotpotQA-style two-hop questions (bridge and comparison) over a seeded fictional
encyclopedia, answered with ReAct's Search / Lookup / Finish actions; ``generator``
makes the tasks, ``oracle`` solves them, ``scoring`` has HotpotQA's EM and F1.

    import envs
    from envs.qa import SPEC
    envs.register_env(SPEC)
    env = envs.make_env("MultiHopQA")
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.qa.env import MAX_TURNS, MultiHopQAEnv
from envs.qa.generator import ENV_ID, generate_tasks
from envs.qa.oracle import oracle
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_out",
    max_turns=MAX_TURNS,
    entry_point="envs.qa.env:MultiHopQAEnv",
    description="Answer a two-hop question by searching a local encyclopedia of a fictional world (HotpotQA-like).",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "MultiHopQAEnv", "generate_tasks", "oracle"]
