"""A test env whose grader a test can change, to re-score its episodes (``rollouts.rescore``).

The agent looks at the task a few times, then answers a number: ``Action: look`` / ``Action: answer(N)``.
Each task's payload says what the scripted agent (the env's oracle) does and what each grader expects:

- ``said``: the number the agent answers, after ``looks`` looks;
- ``gold``: the answer grader 1 accepts; ``gold2``: the one grader 2 (the "fixed" grader) accepts, when it differs;
- grader 2 also gives 0.5 for an answer one off the gold, ends a ``strict`` task at its second look (reward 0),
  and asks a ``confirm`` task to confirm its answer instead of ending it;
- ``raise``: grader 1 raises on the answer (an env bug: the episode is recorded as env_error).

Switch graders with ``use_grader(2)``. ``registered()`` adds the env to this process's registry for a block (tests
that list envs must not see it); ``tests.rollouts.graded_env_plugin`` registers it on import (``env_modules``).
``roll_out`` plays the oracle's episodes of any env as a rollout actor does, in this process (no Ray).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym

import envs
from envs.base import EnvSpec, Split, Task
from envs.config import EnvSelection
from envs.spaces import UnicodeText
from envs.splits import SPLIT_SEED_BASE

ENV_ID = "agenttune-test/Graded-v0"
MAX_TURNS = 4
GRADER = {"version": 1}

# One task per case; generated task i of a split is PAYLOADS[i] (seed = the split's base + i, as envs.splits says).
PAYLOADS: list[dict[str, Any]] = [
    {"gold": 3, "said": 3, "looks": 0},  # right under both graders
    {"gold": 5, "said": 5, "looks": 1},  # right under both, after a look
    {"gold": 7, "said": 7, "looks": 0, "gold2": 9},  # grader 2 fixed the gold: down 1 -> 0
    {"gold": 4, "said": 2, "looks": 1, "gold2": 2},  # up 0 -> 1
    {"gold": 8, "said": 9, "looks": 0},  # up 0 -> 0.5 (one off)
    {"gold": 6, "said": 6, "looks": 2, "strict": True},  # grader 2 ends it at the second look: diverged
    {"gold": 1, "said": 1, "looks": 0, "confirm": True},  # grader 2 does not end it: diverged (ran longer)
    {"gold": 2, "said": 2, "looks": 5},  # hits the turn cap under both: task_limit_reached, unchanged
    {"gold": 2, "said": 2, "looks": 0, "raise": True},  # grader 1 raises: env_error, carried over
    {"gold": 0, "said": 4, "looks": 0},  # wrong under both: unchanged at 0
]


def task(split: Split, index: int) -> Task:
    return Task(f"graded-{split}-{index:04d}", ENV_ID, split, SPLIT_SEED_BASE[split] + index, PAYLOADS[index])


def generate_tasks(split: Split, n: int, start: int = 0) -> list[Task]:
    return [task(split, i) for i in range(start, start + n)]


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The scripted agent: ``looks`` looks, then its answer."""
    acted = sum(m["role"] == "assistant" for m in messages)
    if acted < task.payload["looks"]:
        return f"Thought: not sure yet.\nAction: look #{acted + 1}"
    return f"Thought: I know it.\nAction: answer({task.payload['said']})"


class GradedEnv(gym.Env):
    def __init__(self) -> None:
        self.observation_space = UnicodeText(4096)
        self.action_space = UnicodeText(4096)
        self.task: Task | None = None
        self.turn = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.task = (options or {})["task"]
        self.turn = 0
        instruction = f"[grader {GRADER['version']}] Guess the number. Reply 'Action: look' or 'Action: answer(N)'."
        return f"{instruction}\nTask {self.task.task_id} (seed {seed}).", {"task_id": self.task.task_id}

    def step(self, action: str):
        p, version = self.task.payload, GRADER["version"]
        self.turn += 1
        info: dict[str, Any] = {"invalid_action": False}
        answer = re.search(r"answer\((-?\d+)\)", action)
        if answer is None:  # a look
            if version == 2 and p.get("strict") and self.turn >= 2:
                return "Too many looks.", 0.0, True, False, info | {"success": False}
            return f"[grader {version}] It is a small number.", 0.0, False, self.turn >= MAX_TURNS, info
        said = int(answer.group(1))
        if version == 1 and p.get("raise"):
            raise RuntimeError(f"grader 1 crashes on {self.task.task_id}")
        if version == 2 and p.get("confirm") and "confirm" not in action:
            return "Are you sure? Say 'answer(N) confirm'.", 0.0, False, self.turn >= MAX_TURNS, info
        gold = p.get("gold2", p["gold"]) if version == 2 else p["gold"]
        reward = 1.0 if said == gold else 0.5 if version == 2 and abs(said - gold) == 1 else 0.0
        return f"[grader {version}] graded {reward}", reward, True, False, info | {"success": reward >= 1.0}


SPEC = EnvSpec(
    id=ENV_ID,
    role="held_in",
    max_turns=MAX_TURNS,
    entry_point=f"{__name__}:GradedEnv",
    description="test env whose grader a test switches",
    generate_tasks=generate_tasks,
    oracle=oracle,
    task_counts={"train": len(PAYLOADS), "test": len(PAYLOADS)},
)


def roll_out(selections: list[EnvSelection], path: Path, *, samples_per_task: int = 1) -> list[dict]:
    """The oracle's episodes of ``selections``, played as a rollout actor plays them, appended to ``path``."""
    from envs.config import select_tasks
    from rollouts.config import PolicyConfig
    from rollouts.pool import RolloutActor, make_jobs
    from rollouts.records import JsonlWriter

    actor = RolloutActor(PolicyConfig(kind="oracle"), 60.0, {}, 256)
    jobs = [job for sel in selections for job in make_jobs(select_tasks(sel), samples_per_task=samples_per_task)]

    async def play() -> list[dict]:
        return list(await asyncio.gather(*(actor.run(job) for job in jobs)))

    records = asyncio.run(play())
    with JsonlWriter(path) as writer:
        for rec in records:
            writer.write(rec)
    actor.envs.close()
    return records


@contextlib.contextmanager
def use_grader(version: int) -> Iterator[None]:
    """Grade with ``version`` for a block (as if the env's code had changed)."""
    previous, GRADER["version"] = GRADER["version"], version
    try:
        yield
    finally:
        GRADER["version"] = previous


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """The env in this process's registry for the block."""
    envs.register_env(SPEC)
    try:
        yield
    finally:
        envs.unregister_env(ENV_ID)
