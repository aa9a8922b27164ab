"""OS task payloads, and the loader for AgentBench's OS task files (JSON list, JSON object, or JSONL).

A payload is plain data (it travels in a ``Task``). A *script* is ``{"language": "bash"|"python", "code": ...}``
or ``{"builtin": "integer-match"}`` (a standard checker, see ``checkers``); ``None`` in a check chain stands
for the example solution, as in AgentBench:

    {"description": str, "init": [script, ...], "start": script | None,
     "match": {"answer": str, "strip": bool} | {"regex": str} | None,   # exactly one of match / check
     "check": [script | None, ...] | None, "example": script | None,
     "labels": [str, ...], "missing_scripts": [str, ...]}             # files that scripts_dir lacked

    tasks = load_os_tasks("../shared/data/agentbench/os_dev.json", scripts_dir=None)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.base import Task
from envs.errors import TaskFormatError
from envs.os.checkers import builtin_name

ENV_ID = "agenttune/OS-v0"


def load_os_tasks(path: str | Path, scripts_dir: str | Path | None = None) -> list[Task]:
    """Read AgentBench OS tasks; script files are read from ``scripts_dir`` (the standard checkers are built in).

    A task whose scripts cannot be found still loads, with their names in ``payload["missing_scripts"]``;
    the env refuses to run it and says why.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if path.suffix == ".jsonl"
            else json.loads(text)
        )
    except (OSError, json.JSONDecodeError) as error:
        raise TaskFormatError(path, f"cannot read AgentBench OS tasks: {error}") from error
    items = raw if isinstance(raw, list) else [raw]
    tasks = []
    for index, item in enumerate(items):
        try:
            payload = _payload(item, Path(scripts_dir) if scripts_dir else None)
        except (KeyError, TypeError, ValueError) as error:
            raise TaskFormatError(path, f"task {index}: {error}") from error
        tasks.append(Task(f"os-{path.stem}-{index:05d}", ENV_ID, "external", None, payload))
    return tasks


def _payload(item: dict[str, Any], scripts_dir: Path | None) -> dict[str, Any]:
    missing: list[str] = []

    def script(obj: Any) -> dict[str, str] | None:
        if obj is None:
            return None
        if isinstance(obj, str):
            return {"language": "bash", "code": obj}
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

    create = item.get("create")
    init = create.get("init") if isinstance(create, dict) else None  # AgentBench ignores a list "create"
    evaluation = item["evaluation"]
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
    return payload


def payload_problems(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["the payload must be a dict"]
    problems = [f"missing {key!r}" for key in ("description", "init", "match", "check") if key not in payload]
    if not problems and (payload["match"] is None) == (payload["check"] is None):
        problems.append("exactly one of 'match' and 'check' must be set")
    if not problems and payload["check"] and None in payload["check"] and not payload.get("example"):
        problems.append("the check chain uses the example solution (null), but the task has no 'example'")
    return problems
