"""Pack several tokenized samples into each training sequence.

    for seq in pack(rows, seq_len=4096): ...   # seq: input_ids, labels, position_ids, source_ids

Position ids restart at 0 for every sample; with ``attention_mask=None`` transformers
reads those restarts as sample boundaries and builds a block-diagonal causal mask,
so no sample attends to another (``transformers.masking_utils.find_packed_sequence_indices``).
The first label of each sample is masked, so no sample is asked to predict its first
token from the previous sample's last one.

Samples are packed window by window (first-fit decreasing), so memory stays bounded on
any corpus size while sequences come out nearly full.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100
SOURCES = {"agent": 0, "general": 1}


@dataclass
class Bin:
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    source_ids: list[int] = field(default_factory=list)
    samples: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def add(self, row: dict[str, Any]) -> None:
        ids = list(row["input_ids"])
        labels = list(row["labels"])
        if labels:
            labels[0] = IGNORE
        self.input_ids += ids
        self.labels += labels
        self.position_ids += range(len(ids))
        self.source_ids += [SOURCES.get(row.get("source", "general"), 1)] * len(ids)
        self.samples += 1

    def as_row(self) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids,
            "labels": self.labels,
            "position_ids": self.position_ids,
            "source_ids": self.source_ids,
            "samples": self.samples,
        }


def pack(rows: Iterable[dict[str, Any]], seq_len: int, window: int = 1024) -> Iterator[dict[str, Any]]:
    """Yield packed sequences of at most ``seq_len`` tokens (longer samples are cut to ``seq_len``).

    Each window of ``window`` samples is packed first-fit-decreasing: longest samples first, each into
    the first sequence with room. Within a window that is close to optimal; only its last sequences
    are partly empty.
    """
    buf: list[dict[str, Any]] = []
    for row in rows:
        if len(row["input_ids"]):
            buf.append(row)
        if len(buf) == window:
            yield from _first_fit_decreasing(buf, seq_len)
            buf = []
    yield from _first_fit_decreasing(buf, seq_len)


def _first_fit_decreasing(rows: list[dict[str, Any]], seq_len: int) -> Iterator[dict[str, Any]]:
    bins: list[Bin] = []
    for row in sorted(rows, key=lambda r: len(r["input_ids"]), reverse=True):
        n = min(len(row["input_ids"]), seq_len)
        if n < len(row["input_ids"]):
            row = {**row, "input_ids": list(row["input_ids"])[:n], "labels": list(row["labels"])[:n]}
        target = next((b for b in bins if len(b) + n <= seq_len), None)
        if target is None:
            target = Bin()
            bins.append(target)
        target.add(row)
    for b in bins:
        yield b.as_row()


def occupancy(sequences: Iterable[dict[str, Any]], width: int) -> float:
    """Share of real (non-pad) tokens when every sequence is padded to ``width``."""
    sequences = list(sequences)
    return sum(len(s["input_ids"]) for s in sequences) / max(1, width * len(sequences))
