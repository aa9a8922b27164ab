"""Mix agent trajectories with general instruction data (Ray Data), tokenize, mask, write Parquet.

    report = build_mix(agent, general, eta=0.2, num_samples=2000 * 64, tokenizer_path=..., seq_len=4096,
                       out_dir="runs/x/mix", seed=0)

The small agent set is repeated (a fresh shuffle each pass) until it fills its share
eta of ``num_samples``, as the paper upsamples AgentInstruct; the general set fills
the rest. ``Dataset.mix`` interleaves the two at the target weights and a seeded
shuffle spreads them within the stream. Each row is then tokenized with the model's
chat template and a loss mask over assistant turns. The achieved ratio is counted on
the written rows, not assumed.
"""

from __future__ import annotations

import functools
import json
import math
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import ray
import ray.data
from ray.data import MixStoppingCondition

from train.errors import TrainError
from train.masking import IGNORE_INDEX
from train.packing import pack_table

SAMPLES, PACKED = "samples", "packed"
PACK_WINDOW = 1024  # samples packed together; larger windows fill sequences better
PACKED_FILL = 0.96  # share of a packed sequence's slots that hold tokens (measured 96-99.5%: README Performance)
# Rows per input block, and the most blocks per input. The random shuffle is all-to-all: it makes one object per
# (input block, output block) pair, so its cost grows with the square of the block count. Ray Data's default of
# 200 blocks per ``from_items`` gave 400 mixed blocks, 160,000 objects and 35 s of shuffle for 4,000 rows.
BLOCK_ROWS, MAX_BLOCKS = 4096, 16


@dataclass
class MixReport:
    num_samples: int
    eta: float
    rows: dict[str, int] = field(default_factory=dict)
    achieved_eta: float = 0.0
    tokens: int = 0
    loss_tokens: int = 0
    truncated: int = 0
    rows_without_loss_tokens: int = 0
    packed_rows: int = 0
    packing_efficiency: float = 0.0
    padding_efficiency: float = 0.0
    unique_agent_records: int = 0
    unique_general_records: int = 0
    agent_repeats: float = 0.0
    out_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def upsample(records: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` records drawn by whole shuffled passes over ``records`` (every record used equally often +-1)."""
    if not records:
        raise TrainError("cannot fill a share of the mix from an empty corpus")
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        order = list(records)
        rng.shuffle(order)
        out.extend(order[: n - len(out)])
    return out


def samples_for_rows(
    agent: list[dict[str, Any]],
    general: list[dict[str, Any]],
    *,
    eta: float,
    rows: int,
    tokenizer_path: str,
    seq_len: int,
    seed: int = 0,
    probe: int = 256,
) -> int:
    """How many samples fill ``rows`` packed sequences of ``seq_len`` tokens: the mix's mean sample length
    (tokens, cut at ``seq_len``), from up to ``probe`` records drawn at the mix's ratio.

    Training takes ``global_batch_size`` packed sequences a step; mixing only ``steps x global_batch_size``
    samples would pack into a fraction of that, and training would repeat them (or, on a short mix, leave a
    worker with no rows at all)."""
    from transformers import AutoTokenizer

    from train.masking import tokenize_conversation

    rng = random.Random(seed)
    n_agent = (round(probe * eta) if general else probe) if agent else 0
    n_general = probe - n_agent if general else 0
    drawn = [rng.choice(agent) for _ in range(n_agent)] + [rng.choice(general) for _ in range(n_general)]
    if not drawn:
        return rows
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    lengths = [len(tokenize_conversation(tokenizer, r["conversations"], seq_len)["input_ids"]) for r in drawn]
    mean = max(1.0, sum(lengths) / len(lengths))
    return max(rows, math.ceil(rows * seq_len * PACKED_FILL / mean))


def _from_rows(rows: list[dict[str, Any]]) -> ray.data.Dataset:
    blocks = min(MAX_BLOCKS, max(1, math.ceil(len(rows) / BLOCK_ROWS)))
    return ray.data.from_items(rows, override_num_blocks=blocks)


def _rows(records: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    # Conversations travel as JSON strings: Arrow would otherwise infer one struct type per
    # block and fail when a later block has a ``loss`` of another type.
    return [{"id": r["id"], "source": source, "conversations": json.dumps(r["conversations"])} for r in records]


class Tokenize:
    """Tokenize + mask a batch of mix rows with the tokenizer at ``tokenizer_path`` (loaded once, here)."""

    def __init__(self, tokenizer_path: str, seq_len: int):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        self.seq_len = seq_len

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        from train.masking import tokenize_conversations

        ids, labels, n_loss, truncated = [], [], [], []
        conversations = [json.loads(conv) for conv in batch["conversations"]]
        for out in tokenize_conversations(self.tokenizer, conversations, self.seq_len):
            ids.append(out["input_ids"])
            labels.append(out["labels"])
            n_loss.append(sum(1 for x in out["labels"] if x != IGNORE_INDEX))
            truncated.append(bool(out.get("truncated", False)))
        # Plain list<int32> columns (not Ray's tensor extension type) so any Parquet reader gets the lists.
        return pa.table(
            {
                "id": pa.array(batch["id"].tolist(), pa.string()),
                "source": pa.array(batch["source"].tolist(), pa.string()),
                "input_ids": pa.array(ids, pa.list_(pa.int32())),
                "labels": pa.array(labels, pa.list_(pa.int32())),
                "num_tokens": pa.array([len(x) for x in ids], pa.int64()),
                "num_loss_tokens": pa.array(n_loss, pa.int64()),
                "truncated": pa.array(truncated, pa.bool_()),
            }
        )


# Keyed by path: a worker process serves one Ray job, and within it the tokenizer at a path does not change.
@functools.lru_cache(maxsize=4)
def _tokenize_with(tokenizer_path: str, seq_len: int) -> Tokenize:
    return Tokenize(tokenizer_path, seq_len)


def tokenize_batch(batch: dict[str, np.ndarray], tokenizer_path: str, seq_len: int) -> pa.Table:
    """Ray Data UDF run as tasks: tokenize + mask a batch, loading the tokenizer once per worker process."""
    return _tokenize_with(tokenizer_path, seq_len)(batch)


def build_mix(
    agent: list[dict[str, Any]],
    general: list[dict[str, Any]],
    *,
    eta: float,
    num_samples: int,
    tokenizer_path: str,
    seq_len: int,
    out_dir: str | Path,
    seed: int = 0,
    packing: bool = True,
) -> MixReport:
    """Write the tokenized mix as Parquet under ``out_dir`` (atomically: a temp dir renamed).

    ``out_dir/samples/`` holds one row per sample; with ``packing``, ``out_dir/packed/`` holds the
    training sequences, several samples each. Packing happens here, not in the training loop, so that
    every worker consumes the same number of rows per step and Ray Data's split stays in lockstep.
    """
    if not 0 <= eta <= 1:
        raise TrainError(f"mix.eta must be in [0, 1], got {eta}")
    n_agent = round(eta * num_samples) if eta < 1 else num_samples
    n_agent = max(1, n_agent) if eta > 0 else 0  # eta 0: general data only (the paper's ablation arm)
    n_general = num_samples - n_agent
    if n_general and not general:
        raise TrainError("mix.general: no general records, but eta < 1 asks for them; add a corpus or set eta=1")
    if n_agent and not agent:
        raise TrainError("no agent records, but eta > 0 asks for them; keep some trajectories or set mix.eta=0")
    parts = []
    if n_agent:
        parts.append(_from_rows(_rows(upsample(agent, n_agent, seed), "agent")))
    if n_general:
        parts.append(_from_rows(_rows(upsample(general, n_general, seed + 1), "general")))
    ds = parts[0]
    if len(parts) == 2:
        ds = ds.mix(parts[1], weights=[eta, 1 - eta], stopping_condition=MixStoppingCondition.STOP_ON_SHORTEST)
    # Tasks, not an actor pool: tasks take any free CPU and give it back after each block. One actor left the
    # second CPU of a 2-CPU machine idle (1.5x slower end to end), and a pool as large as the machine holds every
    # CPU and starves the shuffle and the writes, which then never run.
    ds = ds.random_shuffle(seed=seed).map_batches(
        tokenize_batch, fn_kwargs={"tokenizer_path": tokenizer_path, "seq_len": seq_len}, batch_size=64
    )
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.write_parquet(str(tmp / SAMPLES))
    if packing:
        ray.data.read_parquet(str(tmp / SAMPLES), columns=["input_ids", "labels", "source"]).map_batches(
            Pack, fn_kwargs={"seq_len": seq_len}, batch_size=PACK_WINDOW, batch_format="pyarrow"
        ).write_parquet(str(tmp / PACKED))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    report = summarize_mix(out_dir, eta=eta, num_samples=num_samples, seq_len=seq_len)
    report.unique_agent_records, report.unique_general_records = len(agent), len(general)
    report.agent_repeats = n_agent / max(1, len(agent))
    return report


def Pack(batch: pa.Table, seq_len: int) -> pa.Table:  # noqa: N802 - a Ray Data UDF, named like a class
    """Ray Data UDF: pack one window of samples into training sequences."""
    return pack_table(batch, seq_len, window=PACK_WINDOW)


def training_dir(out_dir: str | Path) -> Path:
    """The rows training reads: packed sequences when the mix was packed, else samples."""
    out_dir = Path(out_dir)
    return out_dir / PACKED if (out_dir / PACKED).is_dir() else out_dir / SAMPLES


def summarize_mix(out_dir: str | Path, *, eta: float, num_samples: int, seq_len: int) -> MixReport:
    """Count what was actually written: rows per source, tokens, loss tokens, truncations, packing."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    table = pq.read_table(str(out_dir / SAMPLES), columns=["source", "num_tokens", "num_loss_tokens", "truncated"])
    sources = table.column("source").to_pylist()
    rows = {s: sources.count(s) for s in sorted(set(sources))}
    total = max(1, len(sources))
    return MixReport(
        num_samples=num_samples,
        eta=eta,
        rows=rows,
        achieved_eta=rows.get("agent", 0) / total,
        tokens=int(pc.sum(table.column("num_tokens")).as_py() or 0),
        loss_tokens=int(pc.sum(table.column("num_loss_tokens")).as_py() or 0),
        truncated=int(pc.sum(table.column("truncated").cast("int64")).as_py() or 0),
        # Such rows train nothing (all their assistant tokens were cut); counted so a too-short
        # seq_len shows up in the report instead of as a quietly wasted share of the batch.
        rows_without_loss_tokens=int(pc.sum(pc.equal(table.column("num_loss_tokens"), 0).cast("int64")).as_py() or 0),
        out_dir=str(out_dir),
        **_packing_stats(out_dir, seq_len, total, int(pc.sum(table.column("num_tokens")).as_py() or 0)),
    )


def _packing_stats(out_dir: Path, seq_len: int, samples: int, tokens: int) -> dict[str, Any]:
    """Real tokens over token slots: packed into ``seq_len`` sequences, and padded one sample per sequence."""
    import pyarrow.parquet as pq

    stats = {"padding_efficiency": tokens / max(1, samples * seq_len)}
    if (out_dir / PACKED).is_dir():
        rows = pq.read_table(str(out_dir / PACKED), columns=["samples"]).num_rows
        stats |= {"packed_rows": rows, "packing_efficiency": tokens / max(1, rows * seq_len)}
    return stats
