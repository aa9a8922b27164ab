"""Re-scoring throughput: recorded oracle episodes replayed in today's envs (``agenttune rescore``), per env and
number of replays in flight.

    .venv/bin/python bench/rescore_throughput.py [--episodes 200] [--os-episodes 64] [--concurrency 1,8,32]

The episodes are played first, in this process, as a rollout actor plays them; then each concurrency re-grades
the same file (``rollouts.rescore.run_rescore_stage``, one process, one thread per env). OS runs in the bubblewrap
sandbox. Every replay must come back ``unchanged`` (same actions, same grader): the bench says so. The last line
is JSON: ``{env: {concurrency: episodes_per_s}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from envs.config import EnvSelection, env_kwargs, select_tasks
from rollouts.config import PolicyConfig
from rollouts.pool import RolloutActor, make_jobs
from rollouts.records import JsonlWriter
from rollouts.rescore import rescored_path, run_rescore_stage

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--os-episodes", type=int, default=64)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    results: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for env_id in ENVS:
            sandbox = "bwrap" if env_id == "agenttune/OS-v0" else "none"
            n = args.os_episodes if sandbox == "bwrap" else args.episodes
            sel = EnvSelection(id=env_id, num_tasks=n)
            path = Path(tmp) / f"{env_id.replace('/', '_')}.jsonl"
            played = roll_out(sel, path, sandbox)
            results[env_id] = {}
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                t = time.perf_counter()
                report = run_rescore_stage(
                    [sel],
                    trajectories=path,
                    out=rescored_path(path),
                    sandbox=sandbox,
                    concurrency=concurrency,
                    progress=False,
                ).report
                wall = time.perf_counter() - t
                results[env_id][concurrency] = round(played / wall, 1)
                same = "all unchanged" if report["unchanged"] == played else f"NOT ALL UNCHANGED: {report}"
                print(
                    f"{env_id:24} {played:4} episodes, {concurrency:3} in flight: {wall:6.2f} s, "
                    f"{played / wall:7.1f} ep/s ({same})"
                )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
