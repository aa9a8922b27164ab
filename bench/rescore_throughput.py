"""Re-scoring throughput: recorded oracle episodes replayed in today's envs (``agenttune rescore``), per env and
number of replays in flight.

    .venv/bin/python bench/rescore_throughput.py [--episodes 200] [--os-episodes 64] [--concurrency 1,8,32]
        [--repeats 3] [--quick]

The episodes are played first, in this process, as a rollout actor plays them; then each concurrency re-grades
the same file (``rollouts.rescore.run_rescore_stage``, one process, one thread per env), ``--repeats`` times, the
order of the concurrencies reversed every other time. OS runs in the bubblewrap sandbox. Every replay must come
back ``unchanged`` (same actions, same grader): the bench says so. The table gives medians with min-max and the
load average before and after; the last line is JSON: ``{"episodes_per_s": {env: {concurrency: {"median", "min",
"max", "n"}}}, "load": {...}}``. ``--quick``: one repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._stats, run from anywhere

from bench._stats import Load, alternate, check_repeats, rounded, show, spread  # noqa: E402
from envs.config import EnvSelection, env_kwargs, select_tasks  # noqa: E402
from rollouts.config import PolicyConfig  # noqa: E402
from rollouts.pool import RolloutActor, make_jobs  # noqa: E402
from rollouts.records import JsonlWriter  # noqa: E402
from rollouts.rescore import rescored_path, run_rescore_stage  # noqa: E402

ENVS = ("agenttune/DB-v0", "agenttune/KG-v0", "agenttune/Household-v0", "agenttune/WebShop-v0", "agenttune/OS-v0")


def roll_out(sel: EnvSelection, path: Path, sandbox: str) -> int:
    actor = RolloutActor(PolicyConfig(kind="oracle"), 120.0, env_kwargs([sel], sandbox), 256)

    async def play() -> list[dict]:
        return list(await asyncio.gather(*(actor.run(job) for job in make_jobs(select_tasks(sel)))))

    records = asyncio.run(play())
    actor.envs.close()
    with JsonlWriter(path) as writer:
        for rec in records:
            writer.write(rec)
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--os-episodes", type=int, default=64)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=3, help="re-gradings of each file at each concurrency")
    parser.add_argument("--quick", action="store_true", help="smoke run: one repetition")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    check_repeats(args.repeats, args.quick)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    load = Load()
    results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for env_id in ENVS:
            sandbox = "bwrap" if env_id == "agenttune/OS-v0" else "none"
            n = args.os_episodes if sandbox == "bwrap" else args.episodes
            sel = EnvSelection(id=env_id, num_tasks=n)
            path = Path(tmp) / f"{env_id.replace('/', '_')}.jsonl"
            played = roll_out(sel, path, sandbox)
            rates: dict[int, list[float]] = {c: [] for c in concurrencies}
            differing = 0
            for rep in range(args.repeats):
                for concurrency in alternate(concurrencies, rep):
                    t = time.perf_counter()
                    report = run_rescore_stage(
                        [sel],
                        trajectories=path,
                        out=rescored_path(path),
                        sandbox=sandbox,
                        concurrency=concurrency,
                        progress=False,
                    ).report
                    rates[concurrency].append(played / (time.perf_counter() - t))
                    if report["unchanged"] != played:
                        differing += 1
                        print(f"{env_id} at {concurrency} in flight: NOT ALL UNCHANGED: {report}")
            load.sample()
            results[env_id] = {c: spread(r) for c, r in rates.items()}
            cells = ", ".join(f"{c} in flight {show(s, '{:.1f}')}" for c, s in results[env_id].items())
            same = "all unchanged" if not differing else f"{differing} replays NOT ALL UNCHANGED"
            print(f"{env_id:24} {played:4} episodes ({same}), ep/s, median (min-max) of {args.repeats}: {cells}")
    print(load.line())
    summary = {"episodes_per_s": {e: {c: rounded(s, 1) for c, s in r.items()} for e, r in results.items()}}
    print(json.dumps(summary | {"repeats": args.repeats, "load": load.summary()}))


if __name__ == "__main__":
    main()
