"""The text adventure environment, ``agenttune/TextAdventure-v0`` (held out).

A seeded house of rooms, locked doors, keys and containers, played through a Zork-like
parser (``game``); ``world`` generates the tasks, ``planner`` finds the shortest winning
plan by BFS and ``oracle`` plays it. (textworld was considered: it installs and runs
offline, but at about a second per generated game plus spaCy, Jericho and an Inform 7
compiler it is too heavy for a task generator that must be cheap and pure Python.)

    import envs
    from envs.adventure import SPEC
    envs.register_env(SPEC)
    env = envs.make_env("TextAdventure")
"""

from __future__ import annotations

from envs.adventure.env import MAX_TURNS, TextAdventureEnv
from envs.adventure.oracle import oracle
from envs.adventure.world import ENV_ID, generate_tasks
from envs.base import EnvSpec
from envs.splits import SPLIT_SIZE

SPEC = EnvSpec(
    id=ENV_ID,
    role="held_out",
    max_turns=MAX_TURNS,
    entry_point="envs.adventure.env:TextAdventureEnv",
    description="Explore a house, unlock doors and put the goal item in the goal container (Zork-like parser).",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": SPLIT_SIZE, "test": SPLIT_SIZE},
)

__all__ = ["SPEC", "TextAdventureEnv", "generate_tasks", "oracle"]
