"""The OS env's task image: its digest, sandboxes on it (what the agent sees, accounts, containment), the
lineage it gives every OS episode, and the tasks that cannot run offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import envs
from envs.base import Task
from envs.config import count_reasons, split_runnable
from envs.errors import EnvsError, TaskFormatError
from envs.os import SPEC, load_os_tasks
from envs.os.tasks import network_need
from envs.sandbox import Sandbox, SandboxConfig, SandboxError, probe
from envs.sandbox.bwrap import CHECKOUT
from envs.sandbox.image import UID_BASE, Image, find_image, manifest_digest, shift_owners
from rollouts.envcheck import check_env_quality
from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture

envs.register_env(SPEC)


@pytest.fixture(scope="module")
def image_box(task_image: Image):  # noqa: F811 - the fixture
    with Sandbox(SandboxConfig(command_timeout_s=20, image=str(task_image.root))) as box:
        yield box


# ------------------------------------------------------------------------------------------------ the digest


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("box\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "usr").symlink_to("bin")


def test_the_digest_depends_on_content_not_on_mtimes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _tree(a)
    _tree(b)
    os.utime(b / "etc" / "hostname", (1, 1))
    assert manifest_digest(a, 0) == manifest_digest(b, 0)
    (b / "bin" / "tool").chmod(0o700)
    assert manifest_digest(a, 0) != manifest_digest(b, 0)  # a mode
    (b / "bin" / "tool").chmod(0o755)
    (b / "etc" / "hostname").write_text("other\n")
    assert manifest_digest(a, 0) != manifest_digest(b, 0)  # a file's content
    (b / "etc" / "hostname").write_text("box\n")
    (b / "usr").unlink()
    (b / "usr").symlink_to("etc")
    assert manifest_digest(a, 0) != manifest_digest(b, 0)  # a link's target


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other uids needs root")
def test_owners_are_shifted_and_set_id_bits_kept(tmp_path: Path) -> None:
    _tree(tmp_path / "root")
    tool = tmp_path / "root" / "bin" / "tool"
    tool.chmod(0o4755)
    before = manifest_digest(tmp_path / "root", 0)
    assert shift_owners(tmp_path / "root", UID_BASE) == 6  # root dir, 2 dirs, 2 files, 1 link
    assert (tool.stat().st_uid, tool.stat().st_gid, tool.stat().st_mode & 0o7777) == (UID_BASE, UID_BASE, 0o4755)
    assert manifest_digest(tmp_path / "root", UID_BASE) == before  # owners count relative to the base


def test_a_path_that_is_no_image_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="make os-image"):
        find_image(tmp_path)
    with pytest.raises(EnvsError, match="sandbox_image=.*make os-image"):
        envs.make_env("OS", sandbox_image=str(tmp_path))


def test_the_built_image_matches_its_recorded_digest(task_image: Image) -> None:  # noqa: F811
    meta = json.loads((task_image.root.parent / "image.json").read_text())
    assert meta["digest"] == task_image.digest == manifest_digest(task_image.root)
    assert meta["uid_base"] == UID_BASE and task_image.root.stat().st_uid == UID_BASE


# ------------------------------------------------------------------------------------------------ the machine


def test_the_agent_sees_the_image_and_no_host_file(image_box: Sandbox, task_image: Image) -> None:  # noqa: F811
    marker = Path(f"/opt/agenttune-host-only-{os.getpid()}")
    marker.write_text("host")
    try:
        out = image_box.run(f"ls {marker} {CHECKOUT} /work 2>&1; echo; find /usr -type f | wc -l").output
    finally:
        marker.unlink()
    assert out.count("No such file or directory") == 3
    on_disk = sum(len(files) for _, _, files in os.walk(task_image.root / "usr"))
    regular = sum(
        1 for d, _, files in os.walk(task_image.root / "usr") for f in files if not os.path.islink(os.path.join(d, f))
    )
    assert int(out.split()[-1]) == regular <= on_disk  # the image's /usr, not the host's
    tools = "python3 git vim curl wget unzip zip tree ps useradd su runuser"
    assert image_box.run(f"for t in {tools}; do command -v $t >/dev/null || echo missing $t; done").output == ""


def test_user_and_group_management_work_as_in_a_container(image_box: Sandbox, task_image: Image) -> None:  # noqa: F811
    script = (
        "groupadd agt-team && useradd -m -G agt-team agt-alice && useradd agt-bob && "
        "install -d -o agt-alice -g agt-team -m 0770 /srv/team && "
        "runuser -u agt-alice -- touch /srv/team/own && su agt-bob -c 'touch /srv/team/x' 2>&1; "
        "stat -c '%U %G' /srv/team/own; id -nG agt-alice; ls -ld /home/agt-alice | cut -d' ' -f3,4"
    )
    out = image_box.run(script).output
    assert out.splitlines()[-3:] == ["agt-alice agt-alice", "agt-alice agt-team", "agt-alice agt-alice"], out
    assert "Permission denied" in out  # bob is not in the team: the modes hold between users inside
    image_group = (task_image.root / "etc" / "group").read_text()
    assert "agt-team" not in image_group  # the writes went to the episode's layer, not the image


def test_no_host_password_hash_is_inside(image_box: Sandbox) -> None:
    hashes = image_box.run("cut -d: -f2 /etc/shadow | sort -u").output.split()
    assert set(hashes) <= {"*", "!", "!*"}, hashes
    host_shadow = Path("/etc/shadow")
    if host_shadow.exists() and os.geteuid() == 0:
        host_hashes = {line.split(":")[1] for line in host_shadow.read_text().splitlines() if line.count(":") > 1}
        assert not (host_hashes - {"*", "!", "!*", ""}) & set(hashes)


def test_root_inside_holds_a_containers_capabilities_and_no_more(image_box: Sandbox) -> None:
    cap_eff = int(image_box.run("grep CapEff /proc/self/status").output.split()[1], 16)
    assert cap_eff & (1 << 0) and cap_eff & (1 << 7)  # CAP_CHOWN, CAP_SETUID
    assert not cap_eff & (1 << 21) and not cap_eff & (1 << 24)  # no CAP_SYS_ADMIN, no CAP_SYS_RESOURCE
    out = image_box.run(
        'python3 -c \'import ctypes; print(ctypes.CDLL(None).mount(b"x", b"/mnt", b"tmpfs", 0, None))\'; '
        "unshare -U true 2>&1; echo 9 > /proc/sys/user/max_user_namespaces 2>&1; "
        "grep NoNewPrivs /proc/self/status; ls -A /proc/tty/driver; touch /proc/tty/driver/x 2>&1"
    ).output
    lines = out.splitlines()
    assert lines[0] == "-1"  # mount(2) refused
    assert "unshare failed" in lines[1], out  # no user namespace inside (user.max_user_namespaces = 0)
    assert "Permission denied" in lines[2] or "Read-only" in lines[2], out  # and it stays so
    assert "NoNewPrivs:\t1" in out and "Read-only file system" in lines[-1]


@pytest.mark.parametrize("number", range(3, 10))
def test_the_command_pipe_may_get_any_descriptor_number(
    task_image: Image,  # noqa: F811
    number: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shell inherits one descriptor, the command pipe, whatever number it has in our process; the setup
    must not touch it (fd 9 once held the image while mounting, and closed the pipe when they met)."""
    probe()  # once per process, with pipes of its own: before the patch
    real_pipe, saved, moved = os.pipe, os.dup(number), []

    def pipe() -> tuple[int, int]:  # the sandbox's first pipe is its command pipe: put its read end at `number`
        r, w = real_pipe()
        if not moved:
            os.dup2(r, number, inheritable=False)
            os.close(r)
            moved.append(number)
            return number, w
        return r, w

    monkeypatch.setattr(os, "pipe", pipe)
    try:
        box = Sandbox(SandboxConfig(command_timeout_s=10, image=str(task_image.root))).start()
    finally:
        os.dup2(saved, number)  # pytest's own descriptor comes back
        os.close(saved)
        monkeypatch.undo()
    try:
        assert moved == [number] and box._shell._command_fd_inside == number
        assert box.run("echo ok").output == "ok\n"
    finally:
        box.close()


_AS_ANOTHER_USER = """
import json, os, sys
from envs.sandbox import Sandbox, SandboxConfig, SandboxError
os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)  # nobody, from here on
try:
    with Sandbox(SandboxConfig(command_timeout_s=20, image=sys.argv[1])) as box:
        out = {"host_uid": box.host_uid, "pid": box._shell.process.pid, "outputs": [box.run(c).output for c in (
            "id -u",
            "useradd -m agt-carol && groupadd agt-crew && touch /srv/f && chown agt-carol:agt-crew /srv/f && "
            "stat -c '%U %G' /srv/f",
            "runuser -u agt-carol -- id -un; su agt-carol -c 'id -un'",
            "ls /work /root/.ray 2>&1 | wc -l; sleep 1000 &",
        )]}
except SandboxError as error:
    out = {"error": str(error)}
print(json.dumps(out))
"""


@pytest.fixture
def subids_for_nobody(task_image: Image):  # noqa: F811 - the fixture
    """/etc/subuid and /etc/subgid give user nobody the image's ids for the test (restored after it)."""
    if os.geteuid() != 0 or not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        pytest.skip(reason="needs root (to act as another user and edit /etc/subuid) and newuidmap (package uidmap)")
    files = {Path("/etc/subuid"): None, Path("/etc/subgid"): None}
    for path in files:
        files[path] = path.read_text() if path.exists() else None
    try:
        yield lambda: [path.write_text((old or "") + f"65534:{UID_BASE}:65536\n") for path, old in files.items()]
    finally:
        for path, old in files.items():
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(old)


def _as_nobody(image: Image) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _AS_ANOTHER_USER, str(image.root)], capture_output=True, text=True, cwd=CHECKOUT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_another_user_runs_the_image_with_ids_from_etc_subuid(task_image: Image, subids_for_nobody) -> None:  # noqa: F811
    refused = _as_nobody(task_image)  # no ids granted yet: a clear error that says how
    assert "/etc/subuid" in refused["error"] and "newuidmap" in refused["error"], refused
    subids_for_nobody()
    out = _as_nobody(task_image)
    assert "error" not in out, out
    uid0, owners, users, hidden = out["outputs"]
    assert out["host_uid"] == UID_BASE and uid0 == "0\n"
    assert owners == "agt-carol agt-crew\n" and users == "agt-carol\nagt-carol\n"
    assert hidden.split()[0] == "2"  # two "No such file" lines: the host's directories are not there
    deadline = time.monotonic() + 10
    while Path(f"/proc/{out['pid']}").exists() and time.monotonic() < deadline:  # gone with its user's process
        time.sleep(0.05)
    assert not Path(f"/proc/{out['pid']}").exists()


# ------------------------------------------------------------------------------------------------ the env


def _task(init: str = "", **payload) -> Task:
    return Task("os-t", "agenttune/OS-v0", "external", None, {
        "description": "How many?", "init": [{"language": "bash", "code": init}] if init else [], "start": None,
        "match": {"answer": "3", "strip": True}, "check": None, "example": None, "labels": [],
        "missing_scripts": [], **payload,
    })  # fmt: skip


def test_every_os_episode_records_the_image_it_ran_on(task_image: Image) -> None:  # noqa: F811
    with envs.make_env("OS", sandbox_image=str(task_image.root)) as env:
        _, info = env.reset(options={"task": _task()})
        assert info["lineage"] == {"sandbox_image": task_image.digest}
    with envs.make_env("OS", sandbox_image="host") as env:
        _, info = env.reset(options={"task": _task()})
        assert info["lineage"] == {"sandbox_image": "host"}
    with envs.make_env("OS") as env:  # "auto": the built image
        assert env.unwrapped.image_digest == task_image.digest


def test_a_setups_background_output_stays_out_of_the_agents_view(task_image: Image) -> None:  # noqa: F811
    init = "for i in 1 2; do (sleep 0.3; echo SETUP-NOISE; no-such-cmd) & done"
    with envs.make_env("OS", sandbox_image=str(task_image.root)) as env:
        env.reset(options={"task": _task(init)})
        observation = env.step("Think: wait.\n\nAct: bash\n\n```bash\nsleep 1; echo done\n```")[0]
    assert "SETUP-NOISE" not in observation and "no-such-cmd" not in observation and "done" in observation


NETWORK_TASKS = [
    {"description": "a", "create": {"init": "apt update && apt install sudo -y"}, "evaluation": {"match": "x"}},
    {"description": "b", "create": {"init": "pip3 install requests"}, "evaluation": {"match": "x"}},
    {"description": "c", "evaluation": {"check": [None], "example": "wget -qO- https://example.com | wc -c"}},
    {"description": "d", "network": True, "evaluation": {"match": "x"}},
    {"description": "e", "create": {"init": "curl -s http://localhost:8000/ >/dev/null; echo 3 > /n"},
     "evaluation": {"match": "3"}},
    {"description": "How many lines? (3)", "create": {"init": "printf 'a\\nb\\nc\\n' > /root/f"},
     "evaluation": {"match": "3"}},
]  # fmt: skip


def test_tasks_that_need_the_network_are_not_runnable_and_counted_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(NETWORK_TASKS))
    loaded = load_os_tasks(path)
    reasons = [t.payload.get("not_runnable") for t in loaded]
    assert reasons == [
        "needs the network: apt",
        "needs the network: pip install",
        "needs the network: download",
        "needs the network: marked in the task file",
        None,  # a download from loopback is local
        None,
    ]
    runnable, skipped = split_runnable(loaded)
    assert [t.task_id for t in runnable] == ["os-net-00004", "os-net-00005"]
    assert count_reasons(skipped) == {r: 1 for r in reasons if r}
    with envs.make_env("OS", command_timeout_s=5) as env, pytest.raises(TaskFormatError, match="needs the network"):
        env.reset(options={"task": loaded[0]})
    assert network_need({"init": [], "example": {"language": "bash", "code": "pip3 install --no-index ./x"}}) is None


def test_envs_check_reports_not_runnable_tasks_instead_of_failing_them(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(NETWORK_TASKS))
    report = check_env_quality("agenttune/OS-v0", tasks_file=str(path))
    assert report["tasks"] == 2 and report["oracle_success_rate"] == 1.0
    assert report["not_runnable_count"] == 4 and sum(report["not_runnable_by_reason"].values()) == 4
    assert {e["task_id"] for e in report["not_runnable"]} == {f"os-net-0000{i}" for i in range(4)}
