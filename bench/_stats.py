"""What every bench reports: medians of paired repetitions, their spread, and how busy the machine was.

    from bench._stats import Load, spread, show

    load = Load()                      # /proc/loadavg now, and the number of CPUs
    for rep in range(repeats):
        ...                            # one paired repetition: every variant once, the order alternating
        load.sample()
    s = spread([r["rate"] for r in reps])    # {"median": m, "min": lo, "max": hi, "n": k}
    print(show(s, "{:.2f}"))           # "12.31 (11.90-12.80)"
    summary = {..., "load": load.summary()}

A figure on a shared 2-core machine moves with whatever else runs; a median of at least three repetitions, with
the min-max beside it and the load average before, during and after, says how far to trust it. Ratios of two
variants are taken per repetition (both sides of a pair see the same spell of load), then summarised.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MIN_REPEATS = 3
LOADAVG = Path("/proc/loadavg")


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max of ``values`` (and how many)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("spread() of no values: the bench measured nothing")
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratios(num: Sequence[float], den: Sequence[float]) -> dict[str, float]:
    """The spread of per-repetition ratios ``num[i] / den[i]`` (paired: the same repetition on both sides)."""
    if len(num) != len(den):
        raise ValueError(f"paired ratios need as many values on each side: {len(num)} against {len(den)}")
    return spread(n / d for n, d in zip(num, den, strict=True))


def show(s: dict[str, float], fmt: str = "{:.3g}") -> str:
    """``median (min-max)``; a single value alone."""
    if s["n"] == 1:
        return fmt.format(s["median"])
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def rounded(s: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {k: (round(v, digits) if k != "n" else int(v)) for k, v in s.items()}


def read_loadavg(path: Path = LOADAVG) -> dict[str, Any]:
    """The kernel's load averages and run queue, from ``/proc/loadavg`` (``os.getloadavg`` where it is absent)."""
    try:
        fields = path.read_text().split()
        running, total = (int(x) for x in fields[3].split("/"))
        return {"1m": float(fields[0]), "5m": float(fields[1]), "15m": float(fields[2]), "running": running}
    except (OSError, IndexError, ValueError):
        one, five, fifteen = os.getloadavg()
        return {"1m": one, "5m": five, "15m": fifteen, "running": None}


class Load:
    """Load-average samples over a bench: one at creation ("before"), one per ``sample()``; the last is "after"."""

    def __init__(self, path: Path = LOADAVG):
        self.path = path
        self.cpus = os.cpu_count() or 1
        self.samples = [read_loadavg(path)]

    def sample(self) -> dict[str, Any]:
        s = read_loadavg(self.path)
        self.samples.append(s)
        return s

    def summary(self) -> dict[str, Any]:
        ones = [s["1m"] for s in self.samples]
        return {
            "cpus": self.cpus,
            "before_1m": ones[0],
            "after_1m": ones[-1],
            "min_1m": min(ones),
            "max_1m": max(ones),
            "samples": len(ones),
        }

    def line(self) -> str:
        s = self.summary()
        text = (
            f"load average (1 min) {s['before_1m']:.2f} before, {s['after_1m']:.2f} after, "
            f"{s['min_1m']:.2f}-{s['max_1m']:.2f} over {s['samples']} samples, on {s['cpus']} CPUs"
        )
        if s["before_1m"] > 0.5 * s["cpus"]:
            text += " (busy before the bench started: other work shares the CPUs, figures are slower and wider)"
        return text


def check_repeats(repeats: int, quick: bool = False) -> None:
    """Medians need three repetitions; fewer only for a smoke run (``--quick``), which says so."""
    if repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {repeats}")
    if repeats < MIN_REPEATS and not quick:
        raise SystemExit(
            f"--repeats {repeats}: the reported figures are medians of at least {MIN_REPEATS} repetitions; "
            "pass --quick to smoke-test with fewer"
        )


def alternate(variants: Sequence[str], rep: int) -> list[str]:
    """The order of the variants in repetition ``rep``: reversed every other time, so a slow spell of the
    machine at the start or end of a repetition falls on each variant alike."""
    return list(variants) if rep % 2 == 0 else list(reversed(variants))
