"""How a ``Sandbox`` starts on a task image (``SandboxConfig.image``) instead of the host's directories.

    argv = image_argv(cfg, token, unshare, bwrap)   # run as host uid UID_BASE (or the user); waits on a gate
    map_image_ids(child_pid)                        # its uid/gid maps are written, then the gate opens

The chain: ``unshare -Um`` (a user + mount namespace, no ids mapped yet) runs a shell that waits on the gate;
we map inside 0..65535 to the image's host range UID_BASE.. (root writes the maps; another user needs the
setuid newuidmap/newgidmap and that range in /etc/subuid and /etc/subgid, as rootless containers do). Past
the gate the shell re-executes itself, now root of its namespace with its capabilities, and mounts: a capped
tmpfs, and on it one overlay whose lower layer is the image's rootfs and whose upper layer takes every write.
It forbids further user namespaces (``user.max_user_namespaces = 0`` in its namespace, as ``bwrap
--disable-userns`` does) and execs bwrap without a user namespace of its own, so that every uid of the range
is usable: ``useradd``, ``chown``, ``runuser`` and ``su`` work as in AgentBench's container. bwrap drops every
capability but a container's usual set (``CAPS``), all of them confined to the sandbox's own namespaces and to
files of the image's range, and sets no_new_privs. Only the root path has a cgroup (the pids and memory limits
are then the ``ulimit``s alone).

The agent sees only the image: no host directory is mounted (``/proc`` is its own pid namespace's, ``/dev``
the few standard nodes bwrap makes). Every sandbox on the image runs as host uid UID_BASE; they are kept apart
by their namespaces (pid, mount, ipc, net, uts, cgroup) and per-sandbox ``ulimit``s and cgroup, not by uid.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time

from envs.sandbox.config import SandboxConfig
from envs.sandbox.errors import SandboxError
from envs.sandbox.image import ID_COUNT, UID_BASE
from envs.sandbox.shell import LOOP

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A container runtime's default set, less MKNOD and SETFCAP (no device nodes, no file capabilities).
CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
)
# The gate: wait for the parent to map the ids, then re-exec so the setup runs as root of the namespace (run as
# host uid UID_BASE, which the map makes uid 0 inside).
GATE = 'read _ && s=$1 && shift && exec sh -c "$s" "$@"'
# Run as another user, whose uid the map leaves out: it kept the namespace's capabilities (unshare --keep-caps)
# and uses them to become uid 0 inside before the re-exec (mount, like the files, wants uid 0).
SUBID_GATE = 'read _ && s=$1 && shift && exec setpriv --reuid=0 --regid=0 --clear-groups sh -c "$s" "$@"'
MAP_TIMEOUT_S = 5.0


def image_argv(cfg: SandboxConfig, token: str, unshare: str, bwrap: str) -> list[str]:
    assert cfg.image is not None  # the caller chose this path because of it
    if os.geteuid() == 0:
        setup = [unshare, "-Um", "sh", "-c", GATE, "agenttune-gate", _setup_script(cfg), "agenttune-setup"]
    else:
        setup = [unshare, "-Um", "--keep-caps", "sh", "-c", SUBID_GATE, "agenttune-gate", _setup_script(cfg)]
        setup.append("agenttune-setup")
    return [*setup, *_bwrap_argv(cfg, token, bwrap)]


def map_image_ids(pid: int) -> None:
    """Wait until ``pid`` is in its new user namespace, then map the image's uid and gid range into it: as root
    by writing the maps, otherwise through newuidmap/newgidmap (``envs.sandbox.image.id_mapping``)."""
    ours = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + MAP_TIMEOUT_S
    try:
        while os.readlink(f"/proc/{pid}/ns/user") == ours:
            if time.monotonic() > deadline:
                raise SandboxError(f"the sandbox's setup did not enter a user namespace within {MAP_TIMEOUT_S} s")
            time.sleep(0.0005)
        if os.geteuid() == 0:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write(f"0 {UID_BASE} {ID_COUNT}\n")
            return
        for tool in ("newuidmap", "newgidmap"):
            done = subprocess.run([tool, str(pid), "0", str(UID_BASE), str(ID_COUNT)], capture_output=True, text=True)
            if done.returncode != 0:
                raise OSError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    except OSError as error:
        raise SandboxError(f"could not map the task image's ids into the sandbox: {error}") from error


def _setup_script(cfg: SandboxConfig) -> str:
    """Runs as root of the new user + mount namespace (host: UID_BASE); then execs bwrap."""
    return "\n".join(
        [
            "set -e",
            f"ulimit -p {cfg.nproc}; ulimit -v {cfg.memory_mb * 1024}; ulimit -t {cfg.cpu_s}",
            f"ulimit -f {cfg.file_mb * 2048}; ulimit -n {cfg.nofile}; ulimit -c 0",
            # The image may live under /tmp: stand in it before the tmpfs covers it, and name it as the mount's
            # cwd (an fd would do too, but any number could be the command pipe the shell inherits).
            f"cd {shlex.quote(str(cfg.image))}",
            f"mount -t tmpfs -o size={cfg.disk_mb}m,mode=755 agenttune /tmp",
            "mkdir -p /tmp/r /tmp/u /tmp/w",
            "mount -t overlay overlay -o lowerdir=/proc/self/cwd,upperdir=/tmp/u,workdir=/tmp/w /tmp/r",
            "cd /",
            "echo 0 > /proc/sys/user/max_user_namespaces",
            'exec "$@"',
        ]
    )


def _bwrap_argv(cfg: SandboxConfig, token: str, bwrap: str) -> list[str]:
    argv = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not cfg.network:
        argv.append("--unshare-net")
    argv += ["--hostname", "sandbox", "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
    for cap in CAPS:
        argv += ["--cap-add", cap]
    argv += ["--bind", "/tmp/r", "/", "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    # Host-owned and root-only (0500): unreadable even to root inside, so `find /` would say "Permission denied"
    # where a container's root reads it; an empty read-only directory instead.
    argv += ["--tmpfs", "/proc/tty/driver", "--remount-ro", "/proc/tty/driver"]
    argv += ["--size", str(cfg.disk_mb << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
    env = {"PATH": PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash"}
    env |= {"LANG": "C.UTF-8", "TERM": "dumb", **cfg.env}
    argv += ["--chdir", "/root", "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", "/bin/sh", "-c", LOOP, "agenttune", token]
