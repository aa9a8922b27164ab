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

from envs.base import Task
from envs.household import prompts
from envs.household.generator import ENV_ID, check_payload, generate_task
from envs.household.world import World, normalise_command
from envs.textenv import WHERE, Opening, TextEnv

MAX_TURNS = 35  # AgentBench's ALFWorld round limit


class HouseholdEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task = staticmethod(generate_task)
    _world: World | None = None

    @property
    def world(self) -> World | None:
        """The current episode's world state (for tests and planners; agents see only text)."""
        return self._world

    def _check_task(self, task: Task) -> None:
        # The household checks its payload in its own words, so payload_problems is left unset.
        check_payload(task.payload, f"{WHERE}, task {task.task_id}")

    def _start(self, task: Task) -> Opening:
        self._world = World.from_payload(task.payload)
        return Opening(
            prompts.first_observation(self._world, task.payload["goal"]),
            instruction=prompts.INSTRUCTION_HEAD,
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            example=prompts.EXAMPLE_TURNS,
            question=prompts.task_prompt(self._world, task.payload["goal"]),
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._task is not None and self._world is not None  # set by reset
        command, problem = (
            prompts.parse_reply(action) if isinstance(action, str) else (None, "the reply must be text.")
        )
        if command is None:
            observation = prompts.invalid_action(problem or "")
            info["invalid_action"] = True
        else:
            observation, info["action_done"] = self._world.execute(command)
            info["action"] = normalise_command(command)
        if self._world.goal_reached(self._task.payload):
            info["success"] = True
            return observation, 1.0, True
        return observation, 0.0, False

    def _state_info(self) -> dict[str, Any]:
        assert self._world is not None  # set by reset
        return {"admissible_actions": self._world.admissible_actions()}  # as ALFWorld reports them every turn
