"""Train under the plain ``deepspeed`` launcher instead of Ray Train: the baseline of bench/train_throughput.py.

    DS_ACCELERATOR=cpu OMP_NUM_THREADS=1 .venv/bin/deepspeed --num_gpus 2 --no_local_rank --module train.launcher \\
        --train-config train.json --model runs/x/base_model --data runs/x/mix/packed --out steps.jsonl

Each process builds the same engine and runs the same ``train_step`` as a Ray Train worker
(``train/loop.py``); only the process start (the launcher's environment instead of Ray's worker group)
and the data feed differ: here every rank reads the Parquet rows into memory and takes its contiguous
share, instead of streaming its shard from Ray Data. Rank 0 appends one JSON line per step
(wall-clock ``time`` plus the step's metrics) to ``--out``. No checkpoints, no MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from train.batches import collate_arrow
from train.config import TrainConfig
from train.errors import TrainError
from train.loop import build_engine, train_step
from train.mfu import peak_tflops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-config", required=True, help="a JSON file holding a TrainConfig")
    ap.add_argument("--model", required=True, help="a Hugging Face checkpoint directory")
    ap.add_argument("--data", required=True, help="a directory of Parquet rows (a mix's packed/ or samples/)")
    ap.add_argument("--out", required=True, help="rank 0 appends one JSON line of metrics per step here")
    ap.add_argument("--pad-to", type=int, default=None, help="pad every row to this width (default: longest)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--local_rank", type=int, help=argparse.SUPPRESS)  # passed unless --no_local_rank; unused
    args = ap.parse_args()
    cfg = TrainConfig.model_validate_json(Path(args.train_config).read_text())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    engine, scheduler, tokenizer, ds_cfg = build_engine(cfg, args.model, seed=args.seed, rank=rank)
    table = shard(read_rows(args.data), rank, world)
    batches = micro_batches(table, cfg.micro_batch_size, tokenizer.pad_token_id, width=args.pad_to)
    peak = peak_tflops(cfg.peak_tflops_per_worker, cfg.use_gpu)
    for step in range(cfg.steps):
        metrics = train_step(engine, scheduler, batches, accum=ds_cfg["gradient_accumulation_steps"], peak_tflops=peak)
        if rank == 0:
            with open(args.out, "a") as f:
                f.write(json.dumps({"step": step + 1, "time": time.time(), **metrics}) + "\n")


STEP_LOG_ENV = "AGENTTUNE_STEP_LOG"


def stamp_step(*, step: int, rank: int, world: int, resumed: bool) -> None:
    """A ``train.loop.fit`` step hook: rank 0 appends ``{"step", "time"}`` to the file named by
    ``$AGENTTUNE_STEP_LOG``, stamped right after the step as ``main`` stamps the launcher's steps, so the
    bench times both paths with the same clock at the same point."""
    if rank == 0 and (path := os.environ.get(STEP_LOG_ENV)):
        with open(path, "a") as f:
            f.write(json.dumps({"step": step, "time": time.time()}) + "\n")


def read_rows(data_dir: str | Path) -> Any:
    """All rows of a directory of Parquet files, as one Arrow table."""
    import pyarrow.parquet as pq

    return pq.read_table(str(data_dir))


def shard(table: Any, rank: int, world: int) -> Any:
    """This rank's contiguous share of equal size: what Ray Data's equal split gives each worker when the rows
    are one block, so both paths train on the same rows in the same order."""
    n = table.num_rows // world
    return table.slice(rank * n, n)


def micro_batches(table: Any, size: int, pad_id: int, width: int | None) -> Iterator[dict[str, Any]]:
    """Endless collated micro-batches of ``size`` rows, in order, dropping a short last one each pass."""
    usable = table.num_rows - table.num_rows % size
    if usable == 0:
        raise TrainError(f"{table.num_rows} rows per rank cannot fill a micro-batch of {size}: give --data more rows")
    while True:
        for i in range(0, usable, size):
            yield collate_arrow(table.slice(i, size), pad_id, width=width)


if __name__ == "__main__":
    main()
