"""The scripted oracle for DB tasks: it knows the gold SQL and the label.

It is a pure function of the task and the conversation so far: while no assistant
turn has run the gold statement it runs it; after that it answers with the label
(``["none"]`` for modifying tasks, whose answer text AgentBench ignores). A task
without gold SQL is answered at once.
"""

from __future__ import annotations

import json
import re

from envs.base import Task

_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$")  # no leading zeros: "007" stays text
_THOUGHTS = {
    "filtering": "I need to look up the matching rows in `{table}`, so I will select them with a WHERE clause.",
    "counting": "I need to count the rows of `{table}` that satisfy the condition, so I will use COUNT(*).",
    "aggregation-SUM": "I need the total of a column in `{table}`, so I will add it up with SUM.",
    "aggregation-AVG": "I need the average of a column in `{table}`, so I will compute it with AVG.",
    "aggregation-MAX": "I need the largest value of a column in `{table}`, so I will use MAX.",
    "aggregation-MIN": "I need the smallest value of a column in `{table}`, so I will use MIN.",
    "ranking": "I need to rank the rows of `{table}` by a column, so I will sort them and keep the top ones.",
    "comparison": "I need to compare two rows of `{table}` on one column, so I will sort just those two.",
    "INSERT": "I need to add the new row to `{table}` with an INSERT statement.",
    "UPDATE": "I need to change the matching rows of `{table}` with an UPDATE statement.",
    "DELETE": "I need to remove the matching rows from `{table}` with a DELETE statement.",
}
_DEFAULT_THOUGHT = "I need to query `{table}` to find the answer."


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: run the gold SQL once, then give the final answer."""
    payload = task.payload
    gold_sql = payload.get("gold_sql")
    if gold_sql and not _already_ran(messages):
        thought = _THOUGHTS.get(payload["category"], _DEFAULT_THOUGHT).format(table=payload["table"]["name"])
        one_line = " ".join(gold_sql.splitlines()).strip()
        return f"{thought}\nAction: Operation\n```sql\n{one_line}\n```"
    if payload["kind"] == "select":
        thought = "The result answers the question, so I can commit my answer."
        return f"{thought}\nAction: Answer\nFinal Answer: {format_answer(payload['label'])}"
    thought = "The statement ran, so the table is now changed as asked."
    return f'{thought}\nAction: Answer\nFinal Answer: ["none"]'


def format_answer(label: list[str]) -> str:
    """The label as a Final Answer list; a lone number is written bare, as in AgentInstruct ("[42]")."""
    if len(label) == 1 and _NUMBER.match(label[0]):
        return f"[{label[0]}]"
    return json.dumps(label, ensure_ascii=False)


def _already_ran(messages: list[dict[str, str]]) -> bool:
    return any(m.get("role") == "assistant" and "Action: Operation" in m.get("content", "") for m in messages)
