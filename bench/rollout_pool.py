"""Rollout pool scaling: episodes/s of the oracle policy on the DB env with 1 and 2 Ray actors.

    .venv/bin/python bench/rollout_pool.py [--episodes 400] [--repeats 3] [--quick]

The oracle costs almost nothing, so this measures the pool's own overhead (Ray task
round trips, env construction, record writing) and how it scales with actors. A repetition
runs 1 and 2 actors once each (the order reversed every other repetition); the table gives
medians with min-max over ``--repeats`` repetitions and the load average before and after,
and the last line is the JSON ``{"episodes_per_s": {"1": {...}, "2": {...}},
"speedup_2_vs_1": {...}, "load": {...}}`` (the speed-up taken within each repetition).
``--quick``: one repetition.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._stats, run from anywhere

import envs  # noqa: E402
from bench._stats import Load, alternate, check_repeats, ratios, rounded, show, spread  # noqa: E402
from rollouts.config import PolicyConfig, PoolConfig  # noqa: E402
from rollouts.pool import make_jobs, run_rollouts  # noqa: E402

ORACLE = PolicyConfig(kind="oracle")


def fixed(actors: int) -> PoolConfig:
    return PoolConfig(min_actors=actors, max_actors=actors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of the 1- and 2-actor runs")
    ap.add_argument("--quick", action="store_true", help="smoke run: one repetition")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    check_repeats(args.repeats, args.quick)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    load = Load()
    jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "train", args.episodes))
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as d:
        run_rollouts(
            jobs[:20], policy=ORACLE, pool=fixed(2), out_path=Path(d) / "warm.jsonl", progress=False
        )  # warm-up: worker processes and imports
        for rep in range(args.repeats):
            for actors in alternate([1, 2], rep):
                s = run_rollouts(
                    jobs,
                    policy=ORACLE,
                    pool=fixed(actors),
                    out_path=Path(d) / f"a{actors}-{rep}.jsonl",
                    progress=False,
                )
                if s.finished != len(jobs) or s.success_rate != 1.0:
                    sys.exit(f"{actors} actor(s): {s.finished}/{len(jobs)} episodes, success {s.success_rate:.2f}")
                rates[actors].append(s.episodes_per_s)
                load.sample()
    ray.shutdown()
    stats = {actors: spread(rs) for actors, rs in rates.items()}
    speedup = ratios(rates[2], rates[1])
    print(f"{len(jobs)} episodes a run; medians (min-max) of {args.repeats} repetitions")
    print(f"{'actors':>6} {'episodes/s':>22}")
    for actors, s in stats.items():
        print(f"{actors:>6} {show(s, '{:.1f}'):>22}")
    print(f"speed-up of 2 actors over 1, per repetition: {show(speedup, '{:.2f}')}")
    print(load.line())
    summary = {
        "episodes_per_s": {str(a): rounded(s, 1) for a, s in stats.items()},
        "speedup_2_vs_1": rounded(speedup, 3),
        "episodes": len(jobs),
        "repeats": args.repeats,
        "load": load.summary(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
