"""Training throughput: Ray Train against the plain ``deepspeed`` launcher, and packed against padded rows.

    .venv/bin/python bench/train_throughput.py [--steps 30 --warmup 5 --repeats 3 --seq-len 1024] [--quick]

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
step (``train.launcher``: its own loop; Ray: the ``train.launcher.stamp_step`` step hook), so anything a
path does between steps counts. The first steps pay for DeepSpeed's op builds and the first data reads.

A repetition runs launcher-packed, ray-packed and launcher-padded once each, and launcher-packed once more
beside a process that keeps ``--background-cores`` of a core busy in 10 ms bursts (about what Ray's own
processes use while training: what that much CPU taken from beside the ranks costs them), the order reversed
every other repetition; the table gives medians and min-max over ``--repeats`` repetitions. The overhead of
Ray Train (1 - ray/launcher tokens/s) and packed/padded are taken within each repetition, then their
median. While each run trains, the bench samples the CPU time of every process it started and of the
whole machine (``bench/_procs.py``): the CPU table says how many cores the workers, Ray's own processes
and everything else on the machine used during the measured steps, and the thread table splits each
worker's CPU between its main thread (the training) and its other threads. The last line is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._stats, run from anywhere

from bench._procs import CpuSampler  # noqa: E402
from bench._stats import Load, alternate, check_repeats, ratios, rounded, show, spread  # noqa: E402
from train.config import TrainConfig  # noqa: E402

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
VARIANTS = (("launcher", "packed"), ("ray", "packed"), ("launcher", "padded"))
WORKER_KINDS = ("ray::RayTrainWorker", "deepspeed rank")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=5, help="first steps left out of the rate")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=800, help="samples drawn from the shared corpora")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of the three runs (medians reported)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 12 steps, 1 repetition")
    ap.add_argument(
        "--background-cores",
        type=float,
        default=0.15,
        help="also run the launcher beside a process that keeps this share of a core busy (about what Ray's own "
        "processes use while training); 0: skip that run",
    )
    ap.add_argument(
        "--torch-threads", type=int, default=None, help="experiment: intra-op threads per worker on both paths"
    )
    args = ap.parse_args()
    if args.quick:
        args.steps, args.warmup, args.repeats = 12, 3, 1
    check_repeats(args.repeats, args.quick)
    if args.steps - args.warmup < 2:
        ap.error("--steps must exceed --warmup by at least 2")
    missing = [str(p) for p in SOURCES if not p.exists()]
    if not (SHARED / "general").is_dir() or missing:
        sys.exit(f"shared data not found ({', '.join(missing) or SHARED / 'general'}): the bench reads ../shared/data")
    os.environ["DS_ACCELERATOR"] = "cpu"  # before anything imports deepspeed
    if args.torch_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # Ray keeps a value the driver's env sets
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
    variants = VARIANTS + ((("launcher", "packed+bg"),) if args.background_cores > 0 else ())
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in variants}
    load = Load()
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        d = Path(tmp)
        model = tiny_model(d / "model")
        data = build_data(d, model, args.seq_len, args.samples)
        for rep in range(args.repeats):
            for path, layout in alternate(variants, rep):
                t0 = time.perf_counter()
                bg = args.background_cores if layout == "packed+bg" else 0.0
                with CpuSampler(interval_s=1.0, detail=WORKER_KINDS) as cpu, background_load(bg):
                    if path == "ray":
                        steps = ray_run(d, cfg, model, d / "mix")
                    else:
                        pad_to = args.seq_len if layout == "padded" else None
                        rows = data["padded" if layout == "padded" else "packed"]
                        steps = launcher_run(d, cfg, model, rows, pad_to=pad_to, threads=args.torch_threads)
                run = steady_state(steps, args.warmup) | {"run_s": time.perf_counter() - t0}
                window = (steps[args.warmup - 1]["time"], steps[-1]["time"])
                run["cpu"], run["threads"] = cpu.between(*window), cpu.threads_between(*window)
                run["facts"] = {f"{f['kind']} {pid}": f for pid, f in cpu.facts.items()}
                runs[path, layout].append(run)
                load.sample()
    report(runs, args, data["stats"], load)


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


def launcher_run(
    d: Path, cfg: TrainConfig, model: Path, data: Path, pad_to: int | None, threads: int | None = None
) -> list[dict[str, Any]]:
    """Train under ``deepspeed --num_gpus 2`` (CPU accelerator, one thread per process, as Ray gives each
    1-CPU worker) and return rank 0's per-step records."""
    run = d / f"launcher-{len(list(d.glob('launcher-*')))}"
    run.mkdir()
    (run / "train.json").write_text(cfg.model_dump_json())
    cmd = [str(Path(sys.executable).with_name("deepspeed")), "--num_gpus", "2", "--no_local_rank"]
    cmd += ["--master_port", str(_free_port()), "--module", "train.launcher"]
    cmd += ["--train-config", str(run / "train.json"), "--model", str(model), "--data", str(data)]
    cmd += ["--out", str(run / "steps.jsonl")] + (["--pad-to", str(pad_to)] if pad_to else [])
    env = os.environ | {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": str(threads or 1), "PYTHONPATH": str(REPO)}
    with open(run / "log.txt", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f"the deepspeed launcher failed (exit {proc.returncode}):\n{(run / 'log.txt').read_text()[-4000:]}")
    return [json.loads(line) for line in (run / "steps.jsonl").read_text().splitlines()]


def ray_run(d: Path, cfg: TrainConfig, model: Path, data_dir: Path) -> list[dict[str, Any]]:
    """Train with ``train.loop.fit`` and read rank 0's per-step metrics back from MLflow."""
    import ray
    from mlflow.tracking import MlflowClient

    from train.launcher import STEP_LOG_ENV, stamp_step
    from train.loop import fit

    run = d / f"ray-{len(list(d.glob('ray-*')))}"
    run.mkdir()
    uri = f"sqlite:///{run}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("bench", artifact_location=(run / "mlartifacts").as_uri())
    run_id = client.create_run(exp).info.run_id
    stamps = run / "steps.jsonl"
    os.environ[STEP_LOG_ENV] = str(stamps)  # read by rank 0's step hook: Ray's workers inherit this environment
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
            step_hook=stamp_step,
        )
    finally:
        ray.shutdown()
        os.environ.pop(STEP_LOG_ENV, None)
    by_step: dict[int, dict[str, Any]] = {}
    for name in METRICS:
        for m in client.get_metric_history(run_id, name):
            by_step.setdefault(m.step, {"step": m.step})[name] = m.value
    for line in stamps.read_text().splitlines():
        stamp = json.loads(line)
        by_step[stamp["step"]]["time"] = stamp["time"]
    return [by_step[s] for s in sorted(by_step)]


# ----------------------------------------------------------------------------- results


def steady_state(steps: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Real tokens/s over the steps after ``warmup``, by the wall clock between step ends."""
    steps = sorted(steps, key=lambda s: s["step"])
    measured = steps[warmup:]
    wall = measured[-1]["time"] - steps[warmup - 1]["time"]
    tokens = [s["train/tokens"] for s in measured]
    flops = sum(s["train/tflops_per_worker"] * s["train/step_time_s"] for s in measured)  # per worker, x 1e12
    return {
        "steps": len(measured),
        "tokens_per_s": sum(tokens) / wall,
        "step_s": wall / len(measured),
        "in_step_s": statistics.mean(s["train/step_time_s"] for s in measured),
        "data_s": statistics.mean(s["train/data_wait_s"] for s in measured),
        "cpu_s": statistics.mean(s["train/cpu_time_s"] for s in measured),
        "padding": statistics.mean(s["train/padding_share"] for s in measured),
        "tflops": flops / wall,
    }


@contextlib.contextmanager
def background_load(cores: float, period_s: float = 0.01) -> Iterator[None]:
    """A process (nice 0) that keeps ``cores`` of one core busy in short bursts every ``period_s``, as Ray's own
    processes wake up while training: what the launcher loses to that much CPU taken from beside it."""
    if cores <= 0:
        yield
        return
    import multiprocessing as mp

    stop = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=_burn, args=(min(cores, 1.0), period_s, stop), daemon=True)
    proc.start()
    try:
        yield
    finally:
        stop.set()
        proc.join(timeout=10)


def _burn(duty: float, period_s: float, stop: Any) -> None:
    while not stop.is_set():
        end = time.perf_counter() + duty * period_s
        while time.perf_counter() < end:
            pass
        time.sleep((1 - duty) * period_s)


def cpu_groups(cpu: dict[str, float]) -> dict[str, float]:
    """A run's cores busy, in four groups: the two workers, the rest of what the bench started (Ray's daemons,
    its driver, the deepspeed launcher), the rest of the machine, and the machine in all."""
    workers = sum(v for k, v in cpu.items() if k in WORKER_KINDS)
    ours = sum(v for k, v in cpu.items() if k not in ("machine", "others")) - workers
    return {
        "workers": workers,
        "bench's other processes": ours,
        "others": cpu.get("others", 0.0),
        "machine": cpu.get("machine", 0.0),
    }


def report(
    runs: dict[tuple[str, str], list[dict[str, Any]]], args: argparse.Namespace, stats: dict, load: Load
) -> None:
    print(
        f"data: {stats['samples']} samples ({stats['agent_share']:.0%} agent), {stats['tokens']} tokens; "
        f"{stats['packed_rows']} packed rows of {args.seq_len} ({stats['packed_fill']:.0%} full) or "
        f"{stats['samples']} padded rows ({stats['padded_fill']:.0%} full)"
    )
    print(
        f"steps {args.warmup + 1}-{args.steps} of each run, 8 rows of {args.seq_len} tokens per step, 2 workers, "
        f"{args.torch_threads or 1} torch thread(s) each; medians (min-max) of {args.repeats} repetitions"
    )
    print(
        "tokens/s: real tokens over the wall clock; s/step: wall clock; in step: train_step, of which data: "
        "waiting for batches; cpu: rank 0's CPU seconds in the step; run s: the whole run, start-up included"
    )
    head = f"{'path':<9} {'rows':<7} {'tokens/s':>20} {'s/step':>20} {'in step':>8} {'data':>6} {'cpu':>6}"
    print(f"{head} {'run s':>6}")
    med = {}
    for (path, layout), rs in runs.items():
        med[path, layout] = {
            k: spread(r[k] for r in rs) for k in ("tokens_per_s", "step_s", "in_step_s", "data_s", "cpu_s", "run_s")
        }
        m = med[path, layout]
        print(
            f"{path:<9} {layout:<7} {show(m['tokens_per_s'], '{:.0f}'):>20} {show(m['step_s'], '{:.3f}'):>20} "
            f"{m['in_step_s']['median']:>8.3f} {m['data_s']['median']:>6.3f} {m['cpu_s']['median']:>6.3f} "
            f"{m['run_s']['median']:>6.0f}"
        )
    print(
        "\ncores busy during the measured steps (medians over repetitions): "
        + ", ".join(
            f"{path} {layout}: "
            + ", ".join(f"{k} {statistics.median(cpu_groups(r['cpu'])[k] for r in rs):.2f}" for k in cpu_groups({}))
            for (path, layout), rs in runs.items()
            if layout != "padded"
        )
    )
    for path in ("launcher", "ray"):
        last = runs[path, "packed"][-1]
        print(f"{path}, last run: " + ", ".join(f"{k} {v:.2f}" for k, v in last["cpu"].items() if v >= 0.005))
        for proc, threads in last["threads"].items():
            busy = ", ".join(f"{name} {v:.3f}" for name, v in threads.items() if v >= 0.002)
            facts = last["facts"].get(proc, {})
            print(
                f"  {proc}: threads {facts.get('threads')}, CPUs {facts.get('cpus_allowed_list')}, "
                f"env {facts.get('env')}; cores by thread: {busy}"
            )
    ray_tps = [r["tokens_per_s"] for r in runs["ray", "packed"]]
    launcher_tps = [r["tokens_per_s"] for r in runs["launcher", "packed"]]
    padded_tps = [r["tokens_per_s"] for r in runs["launcher", "padded"]]
    per_rep = [1 - ray / launcher for ray, launcher in zip(ray_tps, launcher_tps, strict=True)]
    overhead = spread(per_rep)
    packed_padded = ratios(launcher_tps, padded_tps)
    print(
        f"\nRay Train overhead (1 - ray/launcher tokens/s, per repetition): {show(overhead, '{:+.1%}')}; "
        f"packed/padded real tokens/s: {show(packed_padded, '{:.2f}')}x"
    )
    if ("launcher", "packed+bg") in runs:
        bg_tps = [r["tokens_per_s"] for r in runs["launcher", "packed+bg"]]
        slowdown = spread(1 - b / a for b, a in zip(bg_tps, launcher_tps, strict=True))
        print(
            f"the launcher beside a process busy {args.background_cores:g} of a core: {show(slowdown, '{:+.1%}')} "
            "slower (per repetition), what that much CPU taken by other processes costs two ranks in lockstep"
        )
    print(load.line())
    summary = {
        "overhead": rounded(overhead),
        "ray_tokens_per_s": rounded(med["ray", "packed"]["tokens_per_s"], 1),
        "launcher_tokens_per_s": rounded(med["launcher", "packed"]["tokens_per_s"], 1),
        "padded_tokens_per_s": rounded(med["launcher", "padded"]["tokens_per_s"], 1),
        "packed_vs_padded": rounded(packed_padded, 3),
        "cores": {
            f"{path}_{layout}": {
                k: round(statistics.median(cpu_groups(r["cpu"])[k] for r in rs), 3) for k in cpu_groups({})
            }
            for (path, layout), rs in runs.items()
        },
        "background_cores": args.background_cores,
        "background_slowdown": rounded(slowdown) if ("launcher", "packed+bg") in runs else None,
        "seq_len": args.seq_len,
        "measured_steps": args.steps - args.warmup,
        "torch_threads": args.torch_threads or 1,
        "repeats": args.repeats,
        "load": load.summary(),
    }
    print(json.dumps(summary))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
