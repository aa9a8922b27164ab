"""CPU per chat call of the openai policy's async path (aiohttp) against the ``openai`` async client, at many calls
in flight: what decides how many episodes one rollout actor keeps up with.

    .venv/bin/python bench/http_client_cpu.py [--in-flight 256] [--calls 4] [--delay 0.3] [--repeats 3] [--quick]

A scripted OpenAI-compatible server (``tests/openai_server.py``) in its own process answers every call after
``--delay`` seconds. In this process, ``--in-flight`` coroutines each make ``--calls`` chat calls one after another
with an agent-sized conversation, through (a) ``OpenAIChatPolicy.aact`` (one aiohttp session per event loop, retries
and error handling included) and (b) ``openai.AsyncOpenAI().chat.completions.create`` as a user would call it.
CPU per call is this process's CPU time (all threads) over the calls; each repetition runs both clients once (the
order reversed every other time) after a warm-up round. The table gives medians with min-max and the load average;
the last line is JSON. ``--quick``: one repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.openai_server, bench._stats

from bench._stats import Load, alternate, check_repeats, ratios, rounded, show, spread  # noqa: E402

REPLY = "Thought: look first.\nAction: Operation\n```sql\nSELECT 1\n```"
MESSAGES = [
    {"role": "user", "content": "You are an agent that answers questions with SQL. " * 40},
    {"role": "assistant", "content": "Ok."},
    {"role": "user", "content": "How many rows has the table?"},
]


def serve(delay_s: float, port_q: mp.Queue, stop: mp.Event) -> None:
    from tests.openai_server import ScriptedChatServer

    with ScriptedChatServer(responder=lambda request: REPLY, delay_s=delay_s) as server:
        port_q.put(server.port)
        stop.wait()


async def calls_with(client: str, base_url: str, in_flight: int, calls: int) -> tuple[float, float]:
    """(CPU ms per call, wall s) of ``in_flight`` coroutines making ``calls`` calls each, after a warm-up round."""
    import openai

    from rollouts.policies.openai_chat import OpenAIChatPolicy

    if client == "policy":
        policy = OpenAIChatPolicy(model="scripted-model", base_url=base_url, api_key_env="BENCH_API_KEY")

        async def call() -> str:
            return await policy.aact(MESSAGES, task=None)  # type: ignore[arg-type]

        close = policy.aclose
    else:
        sdk = openai.AsyncOpenAI(base_url=base_url, api_key="bench-key", max_retries=0)

        async def call() -> str:
            completion = await sdk.chat.completions.create(model="scripted-model", messages=MESSAGES)  # type: ignore
            return completion.choices[0].message.content or ""

        close = sdk.close

    async def one(n: int) -> None:
        for _ in range(n):
            if await call() != REPLY:
                raise SystemExit(f"{client}: unexpected reply")

    try:
        await asyncio.gather(*(one(1) for _ in range(in_flight)))  # connections, imports
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(calls) for _ in range(in_flight)))
        return (time.process_time() - cpu) / (in_flight * calls) * 1000, time.perf_counter() - wall
    finally:
        await close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in-flight", type=int, default=256)
    ap.add_argument("--calls", type=int, default=4, help="calls per coroutine, one after another")
    ap.add_argument("--delay", type=float, default=0.3, help="seconds the server takes per call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: one repetition")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    check_repeats(args.repeats, args.quick)
    os.environ.setdefault("BENCH_API_KEY", "bench-key")
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(args.delay, port_q, stop), daemon=True)
    server.start()
    load = Load()
    clients = ("policy", "openai")
    ms: dict[str, list[float]] = {c: [] for c in clients}
    walls: dict[str, list[float]] = {c: [] for c in clients}
    try:
        base_url = f"http://127.0.0.1:{port_q.get(timeout=60)}/v1"
        for rep in range(args.repeats):
            for client in alternate(clients, rep):
                cpu_ms, wall = asyncio.run(calls_with(client, base_url, args.in_flight, args.calls))
                ms[client].append(cpu_ms)
                walls[client].append(wall)
                load.sample()
    finally:
        stop.set()
        server.join(timeout=10)
    ideal = args.calls * args.delay
    print(f"{args.in_flight} in flight x {args.calls} calls, {args.delay:g} s per call (ideal wall {ideal:.2f} s)")
    print(f"{'client':<40} {'CPU ms per call':>22} {'wall s':>22}")
    names = {"policy": "OpenAIChatPolicy.aact (aiohttp)", "openai": "openai.AsyncOpenAI chat.completions.create"}
    for client in clients:
        cpu, wall = show(spread(ms[client]), "{:.3f}"), show(spread(walls[client]), "{:.2f}")
        print(f"{names[client]:<40} {cpu:>22} {wall:>22}")
    less = ratios(ms["openai"], ms["policy"])
    print(f"CPU per call, openai client over the policy's path, per repetition: {show(less, '{:.1f}')}x")
    print(load.line())
    summary = {
        "cpu_ms_per_call": {c: rounded(spread(v), 3) for c, v in ms.items()},
        "openai_over_policy": rounded(less, 2),
        "in_flight": args.in_flight,
        "repeats": args.repeats,
        "load": load.summary(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
