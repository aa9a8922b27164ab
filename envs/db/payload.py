"""The DB task payload: one schema for generated tasks and tasks loaded from AgentBench files.

    {
      "question": "How many employees work in the Sales department?",
      "description": "The name of this table is staff, and the headers of this table are name,department,...",
      "kind": "select",                  # select | insert | update | delete
      "category": "counting",            # AgentBench's type: filtering, counting, aggregation-SUM, ..., INSERT, ...
      "table": {"name": "staff", "columns": [{"name": "name", "type": "TEXT"}, ...], "rows": [["Ana Ruiz", ...]]},
      "gold_sql": "SELECT COUNT(*) FROM `staff` WHERE `department` = 'Sales'",   # or None
      "label": ["4"],                    # select answers, as strings; [] for modifying tasks
      "answer_md5": None,                # modifying tasks: table hash after the gold statement (grading.table_md5)
      "source": "generated",             # generated | dbbench
    }

Column types are SQL type names ("TEXT", "INTEGER", "REAL", "INT", "YEAR", ...); the
database maps them to SQLite affinities (``sqlite_exec.sqlite_type``). Everything is
JSON-serialisable because tasks cross process boundaries.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

ENV_ID = "agenttune/DB-v0"

Kind = Literal["select", "insert", "update", "delete"]
KINDS: tuple[Kind, ...] = ("select", "insert", "update", "delete")
MODIFYING_KINDS: tuple[Kind, ...] = ("insert", "update", "delete")


class ColumnDict(TypedDict):
    name: str
    type: str


class TableDict(TypedDict):
    name: str
    columns: list[ColumnDict]
    rows: list[list[Any]]


class DBPayload(TypedDict):
    question: str
    description: str
    kind: Kind
    category: str
    table: TableDict
    gold_sql: str | None
    label: list[str]
    answer_md5: str | None
    source: str


def table_description(table: TableDict) -> str:
    """The one-line table summary shown to the agent, in AgentBench's wording (a data format, not prose)."""
    headers = ",".join(column["name"] for column in table["columns"])
    return f"The name of this table is {table['name']}, and the headers of this table are {headers}."


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above, as 'key: what is wrong' lines (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected {kind.__name__}, got {type(payload.get(key)).__name__}"
        for key, kind in (("question", str), ("description", str), ("category", str), ("table", dict))
        if not isinstance(payload.get(key), kind)
    ]
    if payload.get("kind") not in KINDS:
        problems.append(f"kind: expected one of {list(KINDS)}, got {payload.get('kind')!r}")
    if isinstance(payload.get("table"), dict):
        problems += _table_problems(payload["table"])
    label = payload.get("label")
    if not isinstance(label, list) or not all(isinstance(value, str) for value in label):
        problems.append("label: expected a list of strings")
    if payload.get("kind") in MODIFYING_KINDS and not isinstance(payload.get("answer_md5"), str | None):
        problems.append("answer_md5: expected a hex string or null")
    if payload.get("kind") == "select" and not label:
        problems.append("label: a select task needs at least one answer")
    if not isinstance(payload.get("gold_sql"), str | None):
        problems.append("gold_sql: expected a string or null")
    return problems


def _table_problems(table: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(table.get("name"), str) or not table.get("name"):
        problems.append("table.name: expected a non-empty string")
    columns = table.get("columns")
    if not isinstance(columns, list) or not columns:
        return [*problems, "table.columns: expected a non-empty list of {name, type}"]
    for i, column in enumerate(columns):
        if not (
            isinstance(column, dict) and isinstance(column.get("name"), str) and isinstance(column.get("type"), str)
        ):
            problems.append(f"table.columns[{i}]: expected {{'name': str, 'type': str}}, got {column!r}")
    rows = table.get("rows")
    if not isinstance(rows, list):
        return [*problems, "table.rows: expected a list of rows"]
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            problems.append(f"table.rows[{i}]: expected a list of {len(columns)} values, got {row!r}"[:200])
        elif not all(value is None or isinstance(value, str | int | float) for value in row):
            problems.append(f"table.rows[{i}]: values must be strings, numbers or null")
    return problems
