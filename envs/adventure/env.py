"""``agenttune/TextAdventure-v0``: a seeded Zork-like text adventure with locked doors, keys and containers (held out).

    import envs, gymnasium
    with gymnasium.make("agenttune/TextAdventure-v0", split="test") as env:
        obs, info = env.reset(seed=3)                          # a generated test task
        obs, info = env.reset(options={"task": task})          # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: take brass key")

Each reply's first ``Action:`` line is one parser command (``go north``, ``take key``,
``unlock brass door with brass key``, ``put ring in chest``, ``look``, ``inventory``,
``examine X``, ...); the observation is the game's answer. Completing the goal ends the
episode with reward 1.0; otherwise the episode is truncated after ``max_turns`` replies
with reward 0.0. A reply without an action, or a command the parser cannot read (an
unknown verb, a verb missing its object), is an observation with
``info["invalid_action"] = True``; a command that fails in the world ("The brass door
is locked.") is an ordinary turn.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium

from envs.adventure import prompts
from envs.adventure.game import Game
from envs.adventure.world import ENV_ID, SPLIT_SEED_BASE, SPLIT_SIZE, generate_task, payload_problems
from envs.base import Split, Task
from envs.errors import EnvsError
from envs.textenv import given_task, init_text_env

MAX_TURNS = 30
_ACTION = re.compile(r"^[ \t]*Action(?:[ \t]*\d+)?[ \t]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


class TextAdventureEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: Split = "train", max_turns: int = MAX_TURNS) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        self._task: Task | None = None
        self._game: Game | None = None
        self._turn, self._done = 0, False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        self._task, self._game, self._turn, self._done = task, Game(task.payload), 0, False
        info = {"task_id": task.task_id, "task": task, "turn": 0, "invalid_action": False}
        info["goal"] = task.payload["goal"]
        return prompts.first_observation(task.payload["goal"], self._game.describe(), self.max_turns), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._game is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        line = _ACTION.search(action) if isinstance(action, str) else None
        if line is None:
            observation, info["invalid_action"] = prompts.invalid_action("no 'Action:' line was found."), True
        else:
            info["command"] = command = line.group(1).strip()
            observation, understood = self._game.run(command)
            if not understood:
                observation, info["invalid_action"] = prompts.invalid_action(observation), True
        terminated = self._game.won
        if terminated:
            observation = f"{observation}\n{prompts.WON}"
        truncated = not terminated and self._turn >= self.max_turns
        if terminated or truncated:
            info["success"] = terminated
        self._done = terminated or truncated
        return observation, 1.0 if terminated else 0.0, terminated, truncated, info

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        task = given_task(given, ENV_ID, payload_problems)
        return task
