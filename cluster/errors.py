"""Errors raised by the CLI, the config loader and the job entrypoints."""

from __future__ import annotations


class ClusterError(Exception):
    """Base class for errors of the ``cluster`` package."""


class ConfigError(ClusterError):
    """A config file or override is invalid. Holds every problem found, not just the first."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        if len(problems) == 1:  # one line: the file, the key or line, what to do
            super().__init__(f"{source}: {problems[0]}")
        else:
            lines = "\n".join(f"  - {p}" for p in problems)
            super().__init__(f"{source}: {len(problems)} problems in the config:\n{lines}")
