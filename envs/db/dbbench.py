"""Loader for AgentBench's dbbench task files (JSON Lines, one task per line).

A record holds ``description`` (the question), ``add_description`` (the table's name
and headers), ``table`` ({table_name, table_info: {columns, rows}}), ``type`` (a
one-element list: "INSERT", "UPDATE", "DELETE", or a SELECT category such as
"counting" or "other") and ``label``. For SELECT tasks ``label`` is the answer list
and ``sql.query`` the gold statement; for modifying tasks ``label`` holds the gold
statement and ``answer_md5`` the expected table hash, written as MySQL's response
``"[('<hex>',)]"``.

AgentBench creates every column as TEXT whatever type the record declares, so the
payload's columns are TEXT (the declared type is kept as ``declared_type``) and the
table hashes of ``answer_md5`` come out the same.

    python -c "from envs.db.dbbench import load_dbbench; print(len(load_dbbench('dbbench_dev.jsonl')))"
    loaded = load_dbbench("standard.jsonl", on_bad_task="skip")   # loaded.tasks, loaded.bad (line, reason)
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from envs.base import BadTask, LoadedTasks, OnBadTask, Task
from envs.db.payload import ENV_ID, DBPayload, Kind, payload_problems
from envs.errors import TaskFormatError

_MODIFYING: dict[str, Kind] = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}
_HEX_DIGEST = re.compile(r"^[0-9a-f]{32}$")


def load_dbbench(path: str | Path, *, on_bad_task: OnBadTask = "error") -> LoadedTasks:
    """The tasks of a dbbench JSONL file, with ids like ``dbbench-dev-0007`` (file stem + record position).

    A malformed record is a ``BadTask`` (its line and what is wrong) that ``on_bad_task="skip"`` leaves out and
    ``"error"`` raises as ``TaskFormatError``. AgentBench's own ``standard.jsonl`` holds two (rows that do not
    fit their tables; AgentBench fails them when it inserts the rows), so its 298 others must still load. A file
    that cannot be read, or holds no valid task, raises either way.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise TaskFormatError(path, f"cannot read the file ({error.strerror}); check the path") from error
    prefix = _id_prefix(path)
    tasks, bad = [], []
    records = [(line_number, line) for line_number, line in enumerate(lines, start=1) if line.strip()]
    # Ids count records, bad ones included, so fixing or breaking one record never renames the tasks after it.
    for index, (line_number, line) in enumerate(records):
        try:
            payload = _payload(_json(line, path, line_number), path, line_number)
        except TaskFormatError as error:
            bad.append(BadTask(str(path), index, line_number, error.problem))
            continue
        tasks.append(Task(f"{prefix}-{index:04d}", ENV_ID, "external", None, dict(payload)))
    return LoadedTasks(ENV_ID, str(path), tasks, bad).checked(on_bad_task)


def _json(line: str, path: Path, line_number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        problem = f"not valid JSON ({error.msg} at column {error.colno})"
        raise TaskFormatError(path, problem, line=line_number) from error


def _id_prefix(path: Path) -> str:
    stem = path.stem.replace("_", "-").lower()
    return stem if stem.startswith("dbbench") else f"dbbench-{stem}"


def _payload(record: Any, path: Path, line: int) -> DBPayload:
    if not isinstance(record, dict):
        raise TaskFormatError(path, f"expected a JSON object, got {type(record).__name__}", line=line)
    problems = []
    for key in ("description", "label", "table", "type"):
        if key not in record:
            problems.append(f"missing key {key!r}")
    kinds = record.get("type")
    if not (isinstance(kinds, list) and kinds and isinstance(kinds[0], str)):
        problems.append(f"'type' must be a non-empty list of strings, got {kinds!r}")
    if problems:
        raise TaskFormatError(path, "; ".join(problems), line=line)
    category = kinds[0]
    kind: Kind = _MODIFYING.get(category, "select")
    table = _table(record["table"], path, line)
    label = record["label"]
    if kind == "select":
        gold_sql = (record.get("sql") or {}).get("query") if isinstance(record.get("sql"), dict) else None
        answer_md5 = None
        label = [str(value) for value in label] if isinstance(label, list) else label
    else:
        if not (isinstance(label, list) and len(label) == 1 and isinstance(label[0], str)):
            raise TaskFormatError(path, f"'label' of a {category} task must hold the gold statement", line=line)
        gold_sql, label = label[0], []
        answer_md5 = _answer_md5(record.get("answer_md5"), path, line)
    description = record.get("add_description")
    payload: DBPayload = {
        "question": record["description"],
        "description": description if isinstance(description, str) else "",
        "kind": kind,
        "category": category,
        "table": table,
        "gold_sql": gold_sql,
        "label": label,
        "answer_md5": answer_md5,
        "source": "dbbench",
    }
    if problems := payload_problems(payload):
        raise TaskFormatError(path, "; ".join(problems), line=line)
    return payload


def _table(table: Any, path: Path, line: int) -> Any:
    """The record's table in payload form; structure problems are reported by ``payload_problems``."""
    if not isinstance(table, dict) or not isinstance(table.get("table_info"), dict):
        raise TaskFormatError(path, "'table' must be {table_name, table_info: {columns, rows}}", line=line)
    info = table["table_info"]
    columns = info.get("columns")
    if isinstance(columns, list) and all(isinstance(column, dict) for column in columns):
        columns = [{"name": c.get("name"), "type": "TEXT", "declared_type": c.get("type")} for c in columns]
    rows = info.get("rows")
    if isinstance(rows, list):
        # AgentBench inserts every value as a string into TEXT columns.
        rows = [[_as_text(value) for value in row] if isinstance(row, list) else row for row in rows]
    return {"name": table.get("table_name"), "columns": columns, "rows": rows}


def _as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _answer_md5(raw: Any, path: Path, line: int) -> str | None:
    """The hex digest inside MySQL's response text "[('<hex>',)]" (None when the expected table is empty)."""
    try:
        value = ast.literal_eval(raw) if isinstance(raw, str) and raw.startswith("[") else raw
        digest = value[0][0] if isinstance(value, list) else value
    except (ValueError, SyntaxError, IndexError, TypeError) as error:
        raise TaskFormatError(path, f"'answer_md5' is not MySQL's \"[('<hex>',)]\": {raw!r}", line=line) from error
    if digest is None or (isinstance(digest, str) and _HEX_DIGEST.match(digest)):
        return digest
    raise TaskFormatError(path, f"'answer_md5' must hold a 32-digit hex MD5, got {raw!r}", line=line)
