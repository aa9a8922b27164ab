"""The episode loop: one policy, one environment, one task -> one trajectory record.

Plain functions, tested without Ray: ``arun_episode`` is the coroutine a rollout actor
runs hundreds of at once on its event loop; ``run_episode`` is its blocking form.
Nothing here raises for an agent's mistake or an infrastructure fault: every way an
episode can end becomes a record with an AgentBench-style ``status``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import gymnasium as gym

from envs.base import Task
from envs.errors import EnvError
from rollouts.errors import PolicyError
from rollouts.policies.base import Message, Policy
from rollouts.records import episode_record, messages_to_conversations


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
    """Play ``task`` to the end and return its trajectory record (blocking; see ``arun_episode``)."""
    # A private loop and thread: an env step that outlives the timeout keeps its thread, and
    # ``asyncio.run`` would wait for that thread on exit; this returns at the deadline instead.
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="episode-env")
    try:
        return loop.run_until_complete(
            arun_episode(
                env,
                policy,
                task,
                sample_index=sample_index,
                max_turns=max_turns,
                timeout_s=timeout_s,
                seed=seed,
                env_executor=pool,
            )
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        loop.close()


async def arun_episode(
    env: gym.Env,
    policy: Policy,
    task: Task,
    *,
    sample_index: int = 0,
    max_turns: int | None = None,
    timeout_s: float | None = None,
    seed: int | None = None,
    env_executor: Executor | None = None,
) -> dict[str, Any]:
    """Play ``task`` to the end and return its trajectory record.

    The policy is awaited (``Policy.aact``: HTTP policies are natively async, local ones run
    in a thread) and every env call runs on ``env_executor`` (default: the loop's), so
    hundreds of episodes share one event loop. ``max_turns`` caps the agent's turns (None:
    the env's own cap). ``timeout_s`` bounds the whole episode, including a policy call or
    an env step that hangs: the episode then ends with status ``timeout`` at the deadline,
    and the caller must not reuse an env whose step may still be running.
    """
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    messages: list[Message] = []
    fixed = 0  # the opening's turns: its assistant turns are fixed text, not the policy's (loss: false)
    lineage: dict[str, Any] | None = None  # what the env says it ran on (the OS env: its task image's digest)
    reward, success, turns, invalid = 0.0, False, 0, 0
    status, error = "task_limit_reached", None
    info: dict[str, Any] = {}

    async def env_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await loop.run_in_executor(env_executor, functools.partial(fn, *args, **kwargs))

    with policy.episode() as acting:  # a served policy keeps an episode's turns on one replica
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                obs, info = await env_call(env.reset, seed=seed, options={"task": task})
                messages += opening_messages(obs, info)
                fixed = len(messages)
                lineage = info.get("lineage") if isinstance(info.get("lineage"), dict) else None
                while True:
                    if max_turns is not None and turns >= max_turns:
                        status = "agent_invalid_action" if info.get("invalid_action") else "task_limit_reached"
                        break
                    try:
                        reply = await acting.aact(messages, task=task)
                    except ContextLimitError as e:
                        status, error = "context_limit_exceeded", str(e)
                        break
                    except Exception as e:  # noqa: BLE001 - any policy failure ends only this episode
                        status, error = "agent_error", f"{type(e).__name__}: {e}"
                        break
                    messages.append({"role": "assistant", "content": reply})
                    turns += 1
                    obs, step_reward, terminated, truncated, info = await env_call(env.step, reply)
                    reward += float(step_reward)
                    invalid += bool(info.get("invalid_action"))
                    if terminated:
                        status, success = "completed", bool(info.get("success", reward >= 1.0))
                        break
                    if truncated:
                        status = "agent_invalid_action" if info.get("invalid_action") else "task_limit_reached"
                        break
                    messages.append({"role": "user", "content": obs})
        except TimeoutError as e:
            if deadline.expired():
                status, error, success = "timeout", f"episode exceeded {timeout_s:g} s after {turns} turns", False
            else:  # raised by the env itself, not our deadline
                status, error = "env_error", f"TimeoutError: {e}"
        except EnvError as e:
            status, error = "env_error", str(e)
        except Exception as e:  # noqa: BLE001 - an env bug ends only this episode, recorded with its cause
            status, error = "env_error", f"{type(e).__name__}: {e}"
    return episode_record(
        task.to_dict(),
        sample_index,
        policy=policy.describe(),
        status=status,
        conversations=messages_to_conversations(messages, fixed=fixed),
        reward=reward,
        success=success,
        turns=turns,
        invalid_actions=invalid,
        error=error,
        duration_s=round(time.monotonic() - started, 4),
        lineage=lineage,
    )


def opening_messages(observation: str, info: dict[str, Any]) -> list[Message]:
    """How an episode opens in chat turns: the env's ``opening_turns`` (AgentInstruct's instruction,
    acknowledgement, one-shot example and task turns; see ``envs.textenv.Opening.turns``) when it gives
    well-formed ones, else the first observation as one user turn (any gymnasium text env)."""
    turns = info.get("opening_turns")
    well_formed = (
        isinstance(turns, list)
        and turns
        and all(isinstance(t, dict) and t.get("role") in ("user", "assistant") for t in turns)
        and all(isinstance(t.get("content"), str) for t in turns)
        and turns[-1]["role"] == "user"
    )
    if not well_formed:
        return [{"role": "user", "content": observation}]
    return [{"role": t["role"], "content": t["content"]} for t in turns]
