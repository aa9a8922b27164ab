"""A test env whose tasks say how it misbehaves, registered when imported.

Rollout actors register it by importing ``tests.rollouts.fault_envs_plugin`` (``env_modules``,
the same hook users have for their own envs); this process uses ``registered()``, so the
test session's registry stays the real one. Each task's payload names a behaviour for ``step``:

- ``ok``: finish with reward 1 (after ``step_delay_s``, so episodes overlap in time);
- ``slow``: like ``ok``, 3 s later;
- ``hang``: block until the env is closed (or 10 minutes);
- ``raise``: raise, as a buggy env would;
- ``exit``: end the whole actor process at once, as a segfault or the OOM killer would.

With ``closed_dir``, ``close`` leaves a file named after the instance there. The first
observation names the env instance and how many episodes it has served, so a
test can see env recycling in the trajectories.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import ray

import envs
from envs.base import EnvSpec, Task
from envs.spaces import UnicodeText

ENV_ID = "agenttune-test/Faulty-v0"
_instances = itertools.count()


class FaultyEnv(gym.Env):
    def __init__(self, step_delay_s: float = 0.0, closed_dir: str | None = None, fail_warm_up: bool = False):
        self.observation_space = UnicodeText(4096)
        self.action_space = UnicodeText(4096)
        self.step_delay_s, self.closed_dir, self.fail_warm_up = step_delay_s, closed_dir, fail_warm_up
        self.instance = f"{os.getpid()}.{next(_instances)}"
        self.episodes = 0
        self.task: Task | None = None
        self._closed = threading.Event()

    def warm_up(self, timeout_s: float) -> None:
        if self.fail_warm_up:
            raise RuntimeError("injected warm-up failure")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.task = (options or {})["task"]
        self.episodes += 1
        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        return f"instance={self.instance} episode={self.episodes} node={node} task={self.task.task_id}", {}

    def step(self, action: str):
        behaviour = self.task.payload["behaviour"]
        time.sleep(self.step_delay_s)
        if behaviour == "slow":
            time.sleep(3.0)
        elif behaviour == "hang":
            self._closed.wait(600)
        elif behaviour == "raise":
            raise RuntimeError(f"injected env crash on {self.task.task_id}")
        elif behaviour == "exit":
            os._exit(17)
        return "done", 1.0, True, False, {"success": True}

    def close(self) -> None:
        self._closed.set()
        if self.closed_dir:  # a file per closed instance: what the test sees of a close inside an actor
            open(os.path.join(self.closed_dir, self.instance), "w").close()


def tasks(behaviours: list[str]) -> list[Task]:
    return [Task(f"faulty-{i:04d}-{b}", ENV_ID, "train", i, {"behaviour": b}) for i, b in enumerate(behaviours)]


SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    max_turns=2,
    entry_point=f"{__name__}:FaultyEnv",
    description="test env with injected faults",
    generate_tasks=lambda split, n, start: tasks(["ok"] * n),
    oracle=lambda task, messages: "Action: done",
    task_counts={"train": None},
)


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """Register the env in this process for the duration (tests that enumerate envs must not see it)."""
    envs.register_env(SPEC)
    try:
        yield
    finally:
        envs.unregister_env(ENV_ID)
