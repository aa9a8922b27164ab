"""The episode loop: one policy, one environment, one task -> one trajectory record.

A plain function so it is tested without Ray; the rollout actors only call it.
Nothing here raises for an agent's mistake or an infrastructure fault: every way an
episode can end becomes a record with an AgentBench-style ``status``.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym

from envs.base import Task
from envs.errors import EnvError
from rollouts.errors import PolicyError
from rollouts.policies.base import Message, Policy
from rollouts.records import SCHEMA_VERSION, messages_to_conversations, record_id


class ContextLimitError(PolicyError):
    """The conversation no longer fits the policy's context window."""


def run_episode(
    env: gym.Env,
    policy: Policy,
    task: Task,
    *,
    sample_index: int = 0,
    max_turns: int | None = None,
    timeout_s: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Play ``task`` to the end and return its trajectory record.

    ``max_turns`` caps the agent's turns (None: the env's own cap); ``timeout_s``
    is checked between turns, while each policy call and env step has its own
    shorter limit (HTTP timeout, SQL time limit) so that one turn cannot hang.
    """
    started = time.monotonic()
    deadline = started + timeout_s if timeout_s else None
    messages: list[Message] = []
    reward, success, turns, invalid = 0.0, False, 0, 0
    status, error = "task_limit_reached", None
    info: dict[str, Any] = {}
    try:
        obs, info = env.reset(seed=seed, options={"task": task})
        messages.append({"role": "user", "content": obs})
        while True:
            if max_turns is not None and turns >= max_turns:
                status = "agent_invalid_action" if info.get("invalid_action") else "task_limit_reached"
                break
            if deadline is not None and time.monotonic() > deadline:
                status, error = "timeout", f"episode exceeded {timeout_s:.0f} s after {turns} turns"
                break
            try:
                reply = policy.act(messages, task=task)
            except ContextLimitError as e:
                status, error = "context_limit_exceeded", str(e)
                break
            except Exception as e:  # noqa: BLE001 - any policy failure ends only this episode
                status, error = "agent_error", f"{type(e).__name__}: {e}"
                break
            messages.append({"role": "assistant", "content": reply})
            turns += 1
            obs, step_reward, terminated, truncated, info = env.step(reply)
            reward += float(step_reward)
            invalid += bool(info.get("invalid_action"))
            if terminated:
                status, success = "completed", bool(info.get("success", reward >= 1.0))
                break
            if truncated:
                status = "agent_invalid_action" if info.get("invalid_action") else "task_limit_reached"
                break
            messages.append({"role": "user", "content": obs})
    except EnvError as e:
        status, error = "env_error", str(e)
    except Exception as e:  # noqa: BLE001 - an env bug ends only this episode, recorded with its cause
        status, error = "env_error", f"{type(e).__name__}: {e}"
    return {
        "id": record_id(task.task_id, sample_index),
        "conversations": messages_to_conversations(messages),
        "env": task.env_id,
        "task_id": task.task_id,
        "split": task.split,
        "seed": task.seed,
        "sample_index": sample_index,
        "reward": reward,
        "success": success,
        "status": status,
        "turns": turns,
        "invalid_actions": invalid,
        "error": error,
        "duration_s": round(time.monotonic() - started, 4),
        "policy": policy.describe(),
        "schema_version": SCHEMA_VERSION,
    }
