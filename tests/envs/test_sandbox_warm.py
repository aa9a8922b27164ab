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
from envs.sandbox.shell import ShellBox
from envs.sandbox.warm import WarmSandboxes
from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture

envs.register_env(SPEC)


class FakeBox(ShellBox):
    """Records which thread started it and whether it was closed; ``fail`` makes its start raise."""

    made: list[FakeBox] = []

    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self._shell = None
        self.fail, self.delay_s = fail, delay_s
        self.started_in = self.closed_in = None
        FakeBox.made.append(self)

    def start(self) -> FakeBox:
        time.sleep(self.delay_s)
        if self.fail:
            raise SandboxError("no sandbox today")
        self.started_in = threading.current_thread().name
        return self

    def close(self) -> None:
        self.closed_in = threading.current_thread().name


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
