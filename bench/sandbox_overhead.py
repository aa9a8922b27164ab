"""Sandbox overhead: per-command latency in a persistent sandboxed shell vs a plain subprocess, and start-up cost.

    .venv/bin/python bench/sandbox_overhead.py [--runs 200]

Medians over ``--runs`` runs each. The last line is JSON: ``per_command_ms`` (``/bin/true`` run by the
sandbox's persistent shell, round trip: a fork + exec inside), ``builtin_ms`` (the shell builtin ``true``:
the protocol's own cost), ``plain_ms`` (``subprocess.run(["/bin/true"])`` outside any sandbox),
``start_ms`` (a fresh sandbox up to its first prompt) and ``close_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time

from envs.sandbox import Sandbox, SandboxConfig, probe


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    found = probe()
    per_command, builtin, plain, start, close = [], [], [], [], []
    with Sandbox(SandboxConfig()) as box:
        for command, samples in (("/bin/true", per_command), ("true", builtin)):
            for _ in range(args.runs):
                t = time.perf_counter()
                box.run(command)
                samples.append(time.perf_counter() - t)
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        plain.append(time.perf_counter() - t)
    for _ in range(args.runs):
        box = Sandbox(SandboxConfig()).start()
        start.append(box.start_s)
        t = time.perf_counter()
        box.close()
        close.append(time.perf_counter() - t)
    result = {
        "per_command_ms": median_ms(per_command),
        "builtin_ms": median_ms(builtin),
        "plain_ms": median_ms(plain),
        "start_ms": median_ms(start),
        "close_ms": median_ms(close),
        "runs": args.runs,
        "cgroup": found["cgroup"],
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    summary = ", ".join(f"{key} {value}" for key, value in result.items())
    print(f"sandbox overhead: {summary}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
