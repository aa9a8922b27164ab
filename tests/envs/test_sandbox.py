"""The sandbox's contract: results, limits, state, identity, masking, and the plain-shell fallback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envs.errors import EnvError
from envs.sandbox import NoSandbox, Sandbox, SandboxConfig, SandboxError, make_sandbox, probe
from envs.sandbox.bwrap import CHECKOUT, _children
from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def box():
    with Sandbox(SandboxConfig(command_timeout_s=2, max_output_chars=5000)) as sandbox:
        yield sandbox


def host_pids_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                pids.append(int(entry.name))
        except FileNotFoundError:
            pass
    return pids


def test_probe_reports_bwrap_and_cgroup(box: Sandbox) -> None:
    found = probe()
    assert Path(found["bwrap"]).name == "bwrap" and os.access(found["bwrap"], os.X_OK)
    assert found["cgroup"] == box.cgroup  # what the probe reports is what a sandbox then gets
    if box.cgroup != "none":  # and that cgroup really holds the sandbox's processes
        shell_pid = box._shell.process.pid
        assert shell_pid in box._cgroup.pids()


def test_output_exit_code_and_persistent_state(box: Sandbox) -> None:
    result = box.run("echo hello; exit_code_test() { return 3; }; exit_code_test")
    assert (result.output, result.exit_code, result.timed_out, result.truncated) == ("hello\n", 3, False, False)
    box.run("cd /var && export AGT_X=42")
    assert box.run("pwd; echo $AGT_X").output == "/var\n42\n"
    script = "cat <<'EOF'\n\ttab \"quoted\" $HOME\nEOF\nprintf '%s\\n' done"
    assert box.run(script).output == '\ttab "quoted" $HOME\ndone\n'


def test_a_timed_out_command_is_interrupted_and_the_shell_survives(box: Sandbox) -> None:
    box.run("AGT_KEEP=kept")
    result = box.run("echo started; sleep 30", timeout_s=0.5)
    assert result.timed_out and result.exit_code == 124 and "started" in result.output
    assert result.duration_s < 5
    assert box.run("echo $AGT_KEEP").output == "kept\n"


def test_a_command_that_ignores_ctrl_c_gets_ctrl_backslash(box: Sandbox) -> None:
    result = box.run("trap '' INT; sleep 30", timeout_s=0.5)
    assert result.timed_out
    box.run("trap - INT")
    assert box.run("echo alive").output == "alive\n"


def test_output_is_capped(box: Sandbox) -> None:
    result = box.run("yes | head -c 100000")
    assert result.truncated and len(result.output) == 5000 and result.exit_code == 0


def test_exit_restarts_the_shell_and_keeps_the_files(box: Sandbox) -> None:
    box.run("echo kept > /root/file")
    result = box.run("exit 7")
    assert result.shell_restarted and result.exit_code == 7
    assert box.run("cat /root/file").output == "kept\n"


def test_uid_0_inside_maps_to_an_unprivileged_host_uid(box: Sandbox) -> None:
    assert box.run("id -u").output == "0\n"
    assert box.run("grep CapEff /proc/self/status").output.split()[1] == "0000000000000000"
    if os.geteuid() == 0:
        assert box.host_uid not in (None, 0) and host_pids_of(box.host_uid)  # the shell runs as that uid


def test_host_root_files_stay_unwritable_and_writes_stay_inside(box: Sandbox) -> None:
    assert box.run("echo x >> /etc/hostname").exit_code != 0  # owned by host root: not even through the overlay
    marker = f"/usr/agenttune-sandbox-test-{os.getpid()}"
    assert box.run(f"echo inside > {marker} && cat {marker}").output == "inside\n"
    assert not Path(marker).exists()
    with Sandbox() as other:
        assert other.run(f"cat {marker}").exit_code != 0  # another sandbox does not see it


def test_secrets_and_environment_are_masked(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    with Sandbox() as fresh:
        assert fresh.run("echo ${OPENAI_API_KEY:-unset}").output == "unset\n"
        assert fresh.run(f"ls {CHECKOUT}").exit_code != 0
        assert fresh.run("ls -A /root /home /tmp").output.split() == ["/home:", "/root:", "/tmp:"]
        assert "sk-should-not-leak" not in fresh.run("cat /proc/1/environ; env").output
        host_shadow = Path("/etc/shadow")
        if host_shadow.exists() and os.geteuid() == 0:
            root_hash = host_shadow.read_text().splitlines()[0].split(":")[1]
            assert fresh.run("head -1 /etc/shadow").output.split(":")[1] == "*" != root_hash or root_hash == "*"


def test_run_script_runs_a_fresh_process_with_arguments(box: Sandbox) -> None:
    result = box.run_script("import sys; print(sys.argv[1:])", ("a b", "c"), language="python")
    assert result.output == "['a b', 'c']\n"
    assert box.run_script('echo "$1|$PWD"', ("x y",)).output == "x y|/root\n"
    with pytest.raises(SandboxError, match="unsupported"):
        box.run_script("x", language="ruby")


def test_close_kills_everything_and_is_idempotent() -> None:
    box = Sandbox().start()
    box.run("sleep 1000 & setsid sleep 1000 & nohup sleep 1000 >/dev/null 2>&1 &")
    uid = box.host_uid
    box.close()
    box.close()
    if os.geteuid() == 0:
        assert host_pids_of(uid) == []
    with pytest.raises(SandboxError, match="not running"):
        box.run("true")


@pytest.mark.parametrize("layer", ["host", "image"])
def test_a_sandbox_ends_itself_once_its_terminal_is_gone(layer: str, request: pytest.FixtureRequest) -> None:
    # What is left when the process that started a sandbox is gone before the kernel tied the sandbox's pid 1
    # to bubblewrap: before pid 1 checked its terminal, it replaced the bash that exits at once on a hung-up
    # terminal, for ever, orphaned (found in a CI run: a sandbox left by an in-process pipeline test).
    image = request.getfixturevalue("task_image").root if layer == "image" else None
    box = Sandbox(SandboxConfig(image=image)).start()
    try:
        process = box._shell.process
        tree = [process.pid, *_children(process.pid)]
        box._shell.close()  # only our end of its terminal; nothing is killed
        process.wait(timeout=10)  # bubblewrap exits once pid 1 has (TimeoutExpired: the sandbox lives on)
        assert [pid for pid in tree if _alive(pid)] == []
    finally:
        box.close()


def test_a_sandbox_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    script = (
        "import threading, time\n"
        "from envs.sandbox import Sandbox\n"
        "def start():\n"
        "    box = Sandbox().start()\n"  # on a thread, as the warm pool starts them
        "    print(box.host_uid, box._shell.process.pid, flush=True)\n"
        "    time.sleep(600)\n"
        "threading.Thread(target=start, daemon=True).start()\n"
        "time.sleep(600)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=CHECKOUT)
    try:
        uid, bwrap = map(int, starter.stdout.readline().split())
        tree = [bwrap, *_children(bwrap)]
    finally:
        starter.kill()
        starter.wait()
    deadline = time.monotonic() + 10
    while (left := [pid for pid in tree if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []
    if os.geteuid() == 0:  # this sandbox's own uid: nothing of it runs (a zombie waits for an init that reaps)
        assert [pid for pid in host_pids_of(uid) if _alive(pid)] == []


def test_the_cgroups_a_killed_process_left_are_removed_and_a_live_ones_kept() -> None:
    # A process killed before it could close its sandboxes (a Ray actor killed outright) leaves their cgroups
    # behind; the next process's first sandbox removes them (sweep_orphans), never those of a live owner.
    from envs.sandbox import cgroup

    with Sandbox() as mine:
        if mine.cgroup == "none":
            pytest.skip(reason="this host gives a sandbox no cgroup: it needs root and writable pids/memory cgroups")
        script = (
            "import os, signal\n"
            "from envs.sandbox import Sandbox\n"
            "box = Sandbox().start()\n"
            "print(*box._cgroup.dirs, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=CHECKOUT)
        left = [Path(d) for d in done.stdout.split()]
        assert left and all(d.exists() for d in left), done.stderr[-2000:]  # what the killed process left
        assert cgroup.sweep_orphans() >= len(left)
        assert [d for d in left if d.exists()] == []
        assert all(d.exists() for d in mine._cgroup.dirs)  # this process's own, in use


def _alive(pid: int) -> bool:
    """Running, not a zombie (a zombie whose parent died waits for init, which in some containers never reaps)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_bad_config_and_kinds_are_errors() -> None:
    with pytest.raises(SandboxError, match="memory_mb"):
        Sandbox(memory_mb=0)
    with pytest.raises(SandboxError, match="unknown sandbox kind"):
        make_sandbox("docker")
    assert issubclass(SandboxError, EnvError)


def test_no_sandbox_has_the_same_interface_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), NoSandbox(command_timeout_s=1) as plain:
        assert plain.run("echo hi; cd /; pwd").output == "hi\n/\n"
        assert plain.run("sleep 10").timed_out
        assert plain.run_script('echo "$1"', ("arg",)).output == "arg\n"
    assert "SANDBOX DISABLED" in caplog.text
