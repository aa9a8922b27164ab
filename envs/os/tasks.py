"""OS task payloads, and the loader for AgentBench's OS task files (JSON list, JSON object, or JSONL).

A payload is plain data (it travels in a ``Task``). A *script* is ``{"language": "bash"|"python", "code": ...}``
or ``{"builtin": "integer-match"}`` (a standard checker, see ``checkers``); ``None`` in a check chain stands
for the example solution, as in AgentBench:

    {"description": str, "init": [script, ...], "start": script | None,
     "match": {"answer": str, "strip": bool} | {"regex": str} | None,   # exactly one of match / check
     "check": [script | None, ...] | None, "example": script | None,
     "labels": [str, ...], "missing_scripts": [str, ...],             # files that scripts_dir lacked
     "not_runnable": str}                      # only when set: why it cannot run offline (``network_need``)

    tasks = load_os_tasks("../shared/data/agentbench/os_dev.json", scripts_dir=None)
    loaded = load_os_tasks("tasks.json", on_bad_task="skip")   # loaded.tasks, loaded.bad (record or line, reason)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.base import BadTask, LoadedTasks, OnBadTask, Task
from envs.errors import TaskFormatError
from envs.os.checkers import builtin_name

ENV_ID = "agenttune/OS-v0"


def load_os_tasks(
    path: str | Path, scripts_dir: str | Path | None = None, *, on_bad_task: OnBadTask = "error"
) -> LoadedTasks:
    """Read AgentBench OS tasks; script files are read from ``scripts_dir`` (the standard checkers are built in).

    Ids are ``os-<stem>-00007``: the file stem and the record's position. A record that is not a valid task is a
    ``BadTask`` (its JSONL line or its record index, and what is wrong) that ``on_bad_task="skip"`` leaves out and
    ``"error"`` raises as ``TaskFormatError``; a file that cannot be read or parsed, or holds no valid task, raises
    either way. A task whose scripts cannot be found still loads, with their names in
    ``payload["missing_scripts"]``; the env refuses to run it and says why.
    """
    path = Path(path)
    scripts = Path(scripts_dir) if scripts_dir else None
    tasks, bad = [], []
    # Ids count records, bad ones included, so fixing or breaking one record never renames the tasks after it.
    for index, (line, item) in enumerate(_records(path)):
        payload, reason = (None, item.problem) if isinstance(item, _BadJSON) else _payload_or_reason(item, scripts)
        if payload is None:
            bad.append(BadTask(str(path), index, line, reason or "not a task"))
        else:
            tasks.append(Task(f"os-{path.stem}-{index:05d}", ENV_ID, "external", None, payload))
    return LoadedTasks(ENV_ID, str(path), tasks, bad).checked(on_bad_task)


@dataclass(frozen=True)
class _BadJSON:
    """A JSONL line that does not parse: a bad record, not a bad file."""

    problem: str


def _payload_or_reason(item: Any, scripts_dir: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """The task's payload, or None and why it is not a task the env could run."""
    try:
        payload = _payload(item, scripts_dir)
    except KeyError as error:
        return None, f"missing key {error.args[0]!r}"
    except (TypeError, ValueError) as error:
        return None, str(error)
    problems = payload_problems(payload)
    return (None, "; ".join(problems)) if problems else (payload, None)


def _records(path: Path) -> list[tuple[int | None, Any]]:
    """(line, record) pairs: JSONL records with their line numbers; a JSON list's or object's with None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TaskFormatError(path, f"cannot read the file ({error.strerror}); check the path") from error
    if path.suffix == ".jsonl":
        return [(number, _json_line(line)) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        problem = f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); nothing could be loaded"
        raise TaskFormatError(path, problem) from error
    return [(None, item) for item in (raw if isinstance(raw, list) else [raw])]


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        return _BadJSON(f"not valid JSON ({error.msg} at column {error.colno})")


def _payload(item: dict[str, Any], scripts_dir: Path | None) -> dict[str, Any]:
    missing: list[str] = []

    def script(obj: Any) -> dict[str, str] | None:
        if obj is None:
            return None
        if isinstance(obj, str):
            return {"language": "bash", "code": obj}
        if not isinstance(obj, dict):
            raise TypeError(f"a script must be a string or an object, got {type(obj).__name__}")
        language = obj.get("language", "bash")
        if "code" in obj:
            return {"language": language, "code": obj["code"]}
        if "file" not in obj:
            raise ValueError(f"a script needs 'code' or 'file', got {sorted(obj)}")
        if builtin := builtin_name(obj["file"]):
            return {"builtin": builtin}
        file = scripts_dir / obj["file"] if scripts_dir else None
        if file is None or not file.is_file():
            missing.append(obj["file"])
            return {"language": language, "file": obj["file"]}
        return {"language": language, "code": file.read_text(encoding="utf-8")}

    if not isinstance(item, dict):
        raise TypeError(f"expected a JSON object, got {type(item).__name__}")
    create = item.get("create")
    init = create.get("init") if isinstance(create, dict) else None  # AgentBench ignores a list "create"
    evaluation = item["evaluation"]
    if not isinstance(evaluation, dict):
        raise TypeError(f"'evaluation' must be an object with 'match' or 'check', got {type(evaluation).__name__}")
    payload: dict[str, Any] = {
        "description": str(item["description"]),
        "init": [script(s) for s in (init if isinstance(init, list) else [init])] if init is not None else [],
        "start": script(item.get("start")),
        "match": None,
        "check": None,
        "example": None,
        "labels": list(item.get("labels", [])),
    }
    if "match" in evaluation:
        match = evaluation["match"]
        payload["match"] = {"answer": match, "strip": True} if isinstance(match, str) else dict(match)
    elif "check" in evaluation:
        check = evaluation["check"]
        payload["check"] = [script(s) for s in (check if isinstance(check, list) else [check])]
        if "example" in evaluation:  # AgentBench reads the example only beside a check
            payload["example"] = script(evaluation["example"])
    else:
        raise ValueError("the evaluation needs 'match' or 'check'")
    payload["init"] = [s for s in payload["init"] if s is not None]
    payload["missing_scripts"] = missing
    if reason := network_need(payload, item):
        payload["not_runnable"] = reason
    elif missing:
        payload["not_runnable"] = "needs script files that were not found (pass scripts_dir=)"
    return payload


# What a set-up or an example solution does that needs the network (sandboxes have none): (reason, pattern).
_NETWORK = [
    ("needs the network: apt", re.compile(r"\bapt(-get)?\s+(-\S+\s+)*(install|update|upgrade)\b")),
    ("needs the network: pip install", re.compile(r"\bpip3?\s+install\b(?![^\n]*--no-index)")),
    ("needs the network: npm install", re.compile(r"\bnpm\s+(i|install)\b")),
    ("needs the network: git clone", re.compile(r"\bgit\s+clone\s+(\S+\s+)*?(https?://|git://|ssh://|git@)")),
    ("needs the network: download", re.compile(r"\b(curl|wget)\b[^\n]*\b(https?|ftp)://(?!(localhost|127\.))")),
]


def network_need(payload: dict[str, Any], item: dict[str, Any] | None = None) -> str | None:
    """Why the task cannot run offline: marked so in its record (``"network": true`` or the label "network"), or
    its set-up (init, start) or example solution installs or downloads something; None when it can."""
    if item is not None and (item.get("network") is True or "network" in item.get("labels", [])):
        return "needs the network: marked in the task file"
    scripts = [*payload["init"], payload.get("start"), payload.get("example")]
    for script in scripts:
        code = script.get("code", "") if isinstance(script, dict) else ""
        for reason, pattern in _NETWORK:
            if pattern.search(code):
                return reason
    return None


def payload_problems(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["the payload must be a dict"]
    problems = [f"missing {key!r}" for key in ("description", "init", "match", "check") if key not in payload]
    if not problems and (payload["match"] is None) == (payload["check"] is None):
        problems.append("exactly one of 'match' and 'check' must be set")
    if not problems and payload["check"] and None in payload["check"] and not payload.get("example"):
        problems.append("the check chain uses the example solution (null), but the task has no 'example'")
    return problems
