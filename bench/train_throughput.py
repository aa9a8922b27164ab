"""Training throughput: Ray Train against the plain ``deepspeed`` launcher, and packed against padded rows.

    .venv/bin/python bench/train_throughput.py [--steps 40 --warmup 5 --repeats 2 --seq-len 1024]

Both paths train the tiny Llama model (as in the tests) with DeepSpeed ZeRO-3 on 2 CPU workers, one
thread each, with the same DeepSpeed config and the same per-step code (``train.loop.train_step``):

* ray: ``train.loop.fit`` as the train stage runs it (TorchTrainer, data from Ray Data, metrics to a
  local MLflow store from rank 0, the final checkpoint through ``ray.train.report``);
* launcher: ``deepspeed --num_gpus 2 --module train.launcher`` (rows read from Parquet, no MLflow).

Data: the AgentInstruct DB split plus the general corpora of the shared data set, shuffled, tokenized
with the tiny tokenizer and the chat-template masks, cut to ``seq_len``; packed into ``seq_len`` rows
with ``train/packing.py``, or one sample per row padded to ``seq_len`` (the same samples).

Each worker trains on the same rows in the same order on both paths (a contiguous half of the packed
rows: Ray Data's equal split of one block; see ``train.launcher.shard``).

Throughput is steady state: real (non-pad) tokens of the steps after ``--warmup`` over the wall time
between the end of step ``warmup`` and the end of the last step, as stamped by rank 0 right after each
step (the MLflow metric timestamps on the Ray path), so anything a path does between steps counts.
The first steps pay for DeepSpeed's op builds and the first data reads, hence the warm-up.

On a shared 2-CPU machine other processes slow runs by as much as the effect measured, so the packed
runs repeat with the order of the paths alternating, the best run of each path counts, and the
table shows the load average. A second estimate, "fast", divides the mean tokens per step by the
first quartile of the step times of all runs of a path: contention only ever lengthens a step,
while a cost paid every step stays in.

Prints a table, then one JSON line: Ray Train's overhead over the launcher (1 - ray/launcher tokens/s,
best runs) and packed over padded real tokens/s (on the launcher path: the padded run against the
packed run just before it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
METRICS = (
    "train/tokens",
    "train/step_time_s",
    "train/data_wait_s",
    "train/cpu_time_s",
    "train/padding_share",
    "train/tflops_per_worker",
)
SOURCES = [SHARED / "agentinstruct" / "db.json", *sorted((SHARED / "general").glob("*.json"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=5, help="first steps left out of the rate")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=800, help="samples drawn from the shared corpora")
    ap.add_argument("--repeats", type=int, default=2, help="packed runs per path; the best counts")
    args = ap.parse_args()
    if args.steps - args.warmup < 2:
        ap.error("--steps must exceed --warmup by at least 2")
    missing = [str(p) for p in SOURCES if not p.exists()]
    if not (SHARED / "general").is_dir() or missing:
        sys.exit(f"shared data not found ({', '.join(missing) or SHARED / 'general'}): the bench reads ../shared/data")
    os.environ["DS_ACCELERATOR"] = "cpu"  # before anything imports deepspeed
    cfg = TrainConfig(
        steps=args.steps,
        global_batch_size=8,
        micro_batch_size=2,
        seq_len=args.seq_len,
        warmup_ratio=0.1,
        num_workers=2,
        cpus_per_worker=1,
        max_failures=0,
    )
    order = [("launcher", "packed"), ("ray", "packed"), ("launcher", "padded")]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in order}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        d = Path(tmp)
        model = tiny_model(d / "model")
        data = build_data(d, model, args.seq_len, args.samples)
        for r in range(args.repeats):  # the order alternates, so a busy spell of the machine hits both paths
            # Padded once, right after the first launcher run it is compared with: its gap to packed is wide.
            todo = [order[0], order[2], order[1]] if r == 0 else order[:2] if r % 2 == 0 else order[1::-1]
            for path, layout in todo:
                t0 = time.perf_counter()
                if path == "ray":
                    steps = ray_run(d, cfg, model, d / "mix")
                else:
                    pad_to = args.seq_len if layout == "padded" else None
                    steps = launcher_run(d, cfg, model, data[layout], pad_to=pad_to)
                runs[path, layout].append(steady_state(steps, args.warmup) | {"run_s": time.perf_counter() - t0})
                load.append(os.getloadavg()[0])
    best = {key: max(rs, key=lambda x: x["tokens_per_s"]) for key, rs in runs.items()}
    fast = {
        key: fast_rate([t for r in rs for t in r["tokens"]], [g for r in rs for g in r["gaps"]])
        for key, rs in runs.items()
    }
    print_table(runs, args, data["stats"], load)
    ray_rate, launcher_rate = best["ray", "packed"]["tokens_per_s"], best["launcher", "packed"]["tokens_per_s"]
    # Packed against padded: the padded run against the launcher run just before it, under the same load.
    packed_rate, padded_rate = (runs["launcher", layout][0]["tokens_per_s"] for layout in ("packed", "padded"))
    summary = {
        "ray_tokens_per_s": round(ray_rate, 1),
        "launcher_tokens_per_s": round(launcher_rate, 1),
        "overhead": round(1 - ray_rate / launcher_rate, 4),
        "packed_vs_padded": round(packed_rate / padded_rate, 3),
        "padded_tokens_per_s": round(padded_rate, 1),
        "fast_step_overhead": round(1 - fast["ray", "packed"] / fast["launcher", "packed"], 4),
        "fast_step_packed_vs_padded": round(fast["launcher", "packed"] / fast["launcher", "padded"], 3),
        "seq_len": args.seq_len,
        "measured_steps": args.steps - args.warmup,
        "repeats": args.repeats,
        "max_load_avg": round(max(load), 1),
    }
    print(json.dumps(summary))


# ----------------------------------------------------------------------------- data and model


def tiny_model(out: Path) -> Path:
    """The tests' tiny Llama (tests/conftest.py ``tiny_checkpoint``): 2 layers, width 64, 2048-token BPE."""
    import envs
    from train.corpus import generate_general_records
    from train.tiny import build_tiny_checkpoint

    texts = [t["value"] for r in generate_general_records(300, 0) for t in r["conversations"]]
    texts += [str(t.payload) for t in envs.generate_tasks("agenttune/DB-v0", "train", 30, start=50_000)]
    return build_tiny_checkpoint(out, corpus=texts, seed=0)


def build_data(d: Path, model: Path, seq_len: int, n: int) -> dict[str, Any]:
    """Write ``d/mix/packed`` (the Parquet layout the mix stage writes, which ``fit`` reads) and
    ``d/mix/samples`` (one sample per row) from the same ``n`` shuffled samples."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from train.formats import read_records
    from train.masking import tokenize_conversation
    from train.packing import pack

    records = [r for path in SOURCES for r in read_records(path)[0]]
    random.Random(0).shuffle(records)
    tokenizer = AutoTokenizer.from_pretrained(model)
    samples = []
    for r in records[:n]:
        out = tokenize_conversation(tokenizer, r["conversations"], seq_len)
        source = "agent" if r["source"] == "db" else "general"
        samples.append({"input_ids": out["input_ids"], "labels": out["labels"], "source": source})
    packed = list(pack(samples, seq_len))
    random.Random(1).shuffle(packed)  # first-fit-decreasing emits long-sample rows first; mix them
    ints = pa.list_(pa.int32())
    (d / "mix" / "samples").mkdir(parents=True)
    (d / "mix" / "packed").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "input_ids": pa.array([s["input_ids"] for s in samples], ints),
                "labels": pa.array([s["labels"] for s in samples], ints),
                "source": pa.array([s["source"] for s in samples], pa.string()),
            }
        ),
        d / "mix" / "samples" / "part-0.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "input_ids": pa.array([r["input_ids"] for r in packed], ints),
                "labels": pa.array([r["labels"] for r in packed], ints),
                "position_ids": pa.array([r["position_ids"] for r in packed], ints),
                "source_ids": pa.array([r["source_ids"] for r in packed], pa.list_(pa.int8())),
                "samples": pa.array([r["samples"] for r in packed], pa.int32()),
            }
        ),
        d / "mix" / "packed" / "part-0.parquet",
    )
    tokens = sum(len(s["input_ids"]) for s in samples)
    stats = {
        "samples": len(samples),
        "agent_share": sum(s["source"] == "agent" for s in samples) / len(samples),
        "tokens": tokens,
        "packed_rows": len(packed),
        "packed_fill": tokens / (len(packed) * seq_len),
        "padded_fill": tokens / (len(samples) * seq_len),
    }
    return {"packed": d / "mix" / "packed", "padded": d / "mix" / "samples", "stats": stats}


# ----------------------------------------------------------------------------- the two paths


def launcher_run(d: Path, cfg: TrainConfig, model: Path, data: Path, pad_to: int | None) -> list[dict[str, Any]]:
    """Train under ``deepspeed --num_gpus 2`` (CPU accelerator, one thread per process, as Ray gives each
    1-CPU worker) and return rank 0's per-step records."""
    run = d / f"launcher-{len(list(d.glob('launcher-*')))}"
    run.mkdir()
    (run / "train.json").write_text(cfg.model_dump_json())
    cmd = [str(Path(sys.executable).with_name("deepspeed")), "--num_gpus", "2", "--no_local_rank"]
    cmd += ["--master_port", str(_free_port()), "--module", "train.launcher"]
    cmd += ["--train-config", str(run / "train.json"), "--model", str(model), "--data", str(data)]
    cmd += ["--out", str(run / "steps.jsonl")] + (["--pad-to", str(pad_to)] if pad_to else [])
    env = os.environ | {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with open(run / "log.txt", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f"the deepspeed launcher failed (exit {proc.returncode}):\n{(run / 'log.txt').read_text()[-4000:]}")
    return [json.loads(line) for line in (run / "steps.jsonl").read_text().splitlines()]


def ray_run(d: Path, cfg: TrainConfig, model: Path, data_dir: Path) -> list[dict[str, Any]]:
    """Train with ``train.loop.fit`` and read rank 0's per-step metrics back from MLflow."""
    import ray
    from mlflow.tracking import MlflowClient

    from train.loop import fit

    run = d / f"ray-{len(list(d.glob('ray-*')))}"
    run.mkdir()
    uri = f"sqlite:///{run}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("bench", artifact_location=(run / "mlartifacts").as_uri())
    run_id = client.create_run(exp).info.run_id
    # 3 logical CPUs: two 1-CPU workers plus one for Ray Data, as fit() requires.
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        fit(
            cfg,
            data_dir=data_dir,
            model_path=str(model),
            storage_dir=run / "ray",
            tracking_uri=uri,
            mlflow_run_id=run_id,
        )
    finally:
        ray.shutdown()
    by_step: dict[int, dict[str, Any]] = {}
    for name in METRICS:
        for m in client.get_metric_history(run_id, name):
            by_step.setdefault(m.step, {"step": m.step, "time": m.timestamp / 1000})[name] = m.value
    return [by_step[s] for s in sorted(by_step)]


# ----------------------------------------------------------------------------- results


def steady_state(steps: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Real tokens/s over the steps after ``warmup``, by the wall clock between step ends."""
    steps = sorted(steps, key=lambda s: s["step"])
    measured = steps[warmup:]
    wall = measured[-1]["time"] - steps[warmup - 1]["time"]
    gaps = [b["time"] - a["time"] for a, b in zip(steps[warmup - 1 :], measured, strict=False)]
    tokens = [s["train/tokens"] for s in measured]
    flops = sum(s["train/tflops_per_worker"] * s["train/step_time_s"] for s in measured)  # per worker, x 1e12
    return {
        "steps": len(measured),
        "tokens_per_s": sum(tokens) / wall,
        "fast_tokens_per_s": fast_rate(tokens, gaps),
        "step_s": wall / len(measured),
        "in_step_s": sum(s["train/step_time_s"] for s in measured) / len(measured),
        "data_s": sum(s["train/data_wait_s"] for s in measured) / len(measured),
        "cpu_s": sum(s["train/cpu_time_s"] for s in measured) / len(measured),
        "padding": sum(s["train/padding_share"] for s in measured) / len(measured),
        "tflops": flops / wall,
        "tokens": tokens,
        "gaps": gaps,
    }


def fast_rate(tokens: list[float], gaps: list[float]) -> float:
    """Mean real tokens per step divided by the first quartile of the step times (wall clock between step ends).

    Another process taking the CPU only ever slows a step down, so on a shared machine the quick
    steps show what the path costs by itself; a cost every step pays (a log write, the data feed)
    is in every step time, so it stays in.
    """
    return statistics.mean(tokens) / statistics.quantiles(gaps, n=4)[0]


def print_table(
    runs: dict[tuple[str, str], list[dict[str, float]]], args: argparse.Namespace, stats: dict, load: list[float]
) -> None:
    print(
        f"data: {stats['samples']} samples ({stats['agent_share']:.0%} agent), {stats['tokens']} tokens; "
        f"{stats['packed_rows']} packed rows of {args.seq_len} ({stats['packed_fill']:.0%} full) or "
        f"{stats['samples']} padded rows ({stats['padded_fill']:.0%} full)"
    )
    print(
        f"steps {args.warmup + 1}-{args.steps} of each run, 8 rows of {args.seq_len} tokens per step, 2 workers; "
        f"1-min load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs"
    )
    if max(load) > (os.cpu_count() or 1) + 1:  # the bench's own two workers make a load of about 2
        print("warning: other processes were busy during the runs; differences of ~10% are noise here: rerun")
    print(
        "tokens/s: real tokens over the wall clock; fast: over the quickest quarter of steps; s/step: wall clock; "
        "in step: train_step, of which data: waiting for batches; cpu: rank 0's CPU seconds in the step; "
        "run s: the whole run, start-up included"
    )
    print(
        f"{'path':<9} {'rows':<7} {'run':>3} {'tokens/s':>9} {'fast':>7} {'s/step':>7} {'in step':>8} "
        f"{'data':>6} {'cpu':>6} {'padding':>8} {'TFLOP/s/worker':>15} {'run s':>6}"
    )
    for (path, layout), rs in runs.items():
        for i, r in enumerate(rs, 1):
            print(
                f"{path:<9} {layout:<7} {i:>3} {r['tokens_per_s']:>9.0f} {r['fast_tokens_per_s']:>7.0f} "
                f"{r['step_s']:>7.3f} {r['in_step_s']:>8.3f} {r['data_s']:>6.3f} {r['cpu_s']:>6.3f} "
                f"{r['padding']:>8.1%} {r['tflops']:>15.4f} {r['run_s']:>6.0f}"
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
