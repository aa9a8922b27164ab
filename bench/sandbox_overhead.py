"""Sandbox overhead: per-command latency in a persistent sandboxed shell vs a plain subprocess, and start-up cost.

    .venv/bin/python bench/sandbox_overhead.py [--runs 200] [--repeats 3] [--quick]

Each repetition takes ``--runs`` samples of each measure (the repetitions' order of the measures reversed every
other time) and keeps their median; the table gives the median of those medians with their min-max over
``--repeats`` repetitions, and the load average before and after. The last line is JSON: ``per_command_ms``
(``/bin/true`` run by the sandbox's persistent shell, round trip: a fork + exec inside), ``builtin_ms`` (the shell
builtin ``true``: the protocol's own cost), ``plain_ms`` (``subprocess.run(["/bin/true"])`` outside any sandbox),
``start_ms`` (a fresh sandbox up to its first prompt) and ``close_ms``, each ``{"median", "min", "max", "n"}``.
``--quick``: one repetition of 50 runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._stats, run from anywhere

from bench._stats import Load, alternate, check_repeats, rounded, show, spread  # noqa: E402
from envs.sandbox import Sandbox, SandboxConfig, probe  # noqa: E402

MEASURES = ("per_command", "builtin", "plain", "start_close")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def one_repetition(runs: int, order: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for measure in order:
        if measure in ("per_command", "builtin"):
            command = "/bin/true" if measure == "per_command" else "true"
            samples = []
            with Sandbox(SandboxConfig()) as box:
                for _ in range(runs):
                    t = time.perf_counter()
                    box.run(command)
                    samples.append(time.perf_counter() - t)
            out[measure] = median_ms(samples)
        elif measure == "plain":
            samples = []
            for _ in range(runs):
                t = time.perf_counter()
                subprocess.run(["/bin/true"], check=True)
                samples.append(time.perf_counter() - t)
            out["plain"] = median_ms(samples)
        else:
            start, close = [], []
            for _ in range(runs):
                box = Sandbox(SandboxConfig()).start()
                start.append(box.start_s)
                t = time.perf_counter()
                box.close()
                close.append(time.perf_counter() - t)
            out["start"], out["close"] = median_ms(start), median_ms(close)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="samples of each measure per repetition")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (medians of the medians reported)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one repetition of 50 runs")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.runs = 1, min(args.runs, 50)
    check_repeats(args.repeats, args.quick)
    found = probe()
    load = Load()
    reps = []
    for rep in range(args.repeats):
        reps.append(one_repetition(args.runs, alternate(MEASURES, rep)))
        load.sample()
    keys = ("per_command", "builtin", "plain", "start", "close")
    stats = {f"{k}_ms": spread(r[k] for r in reps) for k in keys}
    print(f"sandbox overhead, ms: medians of {args.runs} runs, then median (min-max) over {args.repeats} repetitions")
    for name, s in stats.items():
        print(f"  {name:<16} {show(s, '{:.3f}')}")
    print(load.line())
    result = {name: rounded(s, 3) for name, s in stats.items()}
    result |= {"runs": args.runs, "repeats": args.repeats, "cgroup": found["cgroup"], "load": load.summary()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
