"""Micro-batches for the training step: a worker's shard of the tokenized mix, collated into tensors.

    batches = shard_batches(shard, cfg, pad_id, in_memory=True)      # endless, for train_step
    batch = collate_arrow(table.slice(0, 2), pad_id)                  # input_ids, labels, source_ids, ...

Shared by Ray Train's workers (``train.loop``) and the plain launcher (``train.launcher``).
"""

from __future__ import annotations

from typing import Any

from train.config import TrainConfig
from train.errors import TrainError
from train.masking import IGNORE_INDEX as IGNORE
from train.packing import SOURCES


def shard_batches(shard: Any, cfg: TrainConfig, pad_id: int, *, in_memory: bool, cache_mb: int = 512) -> Any:
    """Endless micro-batches of ``micro_batch_size`` rows from this worker's shard.

    Rows are packed sequences when the mix was packed (they carry ``position_ids``). A small mix
    (``in_memory``: the driver materialized it) is read whole before the first step and replayed from
    memory, as Arrow: Ray Data's iterator threads then never share the worker's CPU with training
    (measured: ~2% of a step on a 2-CPU machine), and a new streaming epoch would cost seconds of
    coordination. A large mix streams; its first pass keeps the batches when the shard turns out to
    be small, and if every worker's shard fit, later passes replay from memory, else every worker
    streams again. Workers decide together: Ray Data's split needs all of them to start each epoch at once.
    """
    import torch
    import torch.distributed as dist

    micro = cfg.micro_batch_size
    empty = "this worker's data shard is empty: the mix has fewer rows than workers x micro batch"
    if in_memory:
        tables = list(shard.iter_batches(batch_size=micro, batch_format="pyarrow", drop_last=True))
        if not tables:
            raise TrainError(empty)
        while True:
            for b in tables:
                yield collate_arrow(b, pad_id)
    cache: list[Any] | None = []  # Arrow tables: about a seventh of the memory of the same rows as Python lists
    size = 0
    for b in shard.iter_batches(batch_size=micro, batch_format="pyarrow", drop_last=True):
        if cache is not None:
            cache.append(b)
            size += b.nbytes
            cache = cache if size <= cache_mb * 2**20 else None
        yield collate_arrow(b, pad_id)
    if cache == []:
        raise TrainError(empty)
    fits = torch.tensor([int(cache is not None)])
    dist.all_reduce(fits, op=dist.ReduceOp.MIN)
    while True:
        if fits.item():
            for b in cache:
                yield collate_arrow(b, pad_id)
        else:
            for b in shard.iter_batches(batch_size=micro, batch_format="pyarrow", drop_last=True):
                yield collate_arrow(b, pad_id)


def collate(rows: list[dict[str, Any]], pad_id: int, *, packed: bool, width: int | None = None) -> dict[str, Any]:
    """``collate_arrow`` for rows as dicts; ``packed`` rows must carry ``position_ids``."""
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    if packed != ("position_ids" in table.column_names):
        raise ValueError("packed rows carry position_ids, and only they do")
    return collate_arrow(table, pad_id, width=width)


def collate_arrow(batch: Any, pad_id: int, *, width: int | None = None) -> dict[str, Any]:
    """Tensors for a batch of rows (an Arrow table or record batch), padded on the right to the longest row
    (a multiple of 8) or to ``width``.

    Packed rows (with a ``position_ids`` column) get no attention mask, which transformers reads as sample
    boundaries; other rows get one. Source ids mark agent (0) and general (1) tokens, from a ``source_ids``
    column or each row's ``source``. Columnar, with no Python loop over rows or tokens: it runs inside
    every step's time.
    """
    import numpy as np
    import torch

    names = batch.column_names
    ids, lengths = _list_column(batch, "input_ids")
    n = len(lengths)
    width = max(width or 0, -(-int(lengths.max(initial=0)) // 8) * 8)  # multiples of 8 keep kernels fast
    column = torch.arange(width).expand(n, width)
    lengths_t = torch.from_numpy(lengths)[:, None]
    real = column < lengths_t

    def fill(values: Any, pad: int) -> Any:
        out = torch.full((n, width), pad, dtype=torch.long)
        out[real] = torch.from_numpy(values)
        return out

    if "source_ids" in names:
        sources = _list_column(batch, "source_ids")[0]
    else:
        per_row = batch.column("source").to_pylist() if "source" in names else ["general"] * n
        sources = np.repeat(np.array([SOURCES.get(s, 1) for s in per_row], dtype=np.int64), lengths)
    out = {
        "input_ids": fill(ids, pad_id),
        "labels": fill(_list_column(batch, "labels")[0], IGNORE),
        "source_ids": fill(sources, -1),
        "real_tokens": real.long(),
    }
    if "position_ids" in names:
        # The padding tail counts from 0 again: a "sample" of its own, never trained.
        out["position_ids"] = torch.where(real, fill(_list_column(batch, "position_ids")[0], 0), column - lengths_t)
    else:
        out["attention_mask"] = out["real_tokens"]
    return out


def _list_column(batch: Any, name: str) -> tuple[Any, Any]:
    """A list column's values, concatenated row after row (int64), and each row's length."""
    import numpy as np
    import pyarrow as pa

    col = batch.column(name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.int64)  # writable copies, for torch
    return values, col.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
