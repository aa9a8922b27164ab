"""Eval throughput: the tuned model as an ``hf`` policy inside the rollout actors vs ``served`` by ``transformers
serve`` replicas (continuous batching), at the same number of episodes in flight.

    .venv/bin/python bench/eval_throughput.py [--model runs/demo/model] [--tasks 12] [--in-flight 2] [--repeats 3]

The model is the demo's tuned checkpoint (``runs/demo/model``, after ``make demo``); without one, a tiny model
of the demo's sizes (the same architecture and parameter count; its weights do not change the cost). Both paths
play the demo's eval setting: DB test tasks, at most 3 turns of at most 48 new tokens, greedy. ``hf`` runs
``--in-flight`` actors with one episode each (the model in every actor); ``served`` runs one replica and one
actor with ``--in-flight`` episodes in flight. Rates are episodes/s from the first episode sent to the last
record (start-up excluded); start-up (actors loading the model, or the server starting) is reported apart, and
``wall`` is both, what a demo run pays. Each repetition runs both paths back to back; the table gives medians
and min-max over ``--repeats`` repetitions and the load average, and the last line is the JSON
``{"hf_episodes_per_s": m, "served_episodes_per_s": m, "ratio_served_over_hf": r, "wall_ratio_served_over_hf":
w, "spread": {...}, "load": {...}}`` (medians; ratios > 1: served is faster; ``--quick``: one repetition).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs  # noqa: E402
from bench._stats import Load, check_repeats, ratios, show  # noqa: E402
from rollouts.config import PolicyConfig, PoolConfig  # noqa: E402
from rollouts.pool import make_jobs, run_rollouts  # noqa: E402
from rollouts.serving import serve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "runs" / "demo" / "model"), help="a tuned checkpoint")
    ap.add_argument("--tasks", type=int, default=12, help="DB test tasks per run")
    ap.add_argument("--in-flight", type=int, default=2, help="episodes in flight, for both paths")
    ap.add_argument("--repeats", type=int, default=3, help="paired repetitions (medians and spread reported)")
    ap.add_argument("--quick", action="store_true", help="smoke run: one repetition")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    check_repeats(args.repeats, args.quick)
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        model, source = checkpoint(Path(args.model), Path(tmp))
        jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "test", args.tasks), max_turns=3)
        runs: dict[str, list[dict[str, float]]] = {"hf": [], "served": []}
        load = Load()
        for r in range(args.repeats):
            order = ("hf", "served") if r % 2 == 0 else ("served", "hf")  # a busy spell of the machine hits both
            for path in order:
                runs[path].append(measure(path, model, jobs, args.in_flight, Path(tmp) / f"{path}-{r}.jsonl"))
                load.sample()
    ray.shutdown()
    report(runs, args, source, load)


def checkpoint(path: Path, tmp: Path) -> tuple[str, str]:
    if (path / "config.json").exists():
        return str(path), str(path)
    from train.tiny import build_tiny_checkpoint

    tiny = build_tiny_checkpoint(tmp / "tiny", hidden_size=64, layers=2, heads=4, chat_template="chatml")
    return str(tiny), "a tiny model of the demo's sizes (no runs/demo/model: run `make demo` first for the tuned one)"


def measure(path: str, model: str, jobs: list, in_flight: int, out: Path) -> dict[str, float]:
    t0 = time.monotonic()
    if path == "hf":
        policy = PolicyConfig(kind="hf", model=model, max_tokens=48)
        pool = PoolConfig(min_actors=in_flight, max_actors=in_flight, concurrency=1)
        s = run_rollouts(jobs, policy=policy, pool=pool, out_path=out, progress=False)
        startup = s.startup_s
    else:
        policy = PolicyConfig(kind="served", model=model, max_tokens=48, replicas=1)
        pool = PoolConfig(min_actors=1, max_actors=1, concurrency=in_flight)
        with serve(policy, model) as endpoints:
            served = time.monotonic() - t0
            s = run_rollouts(jobs, policy=policy, pool=pool, out_path=out, endpoints=endpoints, progress=False)
        startup = served + s.startup_s
    wall = time.monotonic() - t0
    busy = s.wall_s - s.startup_s
    return {"episodes_per_s": s.finished / busy, "startup_s": startup, "wall_s": wall, "episodes": s.finished}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace, source: str, load: Load) -> None:
    print(f"model: {source}; {args.tasks} DB test tasks, {args.in_flight} in flight, {args.repeats} repetitions")
    print(f"{'path':>7} {'episodes/s (median, min-max)':>30} {'startup s':>18} {'wall s':>18}")
    stats = {}
    for path, rs in runs.items():
        stats[path] = {k: spread([r[k] for r in rs]) for k in ("episodes_per_s", "startup_s", "wall_s")}
        eps, st, wall = (stats[path][k] for k in ("episodes_per_s", "startup_s", "wall_s"))
        print(
            f"{path:>7} {eps['median']:>12.3f} ({eps['min']:.3f}-{eps['max']:.3f})"
            f" {st['median']:>8.1f} ({st['min']:.0f}-{st['max']:.0f})"
            f" {wall['median']:>8.1f} ({wall['min']:.0f}-{wall['max']:.0f})"
        )
    rate = ratios([r["episodes_per_s"] for r in runs["served"]], [r["episodes_per_s"] for r in runs["hf"]])
    wall = ratios([r["wall_s"] for r in runs["hf"]], [r["wall_s"] for r in runs["served"]])
    print(f"served/hf episodes/s, per repetition: {show(rate, '{:.2f}')}; hf/served wall: {show(wall, '{:.2f}')}")
    print(load.line())
    summary = {
        "hf_episodes_per_s": round(stats["hf"]["episodes_per_s"]["median"], 4),
        "served_episodes_per_s": round(stats["served"]["episodes_per_s"]["median"], 4),
        "ratio_served_over_hf": round(rate["median"], 3),
        "wall_ratio_served_over_hf": round(wall["median"], 3),
        "spread": {
            "ratio": [round(rate["min"], 3), round(rate["max"], 3)],
            "wall": [round(wall["min"], 3), round(wall["max"], 3)],
        },
        "repeats": args.repeats,
        "load": load.summary(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
