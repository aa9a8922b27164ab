"""The household text world, ``agenttune/Household-v0`` (held-in, as ALFWorld is in AgentTuning).

Tasks are ALFWorld's six types (pick and place, examine in light, clean/heat/cool and
place, pick two and place) in seeded room layouts (``generator``); ``world`` holds the
rules, ``oracle`` plans a solution from the state, ``prompts`` is AgentBench's format.

    import envs
    from envs import household
    envs.register_env(household.SPEC)               # idempotent
    env = envs.make_env("agenttune/Household-v0")
"""

from __future__ import annotations

from envs.base import EnvSpec
from envs.household.env import MAX_TURNS, HouseholdEnv
from envs.household.generator import ENV_ID, TASK_TYPES, generate_tasks
from envs.household.oracle import oracle
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    max_turns=MAX_TURNS,
    entry_point="envs.household.env:HouseholdEnv",
    description="ALFWorld-style household: go to, open, take, clean/heat/cool and put objects to reach a goal.",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "TASK_TYPES", "HouseholdEnv", "generate_tasks", "oracle"]
