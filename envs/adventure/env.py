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

from envs.adventure import prompts
from envs.adventure.game import Game
from envs.adventure.world import ENV_ID, generate_task, payload_problems
from envs.base import Task
from envs.textenv import Opening, TextEnv

MAX_TURNS = 30
_ACTION = re.compile(r"^[ \t]*Action(?:[ \t]*\d+)?[ \t]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


class TextAdventureEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    _game: Game | None = None

    def _start(self, task: Task) -> Opening:
        self._game = Game(task.payload)
        goal = task.payload["goal"]
        room = self._game.describe()
        return Opening(
            prompts.first_observation(goal, room, self.max_turns),
            instruction=prompts.instruction(self.max_turns),
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            question=prompts.game_turn(goal, room),
            extra={"goal": goal},
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._game is not None  # set by _start
        line = _ACTION.search(action) if isinstance(action, str) else None
        if line is None:
            observation, info["invalid_action"] = prompts.invalid_action("no 'Action:' line was found."), True
        else:
            info["command"] = command = line.group(1).strip()
            observation, understood = self._game.run(command)
            if not understood:
                observation, info["invalid_action"] = prompts.invalid_action(observation), True
        if self._game.won:
            info["success"] = True
            return f"{observation}\n{prompts.WON}", 1.0, True
        return observation, 0.0, False
