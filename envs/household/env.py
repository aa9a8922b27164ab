"""``agenttune/Household-v0``: reach an ALFWorld-style goal in a text household ("put a clean mug in coffeemachine").

    import envs, gymnasium
    with envs.make_env("agenttune/Household-v0", split="test") as env:
        obs, info = env.reset(seed=3)                          # a generated test task
        obs, info = env.reset(options={"task": task})          # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("THOUGHT: ...\\nACTION: go to cabinet 1")
        info["admissible_actions"]                             # what would do something now, as in ALFWorld

The first observation is the instruction, a one-shot example and the task. Each reply's
first ``ACTION:`` line is the command; the observation is the world's answer in ALFWorld's
words, "Nothing happens." when the command is not in the grammar or cannot be done.
Only a reply with no usable ``ACTION:`` line is an invalid action (``info["invalid_action"]``),
answered with an explanation. Reaching the goal state ends the episode with reward 1.0;
otherwise it runs until ``max_turns`` replies (truncated, reward 0.0).
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.household import prompts
from envs.household.generator import ENV_ID, SPLIT_SEED_BASE, SPLIT_SIZE, check_payload, generate_task
from envs.household.world import World, normalise_command
from envs.textenv import init_text_env

MAX_TURNS = 35  # AgentBench's ALFWorld round limit


class HouseholdEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: Split = "train", max_turns: int = MAX_TURNS) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        self._task: Task | None = None
        self._world: World | None = None
        self._turn = 0
        self._done = False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    @property
    def world(self) -> World | None:
        """The current episode's world state (for tests and planners; agents see only text)."""
        return self._world

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        self._task, self._world, self._turn, self._done = task, World.from_payload(task.payload), 0, False
        info = {
            "task_id": task.task_id,
            "task": task,
            "turn": 0,
            "invalid_action": False,
            "instruction": prompts.INSTRUCTION,  # AgentInstruct puts these in two user turns, with "OK" between
            "question": prompts.task_prompt(self._world, task.payload["goal"]),
            "admissible_actions": self._world.admissible_actions(),
        }
        return prompts.first_observation(self._world, task.payload["goal"]), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._world is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        command, problem = (
            prompts.parse_reply(action) if isinstance(action, str) else (None, "the reply must be text.")
        )
        if command is None:
            observation = prompts.invalid_action(problem or "")
            info["invalid_action"] = True
        else:
            observation, info["action_done"] = self._world.execute(command)
            info["action"] = normalise_command(command)
        terminated = self._world.goal_reached(self._task.payload)
        truncated = not terminated and self._turn >= self.max_turns
        if terminated or truncated:
            info["success"] = terminated
        info["admissible_actions"] = self._world.admissible_actions()
        self._done = terminated or truncated
        return observation, 1.0 if terminated else 0.0, terminated, truncated, info

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        where = "reset(options={'task': ...})"
        try:
            task = given if isinstance(given, Task) else Task.from_dict(given)
        except (KeyError, TypeError, AttributeError) as error:
            raise TaskFormatError(where, f"expected a Task or a task dict ({error!r} missing or wrong)") from error
        if task.env_id != ENV_ID:
            raise TaskFormatError(where, f"task {task.task_id} belongs to {task.env_id!r}, not {ENV_ID!r}")
        check_payload(task.payload, f"{where}, task {task.task_id}")
        return task
