"""A Ray Train worker takes back the CPU priority Ray's worker niceness (15) took from it, on every thread."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import threading

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def _niced_worker(queue: mp.Queue) -> None:
    """In a fresh process: start at nice 15 as Ray's workers do, with a second thread, then undo it."""
    from train.loop import undo_worker_niceness

    os.setpriority(os.PRIO_PROCESS, 0, 15)  # the main thread
    started, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def other() -> None:
        tids.append(threading.get_native_id())
        started.set()
        stop.wait()

    thread = threading.Thread(target=other)
    thread.start()  # created after the main thread was niced: it is at 15 too
    started.wait()
    before = os.getpriority(os.PRIO_PROCESS, tids[0])
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("train.loop").addHandler(handler)
    result = undo_worker_niceness(rank=0)
    after = {"main": os.getpriority(os.PRIO_PROCESS, 0), "other": os.getpriority(os.PRIO_PROCESS, tids[0])}
    stop.set()
    thread.join()
    queue.put({"before": before, "result": result, "after": after, "warnings": records})


def _can_raise_priority() -> bool:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    return os.geteuid() == 0 or soft >= 20  # RLIMIT_NICE 20 allows nice 0


def test_every_thread_of_a_niced_worker_gets_nice_0_or_the_worker_says_how_to_start_ray():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_niced_worker, args=(queue,))
    proc.start()
    got = queue.get(timeout=120)
    proc.join(timeout=30)
    assert got["before"] == 15
    if _can_raise_priority():
        assert got["result"] == 0
        assert got["after"] == {"main": 0, "other": 0}
        assert not got["warnings"]
    else:  # an unprivileged user: nothing changes, and the log says what to do
        assert got["result"] == 15 and got["after"] == {"main": 15, "other": 15}
        assert any("RAY_worker_niceness=0" in w for w in got["warnings"])


def test_a_worker_already_at_nice_0_is_left_alone():
    from train.loop import undo_worker_niceness

    if os.getpriority(os.PRIO_PROCESS, 0) > 0:
        pytest.skip(reason="the test process itself runs niced, so there is no nice-0 worker to leave alone")
    assert undo_worker_niceness(rank=0) == os.getpriority(os.PRIO_PROCESS, 0)
