"""Reading the agent's reply: ``Action: Search[entity]``, ``Action: Lookup[keyword]`` or ``Action: Finish[answer]``.

The first ``Action:`` line decides (ReAct's numbered ``Action 2:`` works too); the
argument runs to the last ``]`` on that line, so answers may contain brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACTION = re.compile(r"^[ \t]*Action(?:[ \t]*\d+)?[ \t]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_CALL = re.compile(r"^([A-Za-z_]+)[ \t]*\[(.*)\][ \t.]*$")
KINDS = ("search", "lookup", "finish")


@dataclass(frozen=True)
class Call:
    kind: str  # one of KINDS
    argument: str


@dataclass(frozen=True)
class Invalid:
    reason: str


def parse_action(reply: str) -> Call | Invalid:
    line = _ACTION.search(reply)
    if line is None:
        return Invalid("no 'Action:' line was found.")
    text = line.group(1).strip()
    call = _CALL.match(text)
    if call is None:
        return Invalid(f"{text[:80]!r} is not of the form Search[...], Lookup[...] or Finish[...].")
    kind, argument = call.group(1).lower(), call.group(2).strip()
    if kind not in KINDS:
        return Invalid(f"unknown action {call.group(1)!r}; the actions are Search, Lookup and Finish.")
    if not argument:
        return Invalid(f"{call.group(1)}[] is empty; put the {_WHAT[kind]} between the brackets.")
    return Call(kind, argument)


_WHAT = {"search": "entity to search for", "lookup": "keyword to look up", "finish": "answer"}
