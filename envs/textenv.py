"""Pieces every agenttune text env shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from envs.base import Task
from envs.errors import EnvsError, TaskFormatError
from envs.spaces import UnicodeText

WHERE = "reset(options={'task': ...})"
MAX_TEXT_CHARS = 100_000  # far above any prompt or reply; bounds space.sample() cost


def given_task(given: Any, env_id: str, payload_problems: Callable[[dict[str, Any]], list[str]]) -> Task:
    """The task passed to ``reset(options={"task": ...})``, checked: a Task or its dict, of this env,
    with a well-formed payload. Anything else is a ``TaskFormatError`` that says what is wrong."""
    try:
        task = given if isinstance(given, Task) else Task.from_dict(given)
    except (KeyError, TypeError, AttributeError) as error:
        raise TaskFormatError(WHERE, f"expected a Task or a task dict ({error!r} missing or wrong)") from error
    if task.env_id != env_id:
        raise TaskFormatError(WHERE, f"task {task.task_id} belongs to {task.env_id!r}, not {env_id!r}")
    if problems := payload_problems(task.payload):
        raise TaskFormatError(WHERE, f"task {task.task_id} has a malformed payload: " + "; ".join(problems))
    return task


def init_text_env(env: Any, env_id: str, split: str, max_turns: int, splits: Iterable[str]) -> None:
    """Check ``split`` and ``max_turns`` and give ``env`` its text spaces: the start of every env's __init__."""
    splits = sorted(splits)
    if split not in splits:
        raise EnvsError(f"{env_id}: split must be one of {splits}, got {split!r}")
    if max_turns < 1:
        raise EnvsError(f"{env_id}: max_turns must be positive, got {max_turns}")
    env.split = split
    env.max_turns = max_turns
    env.observation_space = UnicodeText(MAX_TEXT_CHARS, min_length=1)
    env.action_space = UnicodeText(MAX_TEXT_CHARS)
