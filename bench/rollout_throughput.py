"""Rollout throughput against a slow LLM endpoint: how close the pool gets to the ideal.

    .venv/bin/python bench/rollout_throughput.py [--delay 2.0] [--waves 3] [--concurrency 1 8 64 256]

An OpenAI-compatible server on 127.0.0.1 (``tests/openai_server.py``, in its own process,
as an endpoint would be) answers every chat call after ``--delay`` seconds (2 s: about a
7B model writing a 100-token turn). The policy is the production ``openai`` policy (the
``openai`` async client, retries and all); each episode takes two turns (a SQL query or a
shell command, then an answer). For each concurrency c, one actor runs ``waves * c``
episodes with c in flight, and the ideal rate is c / (turns * delay) episodes/s:

    efficiency = episodes/s measured / ideal

measured from the moment the actor is ready (actor start-up is excluded) to the last
record. The sandboxed OS env (one bubblewrap sandbox per episode in flight) is measured
at 64. Prints a table, then the JSON line
``{"efficiency": {"1": e1, "8": e8, "64": e64, "256": e256}, "os_efficiency_64": e}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.openai_server, run from anywhere

import envs  # noqa: E402
from rollouts.config import PolicyConfig, PoolConfig  # noqa: E402
from rollouts.pool import make_jobs, run_rollouts  # noqa: E402
from rollouts.records import read_jsonl  # noqa: E402

REPLIES = {
    "DB": ("Thought: look first.\nAction: Operation\n```sql\nSELECT 1\n```", 'Action: Answer\nFinal Answer: ["1"]'),
    "OS": ("Think: look first.\n\nAct: bash\n\n```bash\nls /\n```", "Think: done.\n\nAct: finish"),
}


def two_turn_responder(env: str):
    first, second = REPLIES[env]

    def respond(request: dict) -> str:
        turn = sum(m.get("role") == "assistant" for m in request.get("messages") or [])
        return first if turn == 0 else second

    return respond


def serve(env: str, delay_s: float, port_q: mp.Queue, stop: mp.Event) -> None:
    from tests.openai_server import ScriptedChatServer

    with ScriptedChatServer(responder=two_turn_responder(env), delay_s=delay_s) as server:
        port_q.put(server.port)
        stop.wait()


def measure(env_id: str, short: str, concurrency: int, args: argparse.Namespace, workdir: Path) -> dict:
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(short, args.delay, port_q, stop), daemon=True)
    server.start()
    try:
        port = port_q.get(timeout=60)
        n = max(args.waves * concurrency, 4)
        tasks = envs.generate_tasks(env_id, "train", n)
        policy = {
            "kind": "openai",
            "model": "scripted-model",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "api_key_env": "BENCH_API_KEY",
            "timeout_s": 60.0,
        }
        out = workdir / f"{short}-{concurrency}.jsonl"
        s = run_rollouts(
            make_jobs(tasks),
            policy=PolicyConfig(**policy),
            pool=PoolConfig(
                min_actors=args.actors,
                max_actors=args.actors,
                concurrency=max(1, concurrency // args.actors),
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
    busy = s.wall_s - s.startup_s
    rate = s.finished / busy
    ideal = concurrency / (turns * args.delay)
    return {
        "env": short,
        "concurrency": concurrency,
        "episodes": s.finished,
        "turns": turns,
        "completed": s.status.get("completed", 0),
        "errors": s.errors,
        "episodes_per_s": rate,
        "ideal_per_s": ideal,
        "efficiency": rate / ideal,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=2.0, help="seconds the endpoint takes per chat call")
    ap.add_argument("--waves", type=int, default=3, help="episodes per run = waves x concurrency")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64, 256])
    ap.add_argument("--os-concurrency", type=int, default=64)
    ap.add_argument("--actors", type=int, default=1, help="actors sharing the episodes in flight")
    args = ap.parse_args()
    import os

    os.environ["BENCH_API_KEY"] = "bench-key"  # the scripted server accepts any key
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for c in args.concurrency:
            rows.append(measure("agenttune/DB-v0", "DB", c, args, Path(d)))
        if args.os_concurrency:
            rows.append(measure("agenttune/OS-v0", "OS", args.os_concurrency, args, Path(d)))
    head = f"{'env':<4} {'in flight':>9} {'episodes':>8} {'turns':>5} {'ok':>5} {'errors':>6} {'ep/s':>7} {'ideal':>7}"
    head += f" {'eff':>5}"
    print(head)
    for r in rows:
        print(
            f"{r['env']:<4} {r['concurrency']:>9} {r['episodes']:>8} {r['turns']:>5.2f} {r['completed']:>5} "
            f"{r['errors']:>6} {r['episodes_per_s']:>7.2f} {r['ideal_per_s']:>7.2f} {r['efficiency']:>5.2f}"
        )
    db = {str(r["concurrency"]): round(r["efficiency"], 3) for r in rows if r["env"] == "DB"}
    os_row = [r for r in rows if r["env"] == "OS"]
    print(json.dumps({"efficiency": db, "os_efficiency_64": round(os_row[0]["efficiency"], 3) if os_row else None}))


if __name__ == "__main__":
    main()
