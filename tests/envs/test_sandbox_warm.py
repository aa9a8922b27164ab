"""Warm sandboxes: started ahead, handed out once, closed in the background, none left behind; and the OS env
on them (a fresh, clean layer every episode)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import envs
from envs.base import Task
from envs.errors import EnvsError
from envs.os import SPEC
from envs.sandbox import SandboxError
from envs.sandbox import warm as warm_module
from envs.sandbox.shell import ShellBox
from envs.sandbox.warm import WarmSandboxes, foreground
from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture

envs.register_env(SPEC)


class FakeBox(ShellBox):
    """Records which thread started it and whether it was closed; ``fail`` makes its start raise."""

    made: list[FakeBox] = []

    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self._shell = None
        self.fail, self.delay_s = fail, delay_s
        self.started_in = self.closed_in = None
        self.started_at = self.closed_at = None  # time.monotonic()
        FakeBox.made.append(self)

    def start(self) -> FakeBox:
        time.sleep(self.delay_s)
        if self.fail:
            raise SandboxError("no sandbox today")
        self.started_in, self.started_at = threading.current_thread().name, time.monotonic()
        return self

    def close(self) -> None:
        self.closed_in, self.closed_at = threading.current_thread().name, time.monotonic()


@pytest.fixture(autouse=True)
def _fresh_boxes():
    FakeBox.made = []


def test_a_box_is_started_ahead_and_handed_out_once() -> None:
    warm = WarmSandboxes(FakeBox, size=1)
    first = warm.take()
    second = warm.take()
    assert first is not second and len({id(b) for b in FakeBox.made}) == 3  # the third is already on its way
    assert first.started_in.startswith("agenttune-warm-sandbox")
    warm.retire(first)
    warm.close()
    assert first.closed_in.startswith("agenttune-warm-sandbox")  # closed on the thread that started it
    assert second.closed_in is None  # still the caller's (an env releases its own box before closing the pool)
    assert FakeBox.made[2].closed_in is not None  # the spare no one took is closed with the pool
    warm.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        warm.take()


def test_the_next_start_does_not_wait_for_the_caller() -> None:
    warm = WarmSandboxes(lambda: FakeBox(delay_s=0.3), size=1)
    warm.take()  # the first one is cold: nothing was ready
    time.sleep(0.5)  # an episode runs; the spare starts meanwhile
    started = time.monotonic()
    warm.take()
    assert time.monotonic() - started < 0.2 and warm.warm_takes >= 1
    warm.close()


def _until(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_background_starts_and_closes_wait_for_the_episodes_work(monkeypatch) -> None:
    # While an episode sets up, runs a command or grades (foreground), the next sandbox's start and the last
    # one's close wait; they run once no episode works.
    monkeypatch.setattr(warm_module, "BACKGROUND_MAX_WAIT_S", 60.0)
    warm = WarmSandboxes(FakeBox, size=1)
    warm.warm_up(10)
    with foreground():  # a reset: takes its box, and the spare is queued
        first = warm.take()
        warm.retire(first)  # as if the last episode's box were released now
        time.sleep(0.3)
        assert len(FakeBox.made) == 1 and first.closed_at is None  # the spare not even made yet
        ended = time.monotonic()
    assert _until(lambda: len(FakeBox.made) == 2 and FakeBox.made[1].started_at and first.closed_at)
    assert FakeBox.made[1].started_at >= ended and first.closed_at >= ended
    warm.close()


def test_a_take_does_not_wait_for_the_episodes_and_nothing_waits_forever(monkeypatch) -> None:
    # Another episode works all along: a take that needs the queued start has it run at once, and a start no one
    # needs yet runs once BACKGROUND_MAX_WAIT_S has passed.
    monkeypatch.setattr(warm_module, "BACKGROUND_MAX_WAIT_S", 60.0)
    warm = WarmSandboxes(FakeBox, size=1)
    busy, release = threading.Event(), threading.Event()

    def other_episode() -> None:
        with foreground():
            busy.set()
            release.wait(30)

    other = threading.Thread(target=other_episode)
    other.start()
    busy.wait(10)
    try:
        took: list[FakeBox] = []
        taker = threading.Thread(target=lambda: took.extend([warm.take(), warm.take()]))
        taker.start()
        taker.join(20)  # the second take needs the spare queued by the first: hurried, not left for 60 s
        assert len(took) == 2 and warm.warm_takes + warm.cold_takes == 2
        monkeypatch.setattr(warm_module, "BACKGROUND_MAX_WAIT_S", 0.2)
        warm.retire(took[0])  # queued while the other episode still works: runs after 0.2 s
        assert _until(lambda: took[0].closed_at is not None)
    finally:
        release.set()
        other.join()
        warm.close()


def test_a_failed_background_start_is_retried_in_the_foreground() -> None:
    outcomes = iter([True, False, False])  # the background start fails, the retry works
    warm = WarmSandboxes(lambda: FakeBox(fail=next(outcomes, False)), size=1)
    box = warm.take()
    assert box.started_in is not None and warm.failed_starts == 1
    warm.close()
    failing = WarmSandboxes(lambda: FakeBox(fail=True), size=1)
    with pytest.raises(SandboxError, match="no sandbox today"):  # a real fault reaches the episode
        failing.take()
    failing.close()


def test_size_zero_starts_each_box_when_taken() -> None:
    warm = WarmSandboxes(FakeBox, size=0)
    box = warm.take()
    assert box.started_in == threading.current_thread().name and len(FakeBox.made) == 1
    warm.close()
    with pytest.raises(SandboxError, match="0 or more"):
        WarmSandboxes(FakeBox, size=-1)


def _task(code: str) -> Task:
    return Task("os-warm", "agenttune/OS-v0", "external", None, {
        "description": "Look around.", "init": [], "start": {"language": "bash", "code": code},
        "match": {"answer": "x", "strip": True}, "check": None, "example": None, "labels": [],
        "missing_scripts": [],
    })  # fmt: skip


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("image", ["image", "host"])
def test_every_episode_gets_a_fresh_clean_sandbox_and_none_outlives_the_env(
    image: str,
    request: pytest.FixtureRequest,
) -> None:
    layer = str(request.getfixturevalue("task_image").root) if image == "image" else "host"
    pids = []
    with envs.make_env("OS", sandbox_image=layer, warm_sandboxes=1) as env:
        unwrapped = env.unwrapped
        for episode in range(3):
            env.reset(options={"task": _task(f"echo {episode} > /root/mark; sleep 1000 &")})
            pids.append(unwrapped._box._shell.process.pid)
            out = env.step("Think: look.\n\nAct: bash\n\n```bash\ncat /root/mark; ls /root\n```")[0]
            assert out.split()[-2:] == [str(episode), "mark"]  # only this episode's file: a fresh layer
            env.step("Think: done.\n\nAct: answer(x)")
            time.sleep(0.5)  # the policy's time: the next sandbox starts meanwhile
        assert len(set(pids)) == 3
        assert unwrapped._warm.warm_takes >= 1  # at least one reset found its sandbox started
        pids += [f.result()._shell.process.pid for f in unwrapped._warm._ready]  # the spare
        assert len(set(pids)) == 4
    deadline = time.monotonic() + 5
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_pid_alive(p) for p in pids)  # every sandbox, the spare too, is gone with the env


def test_os_env_rejects_a_negative_pool() -> None:
    with pytest.raises(EnvsError, match="warm_sandboxes"):
        envs.make_env("OS", warm_sandboxes=-1)
