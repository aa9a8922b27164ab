"""AgentBench's standard OS checkers, built in: ``checker(answer, expected) -> bool``.

AgentBench runs them as ``python3 check/<name>.py ANSWER EXPECTED`` and passes when the exit status is 0
(an exception, e.g. ``int("abc")``, is a failure). The semantics are theirs; the one deviation is that
``size-match`` accepts decimal sizes ("8.0K", as ``du -h`` prints them), where AgentBench's ``int()`` would
raise and fail even its own example solution.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def _norm(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def integer_match(answer: str, expected: str) -> bool:
    try:
        return int(answer) == int(expected)
    except ValueError:
        return False


def string_match(answer: str, expected: str) -> bool:
    return _norm(answer) == _norm(expected)


def containing(answer: str, expected: str) -> bool:
    return _norm(expected) in _norm(answer)


def in_(answer: str, expected: str) -> bool:
    return _norm(answer) in _norm(expected)


_UNITS = {"B": 1, "BYTE": 1, "K": 1 << 10, "KB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "G": 1 << 30, "GB": 1 << 30}
_UNITS |= {"T": 1 << 40, "TB": 1 << 40, "P": 1 << 50, "PB": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int | None:
    match = _SIZE.match(text)
    if match is None or match.group(2).upper() not in {"", *_UNITS}:
        return None
    return int(float(match.group(1)) * _UNITS.get(match.group(2).upper(), 1))


def size_match(answer: str, expected: str) -> bool:
    mine, theirs = parse_size(answer), parse_size(expected)
    return mine is not None and mine == theirs


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "integer-match": integer_match,
    "string-match": string_match,
    "size-match": size_match,
    "containing": containing,
    "in": in_,
}


def builtin_name(file: str) -> str | None:
    """The built-in checker a script path names ("check/integer-match.py" -> "integer-match"), if any."""
    stem = file.rsplit("/", 1)[-1].removesuffix(".py")
    return stem if stem in CHECKERS else None
