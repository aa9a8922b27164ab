"""Rollout pool scaling: episodes/s of the oracle policy on the DB env with 1 and 2 Ray actors.

    .venv/bin/python bench/rollout_pool.py [--episodes 400]

The oracle costs almost nothing, so this measures the pool's own overhead (Ray task
round trips, env construction, record writing) and how it scales with actors. Prints a
table, then the speed-up of 2 actors over 1 as the last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import ray

import envs
from rollouts.config import PolicyConfig, PoolConfig
from rollouts.pool import make_jobs, run_rollouts

ORACLE = PolicyConfig(kind="oracle")


def fixed(actors: int) -> PoolConfig:
    return PoolConfig(min_actors=actors, max_actors=actors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=400)
    args = ap.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "train", args.episodes))
    rates = {}
    with tempfile.TemporaryDirectory() as d:
        run_rollouts(
            jobs[:20], policy=ORACLE, pool=fixed(2), out_path=Path(d) / "warm.jsonl", progress=False
        )  # warm-up: worker processes and imports
        for actors in (1, 2):
            s = run_rollouts(
                jobs,
                policy=ORACLE,
                pool=fixed(actors),
                out_path=Path(d) / f"a{actors}.jsonl",
                progress=False,
            )
            assert s.finished == len(jobs) and s.success_rate == 1.0
            rates[actors] = s.episodes_per_s
    print(f"{'actors':>6} {'episodes':>9} {'episodes/s':>11}")
    for actors, rate in rates.items():
        print(f"{actors:>6} {len(jobs):>9} {rate:>11.1f}")
    print(json.dumps({"episodes_per_s": rates, "speedup_2_vs_1": rates[2] / rates[1]}))


if __name__ == "__main__":
    main()
