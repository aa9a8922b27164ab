"""Pack several tokenized samples into each training sequence.

    for seq in pack(rows, seq_len=4096): ...   # seq: input_ids, labels, position_ids, source_ids, samples
    packed = pack_table(table, seq_len=4096)   # the same, columnar: an Arrow table in, an Arrow table out

Position ids restart at 0 for every sample; with ``attention_mask=None`` transformers
reads those restarts as sample boundaries and builds a block-diagonal causal mask,
so no sample attends to another (``transformers.masking_utils.find_packed_sequence_indices``).
The first label of each sample is masked, so no sample is asked to predict its first
token from the previous sample's last one.

Samples are packed window by window (first-fit decreasing), so memory stays bounded on
any corpus size while sequences come out nearly full. ``pack`` and ``pack_table`` place
samples identically (one bin assignment, ``assign_bins``); the mix stage uses the columnar
one, which gathers token arrays with numpy instead of building Python lists per token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from train.masking import IGNORE_INDEX as IGNORE

SOURCES = {"agent": 0, "general": 1}


def pack(rows: Iterable[dict[str, Any]], seq_len: int, window: int = 1024) -> Iterator[dict[str, Any]]:
    """Yield packed sequences of at most ``seq_len`` tokens (longer samples are cut to ``seq_len``).

    Each window of ``window`` non-empty samples is packed first-fit-decreasing: longest samples first, each into
    the first sequence with room. Within a window that is close to optimal; only its last sequences are partly
    empty.
    """
    buf: list[dict[str, Any]] = []
    for row in rows:
        if len(row["input_ids"]):
            buf.append(row)
        if len(buf) == window:
            yield from _pack_window(buf, seq_len)
            buf = []
    yield from _pack_window(buf, seq_len)


def assign_bins(lengths: Sequence[int], seq_len: int) -> list[list[int]]:
    """First-fit decreasing: for each sequence, the indices of its samples in the order they are laid out.

    Samples are taken longest first (ties in input order), each cut to ``seq_len`` and put into the first
    sequence with room for it.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)  # stable: ties keep input order
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = min(lengths[i], seq_len)
        b = next((b for b, free in enumerate(room) if free >= n), len(bins))
        if b == len(bins):
            bins.append([])
            room.append(seq_len)
        bins[b].append(i)
        room[b] -= n
    return bins


def _pack_window(rows: list[dict[str, Any]], seq_len: int) -> Iterator[dict[str, Any]]:
    for members in assign_bins([len(r["input_ids"]) for r in rows], seq_len):
        seq: dict[str, Any] = {"input_ids": [], "labels": [], "position_ids": [], "source_ids": []}
        for i in members:
            n = min(len(rows[i]["input_ids"]), seq_len)
            labels = list(rows[i]["labels"][:n])
            labels[0] = IGNORE
            seq["input_ids"] += list(rows[i]["input_ids"][:n])
            seq["labels"] += labels
            seq["position_ids"] += range(n)
            seq["source_ids"] += [SOURCES.get(rows[i].get("source", "general"), 1)] * n
        seq["samples"] = len(members)
        yield seq


def pack_table(table: pa.Table, seq_len: int, window: int = 1024) -> pa.Table:
    """``pack`` for an Arrow table of samples (``input_ids``, ``labels``, optional ``source``).

    Returns one row per sequence: ``input_ids``, ``labels``, ``position_ids`` (list<int32>), ``source_ids``
    (list<int8>) and ``samples`` (int32), the same sequences ``pack`` yields for ``table.to_pylist()``.
    """
    ids = _list_column(table, "input_ids")
    labels = _list_column(table, "labels")
    lengths = np.diff(ids.offsets.to_numpy())
    if not np.array_equal(lengths, np.diff(labels.offsets.to_numpy())):
        raise ValueError("every sample needs as many labels as input_ids")
    if "source" in table.column_names:
        names = table.column("source").to_pylist()
        sources = np.array([SOURCES.get(s or "general", 1) for s in names], dtype=np.int8)
    else:
        sources = np.full(len(lengths), SOURCES["general"], dtype=np.int8)
    kept = np.flatnonzero(lengths)  # empty samples hold nothing to train on
    members: list[np.ndarray] = []
    for start in range(0, len(kept), window):
        rows = kept[start : start + window]
        members += [rows[m] for m in assign_bins(lengths[rows].tolist(), seq_len)]
    order = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
    n = np.minimum(lengths[order], seq_len)
    # Every output token's place in its sample: sample k of ``order`` contributes its first n[k] tokens.
    out_starts = np.cumsum(n) - n
    position_ids = np.arange(int(n.sum())) - np.repeat(out_starts, n)
    new_ids = _gather(ids, order, n, position_ids)
    new_labels = _gather(labels, order, n, position_ids)
    new_labels[out_starts] = IGNORE
    first = np.cumsum([0] + [len(m) for m in members[:-1]])  # each sequence's first sample in ``order``
    seq_tokens = np.add.reduceat(n, first) if members else np.zeros(0, dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(seq_tokens)]).astype(np.int32))
    return pa.table(
        {
            "input_ids": pa.ListArray.from_arrays(offsets, pa.array(new_ids.astype(np.int32))),
            "labels": pa.ListArray.from_arrays(offsets, pa.array(new_labels.astype(np.int32))),
            "position_ids": pa.ListArray.from_arrays(offsets, pa.array(position_ids.astype(np.int32))),
            "source_ids": pa.ListArray.from_arrays(offsets, pa.array(np.repeat(sources[order], n))),
            "samples": pa.array([len(m) for m in members], pa.int32()),
        }
    )


def _gather(column: pa.ListArray, order: np.ndarray, n: np.ndarray, position_ids: np.ndarray) -> np.ndarray:
    """The first ``n[k]`` values of list ``order[k]`` for every k, concatenated."""
    return column.values.to_numpy()[np.repeat(column.offsets.to_numpy()[order], n) + position_ids]


def _list_column(table: pa.Table, name: str) -> pa.ListArray:
    column = table.column(name).combine_chunks()
    if isinstance(column, pa.ChunkedArray):  # an empty table combines to an empty chunked array
        column = pa.array([], column.type)
    return column


def occupancy(sequences: Iterable[dict[str, Any]], width: int) -> float:
    """Share of real (non-pad) tokens when every sequence is padded to ``width``."""
    sequences = list(sequences)
    return sum(len(s["input_ids"]) for s in sequences) / max(1, width * len(sequences))
