"""Trajectory records and their files.

One finished episode is one record (see ARCHITECTURE.md, "Records"): an AgentInstruct
style ``conversations`` list plus the episode's metadata. Records are appended to a
JSONL file as episodes finish, so a crash loses at most the line being written, and a
rerun can skip what is already there.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from rollouts.errors import RolloutError

SCHEMA_VERSION = 1

Status = Literal[
    "completed",
    "agent_invalid_action",
    "task_limit_reached",
    "context_limit_exceeded",
    "agent_error",
    "env_error",
    "timeout",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


def record_id(task_id: str, sample_index: int) -> str:
    return f"{task_id}-s{sample_index}"


def env_metric_key(env_id: str) -> str:
    """``agenttune/DB-v0`` -> ``agenttune_DB-v0``: an env id inside an MLflow metric name, where '/' separates."""
    return env_id.replace("/", "_")


def episode_record(
    task: dict[str, Any],
    sample_index: int,
    *,
    policy: dict[str, Any],
    status: str,
    conversations: list[dict[str, Any]] | None = None,
    reward: float = 0.0,
    success: bool = False,
    turns: int = 0,
    invalid_actions: int = 0,
    error: str | None = None,
    duration_s: float = 0.0,
    lineage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of one episode (see ARCHITECTURE.md, "Records"); ``task`` is a ``Task.to_dict()``.

    With the defaults it is the record of an episode that could not be played (an actor that kept dying,
    an env that could not be built): counted with its status and error, never lost.
    """
    return {
        "id": record_id(task["task_id"], sample_index),
        "conversations": conversations or [],
        "env": task["env_id"],
        "task_id": task["task_id"],
        "split": task["split"],
        "seed": task.get("seed"),
        "sample_index": sample_index,
        "reward": reward,
        "success": success,
        "status": status,
        "turns": turns,
        "invalid_actions": invalid_actions,
        "error": error,
        "duration_s": duration_s,
        "policy": policy,
        "lineage": lineage,  # what the env ran on ({"sandbox_image": digest} for the OS env); None if it says nothing
        "schema_version": SCHEMA_VERSION,
    }


def messages_to_conversations(messages: list[dict[str, str]], *, fixed: int = 0) -> list[dict[str, Any]]:
    """OpenAI-style messages -> AgentInstruct turns: the policy's ``gpt`` turns are trained on (``loss: true``).

    The first ``fixed`` messages are the env's opening; its assistant turns (the acknowledgement, a one-shot
    example's replies) are fixed text and get ``loss: false``, as in the released AgentInstruct.
    """
    out = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            out.append({"from": "gpt", "value": m["content"], "loss": i >= fixed})
        elif m["role"] == "system":
            out.append({"from": "system", "value": m["content"], "loss": None})
        else:
            out.append({"from": "human", "value": m["content"], "loss": None})
    return out


class JsonlWriter:
    """Appends records to a JSONL file, one flushed line per record.

    Opening an existing file drops a trailing partial line (a crash mid-write) and
    counts it in ``self.repaired_lines`` so nothing is lost silently.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_lines = _truncate_partial_line(self.path)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        try:
            self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._f.flush()
        except OSError as e:  # a full disk: say which file (a rerun repairs the cut line and resumes)
            raise OSError(e.errno, e.strerror, str(self.path)) from e

    def close(self) -> None:
        if self._f.closed:
            return
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.path)) from e
        finally:
            with contextlib.suppress(OSError):  # what did not fit stays unwritten; the rerun repairs the line
                self._f.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_partial_line(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return 0
        cut = data.rfind(b"\n") + 1
        f.truncate(cut)
    return 1


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield records; a line that is not JSON is an error naming the file and line."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise RolloutError(f"{path}:{lineno}: not a JSON record ({e.msg}); fix or delete that line") from e


@contextlib.contextmanager
def atomic_text_file(path: str | Path) -> Iterator[TextIO]:
    """A text file to write, made in a temp file beside ``path`` and renamed into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:  # a full disk: nothing half-written stays, and the error names the file
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write JSON to a temp file beside ``path`` and rename it into place."""
    with atomic_text_file(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
    return Path(path)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write one JSON record per line through a temp file beside ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except OSError as e:  # a full disk: nothing half-written stays, and the error names the file
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sample_records(records: Iterable[dict[str, Any]], per_group: int = 3) -> list[dict[str, Any]]:
    """A small, stable sample to eyeball: up to ``per_group`` records per (env, status, success).

    Failures are what a reader wants to see next to successes, so every kind of ending of every
    env is represented; within a group the records with the smallest ids are taken.
    """
    groups: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for rec in records:
        group = groups.setdefault((rec["env"], rec["status"], bool(rec["success"])), [])
        group.append(rec)
        if len(group) > 4 * per_group:  # bound memory on big files; keep the smallest ids
            group.sort(key=lambda r: r["id"])
            del group[per_group:]
    return [r for key in sorted(groups) for r in sorted(groups[key], key=lambda r: r["id"])[:per_group]]


def write_parquet_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write records to Parquet (nested fields as JSON strings) through a temp file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in records]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    os.replace(tmp, path)
    return path
