"""The environments of one rollout actor: one per running episode, each with its own thread.

    envs_ = EnvPool(env_kwargs={"agenttune/OS-v0": {"sandbox": "bwrap"}}, recycle_after=256)
    slot = await envs_.acquire("agenttune/DB-v0")
    rec = await arun_episode(slot.env, policy, task, env_executor=slot.executor)
    envs_.release(slot, reusable=rec["status"] not in ("env_error", "timeout"))

Env steps block (SQL, a sandboxed shell), so each env runs them on its own single thread:
the actor's event loop stays free, and an env that hangs holds only its own thread. Envs
are reused across episodes and replaced after ``recycle_after`` episodes, so a leak in a
long-lived env (a growing sandbox, an open database) is bounded. An env whose episode
crashed or timed out is never reused: it is closed on a separate thread (its own thread
may still be stuck in the step) and a fresh one serves the next episode.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class EnvSlot:
    env_id: str
    env: Any
    executor: ThreadPoolExecutor
    uses: int = 0


class EnvPool:
    def __init__(self, env_kwargs: dict[str, dict[str, Any]] | None = None, *, recycle_after: int = 256):
        if recycle_after < 1:
            raise ValueError(f"recycle_after must be >= 1, got {recycle_after}")
        self.env_kwargs = env_kwargs or {}
        self.recycle_after = recycle_after
        self._idle: dict[str, list[EnvSlot]] = defaultdict(list)
        self._busy = 0
        self.created = 0
        self.recycled = 0  # closed after recycle_after episodes
        self.discarded = 0  # closed after a crash or a timeout
        self.prewarmed = 0  # made (and warmed up) before the first episode

    async def acquire(self, env_id: str) -> EnvSlot:
        """An idle env for ``env_id``, or a new one (built on its own thread)."""
        slot = self._idle[env_id].pop() if self._idle[env_id] else await self._new_slot(env_id)
        slot.uses += 1
        self._busy += 1
        return slot

    async def prewarm(self, counts: dict[str, int], timeout_s: float = 120.0) -> None:
        """Make ``counts[env_id]`` idle envs of each id and warm them up (``env.warm_up(timeout_s)`` where an env
        has one: the OS env starts its first sandbox), all at once, before any episode needs them. An env that
        fails to be made is skipped: the episode that needs it reports the error."""

        async def make(env_id: str) -> EnvSlot | None:
            try:
                slot = await self._new_slot(env_id, warm_up_s=timeout_s)
            except Exception:  # noqa: BLE001 - reported by the episode that needs the env
                log.warning("prewarming %s failed", env_id, exc_info=True)
                return None
            self.prewarmed += 1
            return slot

        slots = await asyncio.gather(*(make(env_id) for env_id, n in counts.items() for _ in range(n)))
        for slot in slots:
            if slot is not None:
                self._idle[slot.env_id].append(slot)

    async def _new_slot(self, env_id: str, warm_up_s: float | None = None) -> EnvSlot:
        """A new env on its own thread; warmed up (see ``prewarm``) when ``warm_up_s`` is given."""
        import envs

        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"env-{env_id.rsplit('/', 1)[-1]}")
        loop = asyncio.get_running_loop()
        make = functools.partial(envs.make_env, env_id, **self.env_kwargs.get(env_id, {}))
        try:
            env = await loop.run_in_executor(executor, make)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        slot = EnvSlot(env_id, env, executor)
        warm_up = getattr(env.unwrapped, "warm_up", None)
        if warm_up_s is not None and warm_up is not None:
            try:
                await loop.run_in_executor(executor, warm_up, warm_up_s)
            except BaseException:
                _close_in_background(slot)  # closes the env, then ends its thread
                raise
        self.created += 1
        return slot

    def release(self, slot: EnvSlot, *, reusable: bool) -> None:
        """Return ``slot`` after an episode; ``reusable=False`` after a crash or a timeout."""
        self._busy -= 1
        if reusable and slot.uses < self.recycle_after:
            self._idle[slot.env_id].append(slot)
            return
        if reusable:
            self.recycled += 1
        else:
            self.discarded += 1
        _close_in_background(slot)

    def close(self, timeout_s: float = 0.0) -> None:
        """Close every idle env in the background; wait up to ``timeout_s`` for them to finish closing."""
        threads = [_close_in_background(slot) for slots in self._idle.values() for slot in slots]
        self._idle.clear()
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stats(self) -> dict[str, int]:
        idle = sum(len(s) for s in self._idle.values())
        return {
            "idle": idle,
            "busy": self._busy,
            "created": self.created,
            "recycled": self.recycled,
            "discarded": self.discarded,
            "prewarmed": self.prewarmed,
        }


def _close_in_background(slot: EnvSlot) -> threading.Thread:
    # Not on the slot's own thread: after a timeout that thread may still be inside the hung step,
    # and closing the env (killing its sandbox) is what frees it.
    def close() -> None:
        try:
            slot.env.close()
        except Exception:  # noqa: BLE001 - a failing close must not take the actor down
            log.warning("closing %s failed", slot.env_id, exc_info=True)
        slot.executor.shutdown(wait=False)

    thread = threading.Thread(target=close, name=f"close-{slot.env_id}", daemon=True)
    thread.start()
    return thread
