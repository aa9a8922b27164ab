"""Grading, as AgentBench's dbbench grades.

SELECT tasks compare the agent's final answer list with the label: when both hold one
value, as floats if both parse as numbers (plain ``float()``: "3" equals "3.0", but
"1,000" and "12%" are not numbers and compare as strings), else as strings; with
several values, as sets of strings.

Modifying tasks compare a hash of the whole table after the episode with the hash
after the gold statement. AgentBench computes it in MySQL:

    SELECT MD5(GROUP_CONCAT(rowhash ORDER BY rowhash)) FROM
      (SELECT SUBSTRING(MD5(CONCAT_WS(',', col1, col2, ...)), 1, 5) AS rowhash FROM t) AS sub

``table_md5`` reproduces it in Python: CONCAT_WS skips NULLs, GROUP_CONCAT joins with
',' in sorted order and truncates to MySQL's default ``group_concat_max_len`` (1024
bytes), and an empty table hashes to NULL (None). AgentBench creates every column as
TEXT, so values hash as the text they hold; typed columns (generated tasks) render
numbers the way MySQL prints them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

GROUP_CONCAT_MAX_LEN = 1024  # MySQL's default group_concat_max_len, in bytes


def parse_answer_list(text: str) -> list[Any]:
    """The values of a ``Final Answer:`` (the text after the colon), parsed leniently.

    A JSON or Python literal list is taken as is; a lone literal becomes a one-element
    list; text with a list inside ("[3] rows") uses that list; anything else is one
    string, as AgentBench does when ``eval`` fails. Unlike AgentBench we never ``eval``.
    """
    text = text.strip()
    first_line = text.splitlines()[0].strip() if text else ""
    candidates = [first_line, text]
    if "[" in text and "]" in text:
        candidates.append(text[text.index("[") : text.rindex("]") + 1])
    for candidate in candidates:
        value = _literal(candidate)
        if value is not None:
            return list(value) if isinstance(value, list | tuple) else [value]
    return [first_line]


def answers_match(answer: Sequence[Any], label: Sequence[str]) -> bool:
    """AgentBench's comparison of a SELECT answer with its label (see the module docstring)."""
    if len(answer) == 1 and len(label) == 1:
        number, expected = _as_float(answer[0]), _as_float(label[0])
        if number is not None and expected is not None:
            return number == expected
        return _as_text(answer[0]) == label[0]
    return {_as_text(value) for value in answer} == set(label)


def mysql_text(value: Any) -> str | None:
    """How MySQL's CONCAT_WS renders a stored value (None for NULL, which CONCAT_WS skips)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        # MySQL prints a DOUBLE with the shortest round-trip digits and no trailing ".0".
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def table_md5(rows: Iterable[Sequence[Any]]) -> str | None:
    """AgentBench's MD5 of a table (rows in declared column order); None for an empty table, like MySQL."""
    row_hashes = sorted(
        _md5(",".join(text for value in row if (text := mysql_text(value)) is not None))[:5] for row in rows
    )
    if not row_hashes:
        return None
    joined = ",".join(row_hashes).encode()[:GROUP_CONCAT_MAX_LEN]
    return hashlib.md5(joined).hexdigest()


def _concat_ws(separator: str, row: Sequence[Any]) -> str:
    """MySQL's CONCAT_WS: the non-NULL values joined by the separator."""
    return separator.join(text for value in row if (text := mysql_text(value)) is not None)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _literal(text: str) -> Any:
    """``text`` as a JSON or Python literal, or None when it is neither."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _as_float(value: Any) -> float | None:
    if not isinstance(value, str | int | float):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
