"""Reading the agent's reply: one ``Action: Operation`` with SQL, one ``Action: Answer``, or a malformed reply.

Like AgentBench, the first ``Action:`` line decides, only the first ```sql block is
used and its lines are joined into one; a reply with a ``Final Answer:`` but no
``Action:`` line counts as an answer. We are more lenient about case and spacing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACTION = re.compile(r"\bAction:[ \t]*([A-Za-z_]+)", re.IGNORECASE)
_SQL_BLOCK = re.compile(r"```[ \t]*sql[ \t]*\n?(.*?)```", re.IGNORECASE | re.DOTALL)
_FINAL_ANSWER = re.compile(r"Final Answer:[ \t]*(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Operation:
    sql: str


@dataclass(frozen=True)
class Answer:
    text: str  # everything after "Final Answer:"


@dataclass(frozen=True)
class Invalid:
    reason: str


Action = Operation | Answer | Invalid


def parse_action(reply: str) -> Action:
    action = _ACTION.search(reply)
    if action is None:
        if answer := _FINAL_ANSWER.search(reply):
            return Answer(answer.group(1).strip())
        if _SQL_BLOCK.search(reply):
            return Invalid("the ```sql block must come after a line 'Action: Operation'.")
        return Invalid("no 'Action: Operation' or 'Action: Answer' line was found.")
    kind = action.group(1).lower()
    if kind == "operation":
        return _operation(reply[action.end() :])
    if kind == "answer":
        answer = _FINAL_ANSWER.search(reply, action.end())
        if answer is None:
            return Invalid("'Action: Answer' must be followed by a line 'Final Answer: [...]'.")
        return Answer(answer.group(1).strip())
    return Invalid(f"unknown action {action.group(1)!r}; the actions are 'Operation' and 'Answer'.")


def _operation(rest: str) -> Action:
    block = _SQL_BLOCK.search(rest)
    if block is None:
        return Invalid("'Action: Operation' must be followed by a ```sql code block holding one statement.")
    # AgentBench joins the block's lines, so a statement wrapped over several lines still runs.
    sql = " ".join(block.group(1).splitlines()).strip()
    if not sql.rstrip("; \t"):
        return Invalid("the ```sql code block is empty; put one SQL statement in it.")
    return Operation(sql)
