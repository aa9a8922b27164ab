"""Signals the starting process ignores do not reach the sandbox: ``nohup``, ``cmd &`` in a script, CI runners
and service managers start us with SIGINT and SIGQUIT ignored, and the wall-clock limit's Ctrl-C and Ctrl-\\
must still stop a timed-out command, in either sandbox kind and in OS-env episodes."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import envs
from envs.base import Task
from envs.os import SPEC
from envs.os.prompts import OPENING_REPLIES
from envs.sandbox import SandboxConfig, make_sandbox
from envs.textenv import after_opening
from rollouts.episode import run_episode
from rollouts.policies.base import Policy

envs.register_env(SPEC)
IGNORED = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)


@pytest.fixture
def signals_ignored() -> Iterator[None]:
    """This process ignores SIGINT, SIGQUIT and SIGHUP during the test, as under ``nohup`` or ``cmd &``."""
    saved = {number: signal.signal(number, signal.SIG_IGN) for number in IGNORED}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def in_worker_thread(function):  # noqa: ANN001, ANN201 - any callable
    """Run ``function`` in a thread that also blocks the signals, as Ray actors start sandboxes from threads."""

    def blocked():  # noqa: ANN202
        signal.pthread_sigmask(signal.SIG_BLOCK, IGNORED)
        return function()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(blocked).result()


STANDARD = (1 << 31) - 1  # signals 1-31; 32 and up are glibc's own and real-time signals, not ours to reset


def signal_masks(output: str) -> dict[str, int]:
    """``SigIgn`` and ``SigBlk`` of a /proc/PID/status, for the standard signals."""
    fields = dict(line.split(":\t") for line in output.splitlines() if ":\t" in line)
    return {key: int(fields[key], 16) & STANDARD for key in ("SigIgn", "SigBlk")}


@pytest.mark.parametrize("kind", ["bwrap", "none"])
def test_commands_and_scripts_start_with_default_signals_and_time_out(signals_ignored: None, kind: str) -> None:
    def session() -> None:
        default = {"SigIgn": 0, "SigBlk": 0}
        with make_sandbox(kind, SandboxConfig(command_timeout_s=1)) as box:
            assert signal_masks(box.run("cat /proc/self/status").output) == default
            assert signal_masks(box.run_script("cat /proc/self/status").output) == default
            box.run("AGT_KEEP=kept")
            result = box.run("echo started; sleep 30")
            # Ctrl-C stops it: Ctrl-\ would come 2 s later, and the shell would give up after 5 s
            assert result.timed_out and result.exit_code == 124 and "started" in result.output
            assert result.duration_s < 2.5
            assert box.run("echo $AGT_KEEP").output == "kept\n"
            script = box.run_script("echo begun; sleep 30", timeout_s=1)
            assert script.timed_out and script.exit_code == 124 and "begun" in script.output
            assert script.duration_s < 2.5
            assert box.run("echo $AGT_KEEP").output == "kept\n"

    in_worker_thread(session)


_NO_FORK_CHECK = """
import json, signal, subprocess
from concurrent.futures import ThreadPoolExecutor
import envs.sandbox.shell as shell
from envs.sandbox import SandboxConfig, make_sandbox
calls, seen, real, inherits = [], [], subprocess.Popen, shell._inherits_signals
shell.subprocess.Popen = lambda *a, **kw: calls.append(kw.get("preexec_fn")) or real(*a, **kw)

def _inherits():  # what the check saw, for a failure's message
    seen.append([l for l in open("/proc/thread-self/status").read().splitlines() if l.startswith("Sig")])
    return inherits()

shell._inherits_signals = _inherits

def session():  # a thread that blocks signals, as a Ray actor's threads block SIGINT
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGQUIT, signal.SIGHUP})
    with make_sandbox("bwrap", SandboxConfig(command_timeout_s=1)) as box:
        status = box.run("cat /proc/self/status").output
        timed_out = box.run("sleep 30").timed_out  # Ctrl-C still reaches it
    return status, timed_out, sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))

with ThreadPoolExecutor(1) as pool:
    status, timed_out, after = pool.submit(session).result()
print(json.dumps({"preexec": [c is not None for c in calls], "status": status, "timed_out": timed_out,
                  "after": [int(n) for n in after], "seen": seen}))
"""


def test_a_thread_that_only_blocks_signals_starts_sandboxes_without_forking() -> None:
    # Ray actors' threads block SIGINT and ignore nothing Popen does not reset: the sandbox is then started
    # without a preexec_fn, so Popen vforks instead of copying the whole actor, and still starts unblocked. Run in
    # a fresh interpreter started with default signals: this process's own state (what a script, CI or a
    # library ignored) is not the case under test.
    import subprocess
    import sys

    from envs.sandbox.bwrap import CHECKOUT
    from envs.sandbox.shell import _default_signals

    done = subprocess.run(
        [sys.executable, "-c", _NO_FORK_CHECK], capture_output=True, text=True, cwd=CHECKOUT,
        preexec_fn=_default_signals,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["preexec"] and not any(out["preexec"]), out["seen"]  # the probe's sandbox and this one: both vforked
    assert signal_masks(out["status"]) == {"SigIgn": 0, "SigBlk": 0} and out["timed_out"]
    assert out["after"] == sorted(int(n) for n in IGNORED)  # the thread's own mask is back as it was


def test_only_signals_a_reset_can_change_make_a_sandbox_start_fork() -> None:
    # SigIgn as the test suite's process had it: SIGPIPE and SIGXFSZ (CPython's, reset by Popen) and signal 32,
    # which the C library keeps for itself and no preexec_fn can reset: nothing to pass on, so Popen may vfork.
    from envs.sandbox.shell import _passes_on_signals

    def status(ignored: int, blocked: int = 0) -> str:
        return f"Name:\tpython\nSigPnd:\t0000000000000000\nSigBlk:\t{blocked:016x}\nSigIgn:\t{ignored:016x}\n"

    assert not _passes_on_signals(status(0x81001000))
    assert not _passes_on_signals(status(0, blocked=0x180000000))  # 32 and 33 blocked
    assert _passes_on_signals(status(0x81001002))  # SIGINT ignored
    assert _passes_on_signals(status(0x81001000, blocked=1 << (signal.SIGQUIT - 1)))
    assert _passes_on_signals(status(1 << (signal.SIGRTMIN - 1)))  # a real-time signal is a program's own


class SleepThenFinish(Policy):
    """Runs a command that times out, then one that must still work, then finishes."""

    kind = "scripted"

    def __init__(self) -> None:
        self.observations: list[str] = []

    def act(self, messages: list[dict[str, str]], *, task: Task) -> str:
        turn = sum(m["role"] == "assistant" for m in after_opening(messages, OPENING_REPLIES))
        if turn:
            self.observations.append(messages[-1]["content"])
        command = ["sleep 30", "echo still-here"][turn] if turn < 2 else None
        return f"Think: go.\n\nAct: bash\n\n```bash\n{command}\n```" if command else "Think: done.\n\nAct: finish"


def test_an_os_episode_whose_command_times_out_goes_on(signals_ignored: None) -> None:
    task = Task("timeout", "agenttune/OS-v0", "external", None, {
        "description": "Wait a while.", "init": [{"language": "bash", "code": "echo ready > /root/state"}],
        "start": None, "match": None, "example": None, "labels": [], "missing_scripts": [],
        "check": [{"language": "bash", "code": "grep -q ready /root/state"}],
    })  # fmt: skip
    policy = SleepThenFinish()
    with envs.make_env("OS", command_timeout_s=1) as env:
        record = run_episode(env, policy, task)  # steps run in a worker thread, as in the rollout actors
    assert record["status"] == "completed" and record["reward"] == 1.0, record
    timed_out, after = policy.observations
    assert "interrupted" in timed_out
    assert after.startswith("The output of the OS:\n") and after.endswith("\nstill-here\n"), after
