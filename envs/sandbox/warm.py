"""Warm sandboxes: the next episode's sandbox is started while this episode runs, off its critical path.

    warm = WarmSandboxes(lambda: make_sandbox("bwrap", config), size=1)
    box = warm.take()     # a started sandbox that no episode has used; the next one starts in the background
    ...                   # the episode runs in it
    warm.retire(box)      # closed in the background: its processes killed, its layer dropped
    warm.close()          # closes every sandbox it started; safe to call twice
    warm.warm_up(60)      # before the first take: start them now and wait (a rollout actor's prewarm)

A sandbox is handed out once and never again: every episode still gets a fresh, clean layer. Starts and
closes run on one background thread per pool (a Ray actor's envs each hold one pool, so an actor keeps
``size`` sandboxes ready per env). The sandboxes started here outlive no ``close``, and since bubblewrap dies
with the thread that started it (``--die-with-parent``), that thread lives until ``close``.

Background starts and closes yield to episodes: while any env of this process does an episode's work (inside
``foreground()``: a reset's set-up, a command, the grading), they wait, up to ``BACKGROUND_MAX_WAIT_S``, and run
while the episodes wait on the policy instead. Episodes in step (a rollout actor's first wave, a fixed-latency
endpoint) otherwise pay for 64 sandbox starts and closes inside the burst of their own set-ups and gradings:
measured with ``bench/rollout_throughput.py`` at 64 OS episodes in flight on 2 cores, 0.828 of the ideal rate
without this and 0.862 with it (medians of 5, back to back). A ``take`` that needs a start still waiting has it
run at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from envs.sandbox.errors import SandboxError
from envs.sandbox.shell import ShellBox

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKGROUND_MAX_WAIT_S = 2.0  # a background start or close waits no longer than this for the episodes' work
_episodes = threading.Condition()
_episode_work = 0  # calls inside foreground() now, in this process


@contextmanager
def foreground() -> Iterator[None]:
    """Marks an episode's own work in this process; the warm pools' background work waits while any runs."""
    global _episode_work
    with _episodes:
        _episode_work += 1
    try:
        yield
    finally:
        with _episodes:
            _episode_work -= 1
            if not _episode_work:
                _episodes.notify_all()


class WarmSandboxes:
    """Keeps ``size`` started sandboxes from ``factory`` ready; ``size=0`` starts each one at ``take``."""

    def __init__(self, factory: Callable[[], ShellBox], size: int = 1) -> None:
        if size < 0:
            raise SandboxError(f"warm sandboxes: size must be 0 or more, got {size}")
        self._factory, self.size = factory, size
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agenttune-warm-sandbox")
        self._ready: deque[Future[ShellBox]] = deque()
        self._urgent = threading.Event()  # a take waits on this pool's thread: what is queued there runs at once
        self.warm_takes = self.cold_takes = self.failed_starts = 0

    def take(self) -> ShellBox:
        """A started sandbox no one has used. A background start that failed is retried here, in the foreground
        (so a real fault raises ``SandboxError`` from the episode that needs the sandbox)."""
        if self._thread is None:
            raise SandboxError("the warm sandbox pool is closed")
        self._fill()
        if not self._ready:
            self.cold_takes += 1
            return self._start()
        future = self._ready.popleft()
        self._fill()  # the next episode's sandbox: started in the background once the episodes let it
        warm = future.done()
        if not warm:
            self._hurry()
        try:
            box = future.result()
        except SandboxError as error:
            self.failed_starts += 1
            log.warning("a warm sandbox failed to start (%s); starting one now", error)
            self.cold_takes += 1
            return self._start()
        finally:
            self._urgent.clear()
        self.warm_takes += warm
        self.cold_takes += not warm
        return box

    def warm_up(self, timeout_s: float) -> int:
        """Start ``size`` sandboxes now (before the first ``take``) and wait up to ``timeout_s`` for them; returns
        how many are ready. A start that fails here is retried at ``take``."""
        self._fill()
        self._hurry()
        try:
            wait(list(self._ready), timeout=timeout_s)
        finally:
            self._urgent.clear()
        return sum(f.done() and f.exception() is None for f in self._ready)

    def retire(self, box: ShellBox) -> None:
        """Close ``box`` on the background thread (or here, once the pool is closed)."""
        if self._thread is None:
            box.close()
        else:
            self._thread.submit(self._in_background, box.close)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        ready, self._ready = self._ready, deque()
        self._hurry()  # what is queued on the thread runs now, and the thread can end
        for future in ready:
            if not future.cancel():  # started or starting: closed on the thread that started it, after its start
                thread.submit(_close_started, future)
        # Only then may the thread end: bubblewrap dies with the thread that started it, and a bwrap killed that
        # way leaves its sandbox's pid 1 a zombie wherever the host's init does not reap orphans.
        thread.shutdown(wait=True)

    def _fill(self) -> None:
        while self._thread is not None and len(self._ready) < self.size:
            self._ready.append(self._thread.submit(self._in_background, self._start))

    def _in_background(self, work: Callable[[], T]) -> T:
        """Run ``work`` once no episode's work runs in this process (or ``BACKGROUND_MAX_WAIT_S`` has passed, or
        a take or close hurries this pool)."""
        deadline = time.monotonic() + BACKGROUND_MAX_WAIT_S
        with _episodes:
            while _episode_work and not self._urgent.is_set() and (left := deadline - time.monotonic()) > 0:
                _episodes.wait(left)
        return work()

    def _hurry(self) -> None:
        self._urgent.set()
        with _episodes:
            _episodes.notify_all()

    def _start(self) -> ShellBox:
        return self._factory().start()


def _close_started(future: Future[ShellBox]) -> None:
    try:
        box = future.result()
    except SandboxError:
        return
    box.close()
