"""The Operating System environment, ``agenttune/OS-v0`` (held-in, as in AgentTuning).

Tasks are generated from seeds (``generator``) or loaded from AgentBench's OS task files (``tasks``); every
command runs in a bubblewrap sandbox (``envs.sandbox``); ``oracle`` solves them from the example solution.
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.os.env import MAX_TURNS, OSEnv
from envs.os.generator import generate_tasks
from envs.os.oracle import oracle
from envs.os.tasks import ENV_ID, load_os_tasks
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    max_turns=MAX_TURNS,
    entry_point="envs.os.env:OSEnv",
    description="Work on a Linux machine through bash in a bubblewrap sandbox; AgentBench OS grading.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    load_tasks=load_os_tasks,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
    sandboxed=True,
)

__all__ = ["SPEC", "OSEnv", "generate_tasks", "load_os_tasks", "oracle"]
