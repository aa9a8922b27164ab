"""The sandboxed OS env at many episodes in flight, without Ray or HTTP: where the rollout bench's OS time goes.

    .venv/bin/python bench/os_waves.py [--concurrency 64] [--waves 3] [--delay 2.0] [--repeats 3]

One asyncio loop plays ``waves * concurrency`` generated OS tasks with ``concurrency`` in flight, each env on its
own thread, as a rollout actor does (``rollouts.envpool``), and the "agent" is ``asyncio.sleep(delay)`` before
each of two replies (a shell command, then finish). So every episode ideally takes 2 x delay, and

    efficiency = episodes x 2 x delay / (concurrency x wall)

Two variants run once per repetition, paired, the order alternating: ``cold`` (envs made as the first wave
arrives, as an actor did before ``rollout.prewarm_envs``) and ``prewarmed`` (every env's ``warm_up`` first, the
clock starting after it). The table gives each variant's median efficiency and reset times (the first wave's
and the later ones'), and the last line is the JSON ``{"efficiency": {"cold": {...}, "prewarmed": {...}},
"ratio": {...}, "load": {...}}`` with the ratio prewarmed / cold per repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run from anywhere

import envs  # noqa: E402
from bench._stats import Load, alternate, check_repeats, ratios, rounded, show, spread  # noqa: E402

REPLIES = ("Think: look first.\n\nAct: bash\n\n```bash\nls /\n```", "Think: done.\n\nAct: finish")
VARIANTS = ("cold", "prewarmed")


async def play(variant: str, args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    queue = list(envs.generate_tasks("agenttune/OS-v0", "train", args.concurrency * args.waves))
    n_tasks = len(queue)
    slots = [(envs.make_env("OS"), ThreadPoolExecutor(1)) for _ in range(args.concurrency)]
    if variant == "prewarmed":
        await asyncio.gather(*(loop.run_in_executor(ex, env.unwrapped.warm_up, 60.0) for env, ex in slots))
    resets: list[float] = []
    started = time.monotonic()

    async def slot(env, ex) -> None:
        while queue:
            task = queue.pop()
            t = time.monotonic()
            await loop.run_in_executor(ex, functools.partial(env.reset, options={"task": task}))
            resets.append(time.monotonic() - t)
            for reply in REPLIES:
                await asyncio.sleep(args.delay)
                await loop.run_in_executor(ex, env.step, reply)

    await asyncio.gather(*(slot(env, ex) for env, ex in slots))
    wall = time.monotonic() - started
    for env, ex in slots:
        env.close()
        ex.shutdown()
    first, later = resets[: args.concurrency], resets[args.concurrency :] or [0.0]
    return {
        "efficiency": n_tasks * len(REPLIES) * args.delay / (args.concurrency * wall),
        "first_wave_reset_ms": 1000 * statistics.median(first),
        "first_wave_reset_max_ms": 1000 * max(first),
        "later_reset_ms": 1000 * statistics.median(later),
        "later_reset_max_ms": 1000 * max(later),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=64, help="episodes in flight")
    ap.add_argument("--waves", type=int, default=3, help="episodes per run = waves x concurrency")
    ap.add_argument("--delay", type=float, default=2.0, help="seconds the agent takes per reply")
    ap.add_argument("--repeats", type=int, default=3, help="paired repetitions (medians reported)")
    args = ap.parse_args(argv)
    check_repeats(args.repeats)
    load = Load()
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for rep in range(args.repeats):
        for variant in alternate(VARIANTS, rep):
            runs[variant].append(asyncio.run(play(variant, args)))
            load.sample()
    print(f"{args.concurrency} in flight, {args.waves} waves, {args.delay:g} s per reply; medians (min-max)")
    print(f"{'variant':<10} {'efficiency':>20} {'1st wave reset ms (max)':>24} {'later resets ms (max)':>22}")
    eff = {v: spread(r["efficiency"] for r in rs) for v, rs in runs.items()}
    for v, rs in runs.items():
        first = statistics.median(r["first_wave_reset_ms"] for r in rs)
        first_max = statistics.median(r["first_wave_reset_max_ms"] for r in rs)
        later = statistics.median(r["later_reset_ms"] for r in rs)
        later_max = statistics.median(r["later_reset_max_ms"] for r in rs)
        print(f"{v:<10} {show(eff[v], '{:.3f}'):>20} {f'{first:.0f} ({first_max:.0f})':>24} "
              f"{f'{later:.0f} ({later_max:.0f})':>22}")  # fmt: skip
    ratio = ratios([r["efficiency"] for r in runs["prewarmed"]], [r["efficiency"] for r in runs["cold"]])
    print(f"prewarmed / cold: {show(ratio, '{:.3f}')}")
    print(load.line())
    summary = {"efficiency": {v: rounded(e, 3) for v, e in eff.items()}, "ratio": rounded(ratio, 3)}
    print(json.dumps(summary | {"concurrency": args.concurrency, "delay_s": args.delay, "load": load.summary()}))


if __name__ == "__main__":
    main()
