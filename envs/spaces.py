"""The observation and action space every agenttune text env uses."""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces

_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n\tàéîõüßñçøåÄÉÖÜ–’"


class UnicodeText(spaces.Text):
    """A text space holding any Unicode string within the length bounds.

    ``spaces.Text`` only holds strings drawn from its charset; listing all of Unicode
    there would cost megabytes per env, and real task text has any character. Sampling
    still draws from a small charset.
    """

    def __init__(self, max_length: int, *, min_length: int = 0) -> None:
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET)

    def contains(self, x: Any) -> bool:
        if not isinstance(x, str) or not self.min_length <= len(x) <= self.max_length:
            return False
        try:
            x.encode("utf-8")  # lone surrogates cannot reach a model or a file
        except UnicodeEncodeError:
            return False
        return True
