"""Pieces every agenttune text env shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envs.base import Task
from envs.errors import TaskFormatError

WHERE = "reset(options={'task': ...})"


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
