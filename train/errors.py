"""Errors raised by the train stage (data loading, tokenization, training, export)."""

from __future__ import annotations

from pathlib import Path


class TrainError(Exception):
    """Base class for train-stage errors."""


class DataFormatError(TrainError):
    """A data file or one of its records does not match a supported format.

    ``path`` and ``line`` are None when the record was checked on its own (``to_canonical``); the reader fills
    them in. ``line`` is 1-based: a line of a JSONL file, or the record number in a JSON list or Parquet file
    (``unit`` says which). ``reason`` is a short key used to count skipped records.
    """

    def __init__(
        self,
        path: str | Path | None,
        line: int | None,
        message: str,
        *,
        reason: str = "invalid_record",
        unit: str = "line",
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.message = message
        self.reason = reason
        self.unit = unit
        where = self.path or ""
        if line is not None:
            where = f"{where}, {unit} {line}" if where else f"{unit} {line}"
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, path: str | Path, line: int | None, unit: str) -> DataFormatError:
        """The same error, located in a file (the loaders call this when re-raising)."""
        return DataFormatError(path, line, self.message, reason=self.reason, unit=unit)


class MaskingError(TrainError):
    """A conversation could not be rendered with the chat template or its assistant turns not located."""


class CheckpointError(TrainError):
    """A model checkpoint directory is incomplete or was built with different settings."""
