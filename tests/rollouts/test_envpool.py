"""One actor's envs: reused across episodes, replaced after ``recycle_after``, never reused after a fault."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rollouts.envpool import EnvPool
from rollouts.episode import arun_episode
from rollouts.policies.oracle import OraclePolicy
from tests.rollouts import fault_envs


@pytest.fixture(autouse=True)
def faulty_env_registered():
    with fault_envs.registered():
        yield


def play(pool: EnvPool, behaviours: list[str], timeout_s: float = 5.0) -> list[dict]:
    async def one(task):
        slot = await pool.acquire(task.env_id)
        rec = await arun_episode(slot.env, OraclePolicy(), task, timeout_s=timeout_s, env_executor=slot.executor)
        pool.release(slot, reusable=rec["status"] not in ("env_error", "timeout"))
        return rec, slot.env

    async def main():
        return [await one(t) for t in fault_envs.tasks(behaviours)]

    return asyncio.run(main())


def test_envs_are_reused_then_recycled():
    pool = EnvPool(recycle_after=2)
    played = play(pool, ["ok"] * 5)
    assert [r["status"] for r, _ in played] == ["completed"] * 5
    envs_used = [id(env) for _, env in played]
    assert envs_used[0] == envs_used[1] != envs_used[2] == envs_used[3] != envs_used[4]
    assert pool.stats() == {"idle": 1, "busy": 0, "created": 3, "recycled": 2, "discarded": 0, "prewarmed": 0}


def test_a_crashed_or_hung_env_is_closed_and_never_reused():
    pool = EnvPool(recycle_after=100)
    played = play(pool, ["ok", "raise", "ok", "hang", "ok"], timeout_s=0.5)
    assert [r["status"] for r, _ in played] == ["completed", "env_error", "completed", "timeout", "completed"]
    first, crashed, after_crash, hung, after_hang = (env for _, env in played)
    assert first is crashed and after_crash is not crashed and hung is after_crash and after_hang is not hung
    for env in (crashed, hung):  # closed in the background; closing also frees the hung step's thread
        assert env.unwrapped._closed.wait(5)
    assert pool.stats()["discarded"] == 2


def test_each_env_has_its_own_thread_so_a_hung_env_blocks_no_other():
    pool = EnvPool()

    async def main():
        hung, ok = fault_envs.tasks(["hang", "ok"])
        slot_hung = await pool.acquire(hung.env_id)
        slot_ok = await pool.acquire(ok.env_id)
        hanging = asyncio.create_task(
            arun_episode(slot_hung.env, OraclePolicy(), hung, env_executor=slot_hung.executor)
        )
        rec = await asyncio.wait_for(arun_episode(slot_ok.env, OraclePolicy(), ok, env_executor=slot_ok.executor), 5)
        assert not hanging.done()
        slot_hung.env.close()
        await asyncio.wait_for(hanging, 5)
        return rec

    assert asyncio.run(main())["status"] == "completed"
    assert threading.active_count() < 50


def test_recycle_after_must_be_positive():
    with pytest.raises(ValueError, match="recycle_after"):
        EnvPool(recycle_after=0)


def test_prewarmed_envs_serve_the_first_episodes_and_an_os_env_has_its_sandbox_started():
    import envs
    from envs.os import SPEC

    envs.register_env(SPEC)
    pool = EnvPool({"agenttune/OS-v0": {"sandbox_image": "host"}})

    async def main():
        await pool.prewarm({"agenttune/OS-v0": 2, fault_envs.ENV_ID: 1})
        assert pool.stats() == {"idle": 3, "busy": 0, "created": 3, "recycled": 0, "discarded": 0, "prewarmed": 3}
        slots = [await pool.acquire("agenttune/OS-v0") for _ in range(2)]
        assert pool.created == 3  # no env made for them: the prewarmed ones
        warm = [slot.env.unwrapped._warm for slot in slots]
        assert all(w._ready and w._ready[0].done() for w in warm)  # each one's first sandbox is already started
        for slot in slots:
            pool.release(slot, reusable=True)
        pool.close(timeout_s=30)

    asyncio.run(main())


def test_an_env_that_cannot_be_made_is_skipped_by_prewarm_and_fails_its_episode_later():
    pool = EnvPool({fault_envs.ENV_ID: {"no_such_kwarg": 1}})
    asyncio.run(pool.prewarm({fault_envs.ENV_ID: 2}))
    assert pool.stats()["idle"] == 0 and pool.prewarmed == 0


def test_an_env_whose_warm_up_fails_is_skipped_by_prewarm_and_closed(tmp_path):
    import os
    import time

    pool = EnvPool({fault_envs.ENV_ID: {"fail_warm_up": True, "closed_dir": str(tmp_path)}})
    asyncio.run(pool.prewarm({fault_envs.ENV_ID: 2}))
    assert pool.stats()["idle"] == 0 and pool.prewarmed == 0 and pool.created == 0
    deadline = time.monotonic() + 10  # closed on background threads
    while len(os.listdir(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(os.listdir(tmp_path)) == 2  # both made, neither left open


def test_prewarm_counts_share_an_actors_slots_by_the_jobs_envs():
    from envs.base import Task
    from rollouts.pool import make_jobs, prewarm_counts

    def jobs(counts: dict[str, int]) -> list[dict]:
        made = [Task(f"{env_id}-{i}", env_id, "train", i, {}) for env_id, n in counts.items() for i in range(n)]
        return make_jobs(made)

    assert prewarm_counts(jobs({"a/DB-v0": 30, "a/OS-v0": 10}), 8) == {"a/DB-v0": 6, "a/OS-v0": 2}
    assert prewarm_counts(jobs({"a/OS-v0": 3}), 64) == {"a/OS-v0": 3}  # never more than its jobs
    assert prewarm_counts([], 8) == {}
