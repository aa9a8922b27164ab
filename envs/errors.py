"""Errors raised by the ``envs`` package.

Every error derives from ``EnvsError`` so a caller can catch the package's faults in
one place. An agent's mistakes are never errors: they are observations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class EnvsError(Exception):
    """Base class of every error raised by ``envs``."""


class UnknownEnvError(EnvsError, LookupError):
    """An environment id that no registered spec answers to."""

    def __init__(self, env_id: str, known: Iterable[str], aliases: Iterable[str] = ()) -> None:
        self.env_id = env_id
        self.known = sorted(known)
        # Match case-insensitively ("db-v1" should suggest "agenttune/DB-v0"), then show the spelling we know.
        by_lower = {name.lower(): name for name in [*aliases, *self.known]}
        close = difflib.get_close_matches(env_id.lower(), list(by_lower), n=1, cutoff=0.5)
        hint = f" Did you mean {by_lower[close[0]]!r}?" if close else ""
        listing = ", ".join(self.known) or "(none registered: import envs first)"
        super().__init__(f"unknown environment {env_id!r}.{hint} Known environments: {listing}.")


class TaskFormatError(EnvsError, ValueError):
    """A task file or task record that does not have the expected shape."""

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None) -> None:
        self.source = str(source)
        self.line = line
        self.problem = problem
        where = f"{self.source}, line {line}" if line is not None else self.source
        super().__init__(f"{where}: {problem}")


class EnvError(EnvsError, RuntimeError):
    """An infrastructure fault inside an environment (not the agent's fault), e.g. the database failed to build."""
