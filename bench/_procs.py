"""Where the CPU went during a bench run: this process tree, by kind of process, against the whole machine.

    with CpuSampler(kind=ray_kind) as cpu:       # samples every descendant's CPU time, and /proc/stat
        ...run...
    share = cpu.between(t0, t1)                  # {"ray::RayTrainWorker": 1.71, "raylet": 0.05, ...,
                                                 #  "machine": 1.95, "others": 0.12}: cores busy on average

Linux only (/proc). The figures are cores: CPU seconds per wall second in the window, averaged; "machine" is
every CPU's busy time from /proc/stat, "others" what the machine spent outside this process tree.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(stat_path: Path) -> tuple[str, float] | None:
    """(name, user + system CPU seconds) from a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file."""
    try:
        text = stat_path.read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def machine_busy_seconds() -> float:
    """All CPUs' busy seconds since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def thread_cpu(pid: int | str = "self") -> dict[str, float]:
    """CPU seconds of every thread of a process so far, summed by thread name."""
    out: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").glob("*"):
        if (got := cpu_seconds(task / "stat")) is not None:
            out[got[0]] += got[1]
    return dict(out)


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (children, their children, ...), from /proc's parent links."""
    children: dict[int, list[int]] = defaultdict(list)
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(d.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def default_kind(pid: int, name: str) -> str:
    """A process's kind, for grouping: Ray names its workers ``ray::<Class>``; daemons by program name; "" when
    its command line cannot be read."""
    return kind_of(cmdline(pid), name)


def kind_of(line: str, name: str) -> str:
    """The kind of a process with command line ``line`` and kernel name ``name`` (see ``default_kind``)."""
    if not line:
        return ""  # gone, or a zombie: the caller keeps what it knew
    if line.startswith("ray::"):  # "ray::Class" when idle, "ray::Class.method" while it runs one: the class
        return line.split()[0].split(".")[0]
    program = line.split()[0].rsplit("/", 1)[-1]
    if program in ("raylet", "gcs_server"):  # before the next test: the raylet's flags name default_worker.py
        return program
    if "default_worker.py" in line:  # a Ray worker before it takes a task or actor (it names the raylet too)
        return "ray idle worker"
    if " -m train.launcher" in line:
        return "deepspeed rank"
    for daemon in ("dashboard/agent", "runtime_env/agent", "log_monitor", "monitor.py"):
        if daemon in line:
            return daemon.split("/")[0] if daemon != "runtime_env/agent" else "runtime_env agent"
    return name


class CpuSampler:
    """Samples the CPU time of this process and all its descendants, and the machine's, every ``interval_s``."""

    def __init__(
        self,
        interval_s: float = 0.5,
        kind: Callable[[int, str], str] = default_kind,
        detail: tuple[str, ...] = (),
    ):
        """``detail``: kinds of process whose threads are sampled too, and whose facts (environment, threads,
        CPU affinity) are read once (``facts``)."""
        self.interval_s, self.kind, self.detail = interval_s, kind, detail
        self.facts: dict[int, dict[str, Any]] = {}
        self.threads: list[tuple[float, dict[int, dict[str, float]]]] = []  # (time, pid -> thread -> cpu)
        self.root = os.getpid()
        self.samples: list[tuple[float, float, dict[int, tuple[str, float]]]] = []  # (time, machine, pid -> ...)
        self._kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._own_cpu = 0.0
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._own_cpu = time.thread_time()  # what sampling itself costs, charged apart from the bench driver
            self._stop.wait(self.interval_s)

    def _take(self) -> None:
        procs: dict[int, tuple[str, float]] = {}
        for pid in [self.root, *descendants(self.root)]:
            got = cpu_seconds(Path(f"/proc/{pid}/stat"))
            if got is None:
                continue
            # Asked every time: a Ray worker renames itself when it takes an actor. A process on its way out has
            # no command line any more: it keeps the kind it had.
            if pid == self.root:
                self._kinds[pid] = "bench driver"
            elif (kind := self.kind(pid, got[0])) or pid not in self._kinds:
                self._kinds[pid] = kind or got[0]
            procs[pid] = (self._kinds[pid], got[1])
        now = time.time()
        detailed = {pid: task_cpu(pid) for pid, (kind, _) in procs.items() if kind in self.detail}
        for pid in detailed:  # the thread count grows as the process starts its pools
            self.facts[pid] = process_facts(pid) | {"kind": procs[pid][0]}
        procs[-1] = ("cpu sampler", self._own_cpu)  # not a pid: this thread, inside the bench driver
        self.samples.append((now, machine_busy_seconds(), procs))
        self.threads.append((now, detailed))

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """Average cores busy per kind of process between wall-clock times ``t0`` and ``t1`` (the samples
        nearest inside the window), plus "machine" and "others"."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {}
        (a_t, a_m, a_p), (b_t, b_m, _) = inside[0], inside[-1]
        wall = b_t - a_t
        last: dict[int, tuple[str, float]] = {}
        for _, _, procs in inside:  # a process that ended in the window keeps what it had used by then
            last |= procs
        by_kind: dict[str, float] = defaultdict(float)
        for pid, (kind, cpu) in last.items():
            by_kind[kind] += cpu - a_p.get(pid, (kind, 0.0))[1]  # a process born in the window counts from 0
        if "bench driver" in by_kind:  # the sampler's thread runs in the driver: its CPU is shown apart
            by_kind["bench driver"] -= by_kind.get("cpu sampler", 0.0)
        out: dict[str, Any] = {k: v / wall for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])}
        out["machine"] = (b_m - a_m) / wall
        out["others"] = max(0.0, out["machine"] - sum(by_kind.values()) / wall)
        return out

    def threads_between(self, t0: float, t1: float) -> dict[str, dict[str, float]]:
        """Average cores busy per thread of each detailed process between ``t0`` and ``t1``, keyed by the
        process's kind and pid; threads by name, "main" for the main thread."""
        inside = [s for s in self.threads if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {}
        (a_t, a), (b_t, b) = inside[0], inside[-1]
        out = {}
        for pid, threads in b.items():
            before = a.get(pid, {})
            busy = {name: (cpu - before.get(name, 0.0)) / (b_t - a_t) for name, cpu in threads.items()}
            out[f"{self._kinds.get(pid, pid)} {pid}"] = dict(sorted(busy.items(), key=lambda kv: -kv[1]))
        return out


def task_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid``, summed by name; the main thread is "main", and Python threads
    (which keep the process's name on Python 3.11) are "python threads"."""
    out: dict[str, float] = defaultdict(float)
    main = None
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        got = cpu_seconds(task / "stat")
        if got is None:
            continue
        if task.name == str(pid):
            main = got[0]
            out["main"] += got[1]
        else:
            out[got[0]] += got[1]
    if main is not None and main in out:
        out["python threads"] = out.pop(main)
    return dict(out)


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_AFFINITY", "GOMP_CPU_AFFINITY")


def process_facts(pid: int) -> dict[str, Any]:
    """What sets a process's thread use, read from outside: thread-count variables, threads, CPU affinity."""
    facts: dict[str, Any] = {}
    try:
        env = dict(
            kv.split("=", 1)
            for kv in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
            if "=" in kv
        )
        facts["env"] = {k: env[k] for k in THREAD_VARS if k in env}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Threads", "Cpus_allowed_list"):
                facts[key.lower()] = value.strip()
    except OSError:
        pass
    return facts
