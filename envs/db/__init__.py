"""The Database environment, ``agenttune/DB-v0`` (held-in, as in AgentTuning).

Tasks are generated from seeds (``generator``) or loaded from AgentBench's dbbench
files (``dbbench``); ``oracle`` solves them from the gold SQL.
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.db.dbbench import load_dbbench
from envs.db.env import MAX_TURNS, DBEnv
from envs.db.generator import generate_tasks
from envs.db.oracle import oracle
from envs.db.payload import ENV_ID
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    max_turns=MAX_TURNS,
    entry_point="envs.db.env:DBEnv",
    description="Answer questions about (or modify) one SQL table by running SQL; AgentBench DB grading.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    load_tasks=load_dbbench,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "DBEnv", "generate_tasks", "load_dbbench", "oracle"]
