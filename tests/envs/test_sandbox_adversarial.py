"""Adversarial battery: hostile commands run through OS-env episodes. Each is contained, the host is
unaffected (checked from the host), and the episode ends with the right status; every attack runs twice, on
the task image as the sandbox's lower layer and on the host's directories (``sandbox_image: host``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import envs
from envs.base import Task
from envs.os import SPEC
from envs.os.prompts import OPENING_REPLIES
from envs.sandbox import SandboxConfig
from envs.textenv import after_opening
from rollouts.episode import run_episode
from rollouts.policies.base import Policy
from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration
envs.register_env(SPEC)
CONFIG = SandboxConfig(command_timeout_s=3, memory_mb=512, disk_mb=64, nproc=128)


class Attacker(Policy):
    """Runs one hostile command, then a harmless probe, then finishes."""

    kind = "attacker"

    def __init__(self, attack: str) -> None:
        self.steps = [attack, "echo still-here"]
        self.observations: list[str] = []

    def act(self, messages: list[dict[str, str]], *, task: Task) -> str:
        turn = sum(m["role"] == "assistant" for m in after_opening(messages, OPENING_REPLIES))
        if turn:
            self.observations.append(messages[-1]["content"])
        if turn < len(self.steps):
            return f"Think: try it.\n\nAct: bash\n\n```bash\n{self.steps[turn]}\n```"
        return "Think: done.\n\nAct: finish"


@pytest.fixture(params=["image", "host"])
def layer(request: pytest.FixtureRequest) -> str:
    """What ``play`` passes as the env's ``sandbox_image``: the task image's path, or "host"."""
    return str(request.getfixturevalue("task_image").root) if request.param == "image" else "host"


def play(attack: str, layer: str) -> tuple[dict, Attacker, int | None]:
    task = Task("attack", "agenttune/OS-v0", "external", None, {
        "description": "Do as you like.", "init": [], "start": None, "match": None, "example": None,
        "check": [{"language": "bash", "code": "exit 1"}], "labels": [], "missing_scripts": [],
    })  # fmt: skip
    policy = Attacker(attack)
    with envs.make_env("OS", sandbox_config=CONFIG, sandbox_image=layer) as env:
        record = run_episode(env, policy, task)
        uid = None
    return record, policy, uid


def contained(record: dict, policy: Attacker, *, shell_answers: bool = True) -> None:
    assert record["status"] == "completed" and record["reward"] == 0.0, record
    if shell_answers:
        # the shell survived; bash may first report finished background jobs ("[2]-  Done ..."), a timing matter
        last = policy.observations[-1]
        assert last.startswith("The output of the OS:\n") and last.endswith("\nstill-here\n"), last


def sandbox_processes() -> set[int]:
    """The pids of every process of an image sandbox on this machine (owned by the image's uid range)."""
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) >= 2_000_000_000}


def no_sandbox_processes_left(before: set[int]) -> None:
    """None of the sandbox processes that appeared during the test is left (others on the machine are not its)."""
    if os.geteuid() == 0:
        assert [_describe(pid) for pid in sorted(sandbox_processes() - before)] == []


def _describe(pid: int) -> str:
    """pid, state, parent and command line: what a failure needs to find where a left process came from."""
    try:
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120].decode(errors="replace")
    except (OSError, ValueError):
        return f"{pid} (gone)"
    return f"{pid} state={state} ppid={ppid} {cmdline}"


def _uid(path: Path) -> int:
    try:
        return path.stat().st_uid
    except FileNotFoundError:
        return -1


def test_rm_rf_root(tmp_path: Path, layer: str) -> None:
    canary = tmp_path / "canary"
    canary.write_text("alive")
    record, policy, _ = play("rm -rf --no-preserve-root / 2>/dev/null; ls /usr | wc -l", layer)
    contained(record, policy)
    assert canary.read_text() == "alive" and Path("/usr/bin/env").exists() and Path("/etc/passwd").exists()


def test_writing_outside_the_work_dir(tmp_path: Path, layer: str) -> None:
    targets = [tmp_path / "pwned", Path(f"/etc/agenttune-pwned-{os.getpid()}"), Path(f"/opt/pwned-{os.getpid()}")]
    record, policy, _ = play("; ".join(f"echo pwned > {t}" for t in targets), layer)
    contained(record, policy)
    assert not any(t.exists() for t in targets)


def test_reading_a_secret_file_created_on_the_host(tmp_path: Path, layer: str) -> None:
    secret_dir = Path(f"/opt/agenttune-secret-{os.getpid()}")
    secret_dir.mkdir()
    try:
        (secret_dir / "key").write_text("TOPSECRET-1234")
        (secret_dir / "key").chmod(0o600)
        (tmp_path / "key").write_text("TOPSECRET-5678")
        record, policy, _ = play(f"cat {secret_dir}/key {tmp_path}/key; grep -r TOPSECRET / 2>/dev/null | head", layer)
    finally:
        shutil.rmtree(secret_dir)
    contained(record, policy)
    assert "TOPSECRET" not in policy.observations[0]
    # on the host's directories the file is there but unreadable; on the task image it is not there at all
    assert ("Permission denied" if layer == "host" else "No such file") in policy.observations[0]


def test_connecting_to_a_server_on_host_loopback(layer: str) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('CONNECTED')"
    record, policy, _ = play(f'python3 -c "{probe}"; (echo hi > /dev/tcp/127.0.0.1/{port}) 2>&1', layer)
    server.setblocking(False)
    with pytest.raises(BlockingIOError):  # a connection would wait in the backlog
        server.accept()
    server.close()
    contained(record, policy)
    assert "CONNECTED" not in policy.observations[0]
    assert "refused" in policy.observations[0].lower()


@pytest.mark.timeout(300)  # a bomb that escaped its pids limit would hang here, not pass slowly
def test_fork_bomb(layer: str) -> None:
    # How long the bomb runs before the 3 s limit and the shell restart tame it varies (0.1-60 s here, with
    # bash's fork retries backing off), so the test checks containment, not speed.
    before = sandbox_processes()
    record, policy, _ = play(":(){ :|:& };:", layer)
    contained(record, policy, shell_answers=False)  # the bomb's "fork: retry" messages fill the observations
    assert subprocess.run(["true"]).returncode == 0
    no_sandbox_processes_left(before)


def test_memory_bomb(layer: str) -> None:
    record, policy, _ = play(
        "python3 -c 'x = bytearray(8 << 30)'; python3 -c 'a = []\nwhile True: a.append(b\"x\" * (64 << 20))'",
        layer,
    )
    contained(record, policy)
    assert "MemoryError" in policy.observations[0]


def test_filling_the_disk(layer: str) -> None:
    free_before = shutil.disk_usage("/").free
    fill = "dd if=/dev/zero of={} bs=1M count=4000 2>&1 | head -1"
    record, policy, _ = play(f"{fill.format('/root/big')}; {fill.format('/dev/shm/big')}; rm /root/big", layer)
    contained(record, policy)
    assert policy.observations[0].count("No space left on device") == 2
    assert shutil.disk_usage("/").free > free_before - (200 << 20)


def test_infinite_loop(layer: str) -> None:
    record, policy, _ = play("while :; do :; done", layer)
    contained(record, policy)
    assert "interrupted with Ctrl-C" in policy.observations[0]


def test_kill_everything(layer: str) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        record, policy, _ = play("kill -9 -1; echo after-kill", layer)
        contained(record, policy)
        assert bystander.poll() is None  # the host's processes are out of reach
    finally:
        bystander.kill()
        bystander.wait()


def test_a_background_process_does_not_outlive_the_episode(layer: str) -> None:
    before = sandbox_processes()
    record, policy, _ = play(
        "nohup sleep 1000 >/dev/null 2>&1 & setsid sleep 1000 & (trap '' HUP TERM; sleep 1000) &", layer
    )
    contained(record, policy)
    no_sandbox_processes_left(before)
