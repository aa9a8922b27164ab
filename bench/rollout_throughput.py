"""Rollout throughput against a slow LLM endpoint: how close the pool gets to the ideal.

    .venv/bin/python bench/rollout_throughput.py [--delay 2.0] [--waves 3] [--repeats 3]
        [--concurrency 1 8 64 256] [--two-actors 256] [--os-concurrency 64] [--quick]

An OpenAI-compatible server on 127.0.0.1 (``tests/openai_server.py``, in its own process,
as an endpoint would be) answers every chat call after ``--delay`` seconds (2 s: about a
7B model writing a 100-token turn). The policy is the production ``openai`` policy (its
aiohttp chat path, retries and all); each episode takes two turns (a SQL query or a
shell command, then an answer). For each concurrency c, one actor runs ``waves * c``
episodes with c in flight (and, for each value of ``--two-actors``, two actors share c
episodes in flight), and the ideal rate is c / (turns * delay) episodes/s:

    efficiency = episodes/s measured / ideal

measured from the moment the actor is ready (actor start-up is excluded) to the last record.
With two actors, each actor's c/2 slots count from the moment that actor was ready (the
second one's start-up is not charged either): efficiency = episodes / sum over actors of
(c/2 x (end - ready) / (turns * delay)), which for one actor is the formula above.
The sandboxed OS env (one bubblewrap sandbox per episode in flight) is measured at
``--os-concurrency``. Every setting runs once per repetition, the order of the settings
reversed every other repetition; the table gives each setting's median efficiency with its
min-max over ``--repeats`` repetitions and the machine's load average, and the last line is
the JSON ``{"efficiency": {"1": {"median": ..., "min": ..., "max": ..., "n": ...}, ...},
"two_actors": {"256": {...}}, "os": {"64": {...}}, "load": {...}}``.
``--quick``: one repetition at 256 in flight on one and two actors, nothing else.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.openai_server, run from anywhere

import envs  # noqa: E402
from bench._procs import CpuSampler, default_kind  # noqa: E402
from bench._stats import Load, alternate, check_repeats, rounded, show, spread  # noqa: E402
from envs.db import prompts as db_prompts  # noqa: E402
from envs.os import prompts as os_prompts  # noqa: E402
from envs.textenv import after_opening  # noqa: E402
from rollouts.config import PolicyConfig, PoolConfig  # noqa: E402
from rollouts.pool import make_jobs, run_rollouts  # noqa: E402
from rollouts.records import read_jsonl  # noqa: E402

REPLIES = {
    "DB": ("Thought: look first.\nAction: Operation\n```sql\nSELECT 1\n```", 'Action: Answer\nFinal Answer: ["1"]'),
    "OS": ("Think: look first.\n\nAct: bash\n\n```bash\nls /\n```", "Think: done.\n\nAct: finish"),
}
ENV_IDS = {"DB": "agenttune/DB-v0", "OS": "agenttune/OS-v0"}
CPU_KINDS = ("bench driver", "ray::RolloutActor", "endpoint")
OPENING_REPLIES = {"DB": db_prompts.OPENING_REPLIES, "OS": os_prompts.OPENING_REPLIES}  # the opening's fixed turns


def two_turn_responder(env: str):
    first, second = REPLIES[env]

    def respond(request: dict) -> str:
        messages = after_opening(request.get("messages") or [], OPENING_REPLIES[env])  # the agent's own turns
        turn = sum(m.get("role") == "assistant" for m in messages)
        return first if turn == 0 else second

    return respond


def serve(env: str, delay_s: float, port_q: mp.Queue, stop: mp.Event) -> None:
    from tests.openai_server import ScriptedChatServer

    with ScriptedChatServer(responder=two_turn_responder(env), delay_s=delay_s) as server:
        port_q.put(server.port)
        stop.wait()


def measure(short: str, concurrency: int, actors: int, args: argparse.Namespace, out: Path) -> dict:
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(short, args.delay, port_q, stop), daemon=True)
    server.start()
    try:
        port = port_q.get(timeout=60)
        n = max(args.waves * concurrency, 4)
        tasks = envs.generate_tasks(ENV_IDS[short], "train", n)
        policy = {
            "kind": "openai",
            "model": "scripted-model",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "api_key_env": "BENCH_API_KEY",
            "timeout_s": 60.0,
        }

        def kind(pid: int, name: str) -> str:
            return "endpoint" if pid == server.pid else default_kind(pid, name)

        started = time.time()
        with CpuSampler(interval_s=1.0, kind=kind, detail=("ray::RolloutActor",)) as cpu:
            s = run_rollouts(
                make_jobs(tasks),
                policy=PolicyConfig(**policy),
                pool=PoolConfig(
                    min_actors=actors,
                    max_actors=actors,
                    concurrency=max(1, concurrency // actors),
                    episode_timeout_s=600,
                ),
                out_path=out,
                progress=False,
            )
    finally:
        stop.set()
        server.join(timeout=10)
    recs = list(read_jsonl(out))
    turns = statistics.mean(r["turns"] for r in recs)
    # Each actor's share of the slots counts from the moment that actor was ready: with two actors, the
    # second one's start-up is not charged to the pool either.
    per_actor = max(1, concurrency // actors)
    ready = s.actor_ready_s[:actors]
    slot_s = sum(per_actor * (s.wall_s - t) for t in ready)
    ideal_episodes = slot_s / (turns * args.delay)
    busy = s.wall_s - s.startup_s
    rate = s.finished / busy
    ideal = concurrency / (turns * args.delay)
    # CPU per episode of each process kind while the actors played (from the last actor up to the end).
    span = (started + max(s.actor_ready_s[:actors]), started + s.wall_s)
    window = cpu.between(*span)
    # The actors' threads, summed over actors: Python's (event loop and env threads share the process's name on
    # Python 3.11) against Ray's own, named, C++ threads.
    by_thread: dict[str, float] = {}
    for threads in cpu.threads_between(*span).values():
        for name, cores in threads.items():
            by_thread[name] = by_thread.get(name, 0.0) + cores
    busy_s = s.wall_s - max(s.actor_ready_s[:actors])
    ms = {k: 1000 * v * busy_s / max(1, s.finished) for k, v in window.items() if k not in ("machine", "others")}
    return {
        "cpu_ms_per_episode": ms,
        "actor_threads_ms_per_episode": {k: 1000 * v * busy_s / max(1, s.finished) for k, v in by_thread.items()},
        "cores": {k: window.get(k, 0.0) for k in ("machine", "others")},
        "env": short,
        "concurrency": concurrency,
        "actors": actors,
        "episodes": s.finished,
        "turns": turns,
        "completed": s.status.get("completed", 0),
        "errors": s.errors,
        "episodes_per_s": rate,
        "ideal_per_s": ideal,
        "efficiency": s.finished / ideal_episodes,
        "ready_spread_s": max(ready) - min(ready),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=2.0, help="seconds the endpoint takes per chat call")
    ap.add_argument("--waves", type=int, default=3, help="episodes per run = waves x concurrency")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 64, 256], help="in flight, one actor")
    ap.add_argument("--two-actors", type=int, nargs="*", default=[256], help="in flight, shared by two actors")
    ap.add_argument("--os-concurrency", type=int, default=64, help="the sandboxed OS env's in flight; 0: skip it")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of every setting (medians reported)")
    ap.add_argument("--quick", action="store_true", help="one repetition at 256 in flight, one and two actors")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.concurrency, args.two_actors, args.os_concurrency = 1, [256], [256], 0
    check_repeats(args.repeats, args.quick)
    settings = [("DB", c, 1) for c in args.concurrency] + [("DB", c, 2) for c in args.two_actors]
    settings += [("OS", args.os_concurrency, 1)] if args.os_concurrency else []
    os.environ["BENCH_API_KEY"] = "bench-key"  # the scripted server accepts any key
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    load = Load()
    runs: dict[tuple[str, int, int], list[dict]] = {key: [] for key in settings}
    with tempfile.TemporaryDirectory() as d:
        for rep in range(args.repeats):
            for short, c, actors in alternate(settings, rep):
                out = Path(d) / f"{short}-{c}-{actors}-{rep}.jsonl"
                runs[short, c, actors].append(measure(short, c, actors, args, out))
                load.sample()
    ray.shutdown()
    report(runs, args, load)


def report(runs: dict[tuple[str, int, int], list[dict]], args: argparse.Namespace, load: Load) -> None:
    print(f"{args.delay:g} s per chat call, {args.waves} waves per run, {args.repeats} repetitions; medians (min-max)")
    head = f"{'env':<4} {'actors':>6} {'in flight':>9} {'episodes':>8} {'turns':>5} {'errors':>6} {'ep/s':>18}"
    print(head + f" {'ideal':>7} {'efficiency':>18}")
    eff: dict[tuple[str, int, int], dict] = {}
    for (short, c, actors), rs in runs.items():
        eff[short, c, actors] = spread(r["efficiency"] for r in rs)
        rate = spread(r["episodes_per_s"] for r in rs)
        print(
            f"{short:<4} {actors:>6} {c:>9} {rs[0]['episodes']:>8} {statistics.mean(r['turns'] for r in rs):>5.2f} "
            f"{sum(r['errors'] for r in rs):>6} {show(rate, '{:.2f}'):>18} {rs[0]['ideal_per_s']:>7.2f} "
            f"{show(eff[short, c, actors], '{:.3f}'):>18}"
        )
    print("\nCPU per episode while playing, ms (medians): driver = the bench's driver process (the pool);")
    print("actor = ray::RolloutActor (all actors); endpoint = the scripted server; ray = Ray's own processes;")
    print("machine = the machine's busy cores meanwhile, everything included")
    head = f"{'env':<4} {'actors':>6} {'in flight':>9} {'driver':>7} {'actor':>7} {'endpoint':>8}"
    print(f"{head} {'ray':>6} {'machine':>8}")
    cpu_ms = {}
    for (short, c, actors), rs in runs.items():
        med = {k: statistics.median(r["cpu_ms_per_episode"].get(k, 0.0) for r in rs) for k in CPU_KINDS}
        ray_ms = statistics.median(
            sum(v for k, v in r["cpu_ms_per_episode"].items() if k not in (*CPU_KINDS, "cpu sampler")) for r in rs
        )
        machine = statistics.median(r["cores"]["machine"] for r in rs)
        names = {"bench driver": "driver", "ray::RolloutActor": "actor", "endpoint": "endpoint"}
        cpu_ms[f"{short}-{c}-{actors}"] = {names[k]: round(v, 2) for k, v in med.items()} | {"ray": round(ray_ms, 2)}
        print(
            f"{short:<4} {actors:>6} {c:>9} {med['bench driver']:>7.2f} {med['ray::RolloutActor']:>7.2f} "
            f"{med['endpoint']:>8.2f} {ray_ms:>6.2f} {machine:>8.2f}"
        )
    for (short, c, actors), rs in runs.items():
        if (short, c) == ("DB", max(args.concurrency or [0])) and actors == 1:
            threads = rs[len(rs) // 2]["actor_threads_ms_per_episode"]
            top = sorted(threads.items(), key=lambda kv: -kv[1])[:6]
            print(
                f"actor's threads at {c} in flight, ms per episode (one run): "
                + ", ".join(f"{name} {v:.2f}" for name, v in top)
            )
    print(load.line())
    summary = {
        "efficiency": {str(c): rounded(e, 3) for (short, c, a), e in eff.items() if short == "DB" and a == 1},
        "two_actors": {str(c): rounded(e, 3) for (short, c, a), e in eff.items() if short == "DB" and a == 2},
        "os": {str(c): rounded(e, 3) for (short, c, a), e in eff.items() if short == "OS"},
        "errors": sum(r["errors"] for rs in runs.values() for r in rs),
        "cpu_ms_per_episode": cpu_ms,
        "delay_s": args.delay,
        "repeats": args.repeats,
        "load": load.summary(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
