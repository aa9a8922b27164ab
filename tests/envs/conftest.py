"""Shared fixtures for the envs tests: the DB env, the shared AgentBench data, and an episode runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium
import pytest

import envs
from envs.base import Task

# The shared data folder lives beside the checkout (../shared/data), never inside it.
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
DBBENCH_DEV = SHARED_DATA / "agentbench" / "dbbench_dev.jsonl"

Policy = Callable[[Task, list[dict[str, str]]], str]


@pytest.fixture
def db_env() -> Iterator[gymnasium.Env]:
    env = envs.make_env("agenttune/DB-v0")
    yield env
    env.close()


@pytest.fixture(scope="session")
def dbbench_path() -> Path:
    if not DBBENCH_DEV.is_file():
        pytest.skip(reason=f"AgentBench dbbench data not found at {DBBENCH_DEV.resolve()} (no shared data)")
    return DBBENCH_DEV


@pytest.fixture(scope="session")
def dbbench_tasks(dbbench_path: Path) -> list[Task]:
    return envs.load_tasks("DB", str(dbbench_path))


def run_episode(env: gymnasium.Env, task: Task, policy: Policy) -> tuple[float, dict[str, Any], list[dict[str, str]]]:
    """Play one episode of ``task``; returns the last reward, the last info and the conversation."""
    observation, info = env.reset(options={"task": task})
    messages = [{"role": "user", "content": observation}]
    while True:
        action = policy(task, messages)
        observation, reward, terminated, truncated, info = env.step(action)
        messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
        if terminated or truncated:
            return float(reward), info, messages
