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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from envs.errors import TaskFormatError

Split = Literal["train", "test", "external"]
Role = Literal["held_in", "held_out"]
OnBadTask = Literal["skip", "error"]


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


@dataclass(frozen=True)
class BadTask:
    """A record of a task file that is not a playable task, and why: loaders skip it and report it.

    ``index`` is the record's position among the file's records, counted from 0 like the number in task ids (the
    task at index 7 is ``...-0007``; blank lines are not records). ``line`` is the file line it is on, counted from 1
    like editors do, for line-based files (JSONL); None for the records of a JSON array or object.
    """

    source: str
    index: int
    line: int | None
    reason: str

    @property
    def where(self) -> str:
        """Where to look, for messages: "standard.jsonl line 57" or "os_dev.json record 7"."""
        name = Path(self.source).name
        return f"{name} line {self.line}" if self.line is not None else f"{name} record {self.index}"

    def to_dict(self) -> dict[str, Any]:
        """``{"file", "line" | "record", "reason"}``: a JSONL line number, or a JSON array's record index."""
        place = {"line": self.line} if self.line is not None else {"record": self.index}
        return {"file": self.source, **place, "reason": self.reason}

    def error(self) -> TaskFormatError:
        """The error a strict load raises for this record."""
        if self.line is not None:
            return TaskFormatError(self.source, self.reason, line=self.line)
        return TaskFormatError(self.source, f"record {self.index}: {self.reason}")


@dataclass(frozen=True)
class LoadedTasks(Sequence[Task]):
    """The good tasks of a task file (or a generated split), and the bad records that were skipped.

    It reads as the sequence of its good tasks (``len``, indexing, iteration), so code that treated a loader's
    list of tasks keeps working; ``bad`` is what that code would not see.
    """

    env_id: str
    source: str  # the file's path, or "generated:<split>"
    tasks: list[Task]
    bad: list[BadTask] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    @overload
    def __getitem__(self, index: int) -> Task: ...
    @overload
    def __getitem__(self, index: slice) -> list[Task]: ...
    def __getitem__(self, index: int | slice) -> Task | list[Task]:
        return self.tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def window(self, start: int, n: int) -> LoadedTasks:
        """Records ``start`` .. ``start + n - 1`` by position in the file: their good tasks and their bad records.

        Positions, not good-task counts, so a window names the same tasks (the ids in it) whether or not a
        record before it is bad.
        """
        bad_at = {b.index for b in self.bad}
        positions = [p for p in range(len(self.tasks) + len(self.bad)) if p not in bad_at]
        inside = range(start, start + n)
        tasks = [task for task, position in zip(self.tasks, positions, strict=True) if position in inside]
        return LoadedTasks(self.env_id, self.source, tasks, [b for b in self.bad if b.index in inside])

    def checked(self, on_bad_task: OnBadTask) -> LoadedTasks:
        """``self``, or ``TaskFormatError`` for its first bad record when ``on_bad_task`` is "error", or when the
        file holds no good task at all (nothing to run is never what the caller wanted)."""
        if self.bad and on_bad_task == "error":
            raise self.bad[0].error()
        if not self.tasks:
            found = "no records"
            if self.bad:
                count = f"{len(self.bad)} bad record" + ("s" if len(self.bad) > 1 else "")
                found = f"{count}, the first at {self.bad[0].where}: {self.bad[0].reason}"
            raise TaskFormatError(self.source, f"holds no valid task ({found}); is it the right file?")
        return self

    def bad_report(self) -> list[dict[str, Any]]:
        """The bad records as report entries: ``{"env", "file", "line" | "record", "reason"}``."""
        return [{"env": self.env_id, **b.to_dict()} for b in self.bad]


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
    # For external task files: (path, *, on_bad_task) -> LoadedTasks; it skips and reports bad records with
    # "skip" and raises TaskFormatError at the first with "error" (see LoadedTasks.checked).
    load_tasks: Callable[..., LoadedTasks] | None = None
    task_counts: dict[str, int | None] = field(default_factory=dict)  # split -> size (None: unbounded)
    sandboxed: bool = False  # runs agent commands in envs.sandbox; takes a ``sandbox="bwrap"|"none"`` kwarg
    # The number the paper reports for the task, averaged over episodes: the success rate, or the mean reward
    # where the reward is the task's own graded score (WebShop's attribute match, KG's answer F1).
    headline: Literal["success_rate", "reward"] = "success_rate"
