"""The benches' shared reporting: medians and spreads, paired ratios, the load average, CPU by process."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from bench import _procs
from bench._stats import Load, alternate, check_repeats, ratios, read_loadavg, rounded, show, spread


def test_spread_is_median_min_max_and_count():
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    assert spread(iter([5])) == {"median": 5.0, "min": 5.0, "max": 5.0, "n": 1}
    with pytest.raises(ValueError, match="measured nothing"):
        spread([])


def test_ratios_are_taken_per_repetition_then_summarised():
    # Repetition 2 ran under load on both sides: its pair still gives the same ratio.
    assert ratios([10.0, 5.0, 9.0], [8.0, 4.0, 10.0]) == {"median": 1.25, "min": 0.9, "max": 1.25, "n": 3}
    with pytest.raises(ValueError, match="as many values"):
        ratios([1.0, 2.0], [1.0])


def test_show_and_rounded():
    assert show({"median": 0.9123, "min": 0.8, "max": 0.95, "n": 3}, "{:.2f}") == "0.91 (0.80-0.95)"
    assert show({"median": 2.0, "min": 2.0, "max": 2.0, "n": 1}, "{:.1f}") == "2.0"
    assert rounded({"median": 0.123456, "min": 0.1, "max": 0.2, "n": 3}, 3) == {
        "median": 0.123,
        "min": 0.1,
        "max": 0.2,
        "n": 3,
    }


def test_load_reads_proc_loadavg_before_and_after(tmp_path: Path):
    fake = tmp_path / "loadavg"
    fake.write_text("0.50 0.40 0.30 1/200 1234\n")
    load = Load(fake)
    fake.write_text("3.25 1.00 0.50 4/210 1300\n")
    load.sample()
    fake.write_text("1.75 1.10 0.60 2/205 1310\n")
    load.sample()
    s = load.summary()
    assert (s["before_1m"], s["after_1m"], s["min_1m"], s["max_1m"], s["samples"]) == (0.5, 1.75, 0.5, 3.25, 3)
    assert s["cpus"] == os.cpu_count()
    assert "0.50 before, 1.75 after" in load.line()
    assert read_loadavg(fake) == {"1m": 1.75, "5m": 1.1, "15m": 0.6, "running": 2}


def test_load_says_when_the_machine_was_busy_before(tmp_path: Path):
    fake = tmp_path / "loadavg"
    fake.write_text(f"{4.0 * (os.cpu_count() or 1)} 1 1 1/1 1\n")
    assert "busy before the bench started" in Load(fake).line()


def test_repeats_below_three_need_quick():
    check_repeats(3)
    check_repeats(1, quick=True)
    with pytest.raises(SystemExit, match="at least 3"):
        check_repeats(2)
    with pytest.raises(SystemExit, match="at least 1"):
        check_repeats(0, quick=True)


def test_alternate_reverses_every_other_repetition():
    assert [alternate("abc", r) for r in range(3)] == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_sampler_charges_a_busy_child_to_its_kind():
    with _procs.CpuSampler(interval_s=0.1, kind=lambda pid, name: "burner", detail=("burner",)) as cpu:
        t0 = time.time()
        child = mp.get_context("spawn").Process(target=_burn, args=(1.0,))
        child.start()
        child.join()
        time.sleep(0.2)
        t1 = time.time()
    share = cpu.between(t0, t1)
    assert share["burner"] > 0.2  # a second of CPU over a window of a few seconds
    assert share["machine"] >= share["burner"] - 0.05
    assert share["others"] >= 0.0
    assert cpu.facts and all(f["kind"] == "burner" for f in cpu.facts.values())
    assert cpu.between(t1 + 100, t1 + 200) == {}  # no samples there: nothing, rather than a guess


def test_thread_cpu_names_the_main_thread():
    _burn(0.05)
    threads = _procs.task_cpu(os.getpid())
    assert threads["main"] > 0.0
    assert _procs.default_kind(os.getpid(), "python") == "python"  # not a Ray or deepspeed process


def test_process_kinds_from_command_lines():
    raylet = "/v/ray/core/src/ray/raylet/raylet --python_worker_command=/v/bin/python /v/default_worker.py --x"
    assert _procs.kind_of(raylet, "raylet") == "raylet"
    assert _procs.kind_of("/v/bin/python /v/ray/_private/workers/default_worker.py --a", "python") == "ray idle worker"
    assert _procs.kind_of("ray::RayTrainWorker.__execute", "ray::RayTrainWo") == "ray::RayTrainWorker"
    assert _procs.kind_of("ray::RolloutActor", "ray::RolloutAct") == "ray::RolloutActor"
    assert _procs.kind_of("/v/bin/python -u -m train.launcher --train-config t.json", "python") == "deepspeed rank"
    assert _procs.kind_of("/v/bin/python -u /v/ray/_private/log_monitor.py --x", "python") == "log_monitor"
    assert _procs.kind_of("", "python") == ""  # unreadable: the sampler keeps the kind it knew
