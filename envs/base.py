"""The contract every agenttune environment follows.

An environment is a gymnasium ``Env`` whose observations and actions are text. A
``Task`` is one problem instance (a question over a database, a shell chore, ...);
it is plain data, so it can be generated, written to JSON, shipped to a Ray actor
and graded again later.

    env = gymnasium.make("agenttune/DB-v0")
    obs, info = env.reset(seed=0, options={"task": task})   # obs: the first user turn
    obs, reward, terminated, truncated, info = env.step("Thought ... Action: ...")

``terminated`` means the task ended (solved or failed), ``truncated`` that the turn
cap was hit. A malformed action is an observation (``info["invalid_action"]`` is
True), never an exception; only infrastructure faults raise ``envs.errors.EnvError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["train", "test", "external"]
Role = Literal["held_in", "held_out"]


@dataclass(frozen=True)
class Task:
    """One problem instance.

    ``payload`` holds the env-specific problem and its gold solution (for DB: the
    question, the table, the gold SQL and the label). ``seed`` is the generator seed
    for generated tasks and ``None`` for tasks loaded from a file.
    """

    task_id: str
    env_id: str
    split: Split
    seed: int | None
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "env_id": self.env_id,
            "split": self.split,
            "seed": self.seed,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        return cls(d["task_id"], d["env_id"], d["split"], d.get("seed"), dict(d.get("payload") or {}))


# An oracle maps (task, conversation so far as OpenAI-style messages) to the next
# assistant message: a short thought, then one action. It is a pure function so
# that the scripted policy needs no per-episode state.
Oracle = Callable[[Task, list[dict[str, str]]], str]


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows about one environment."""

    id: str
    role: Role
    max_turns: int
    entry_point: str
    description: str
    generate_tasks: Callable[[Split, int, int], list[Task]]  # (split, n, start) -> tasks
    oracle: Oracle
    load_tasks: Callable[[str], list[Task]] | None = None  # (path) -> tasks, for external task files
    task_counts: dict[str, int | None] = field(default_factory=dict)  # split -> size (None: unbounded)
    sandboxed: bool = False  # runs agent commands in envs.sandbox; takes a ``sandbox="bwrap"|"none"`` kwarg
