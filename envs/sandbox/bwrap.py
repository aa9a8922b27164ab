"""``Sandbox``: one interactive bash per episode inside bubblewrap.

    with Sandbox(SandboxConfig(command_timeout_s=5)) as box:
        box.run("cd /usr && echo hi > stock.log && cat stock.log")   # CommandResult(exit_code=0, output="hi\\n")
        box.run("sleep 60").timed_out                                 # True; the shell and its state survive
        box.run_script("print(2 + 2)", language="python").output      # a fresh process, as `docker exec` runs

With ``SandboxConfig.image`` (the OS env's task image, ``envs.sandbox.image``) the filesystem is that image
instead, no host directory is visible, and the image's 65536 uids are mapped: see ``envs.sandbox.rootfs``. The
Filesystem and identity below describe the host-directories mode (``image=None``); processes, network,
environment, resources and lifetime hold for both.

What it isolates
  * Filesystem: the agent sees the host's /usr, /etc, /var, /opt (and /bin, /lib, ... where they are real
    directories) through kernel overlays whose upper layers, like /, /root, /home, /tmp, /run and /dev/shm,
    live on size-capped tmpfs mounts in the sandbox's own mount namespace: it can write anywhere, and every
    change vanishes at ``close``. Other top-level host directories (the checkout, /work, /srv, /mnt, ...) are
    absent; /root, /home and /tmp are fresh and empty, so ssh keys, ~/.ray, /tmp/ray and run directories
    are out of sight; paths in ``SandboxConfig.mask`` are covered with empty tmpfs mounts.
  * Identity: uid 0 inside maps to an unprivileged host uid (a random one per sandbox when we run as root),
    inside a user namespace of its own (``--unshare-all --unshare-user --disable-userns``), all capabilities
    dropped. Host files owned by root stay unreadable or unwritable where their mode says so (/etc/shadow is
    unreadable; the sandbox gets its own /etc/passwd, /etc/group and placeholder /etc/shadow, but with one uid
    mapped, useradd, groupadd and chown to other users fail: the task image mode makes them work).
  * Processes, IPC, hostname, cgroup view: own namespaces. Nothing outside is visible or signalable;
    ``kill -9 -1`` only reaches the sandbox's own processes. ``--die-with-parent``, ``--new-session``.
  * Network: own network namespace with only loopback (unless ``network=True``).
  * Environment: cleared; only PATH, HOME, LANG, TERM (and ``SandboxConfig.env``) are set.
  * Resources: rlimits on CPU seconds, address space, file size, open files and processes (counted inside the
    sandbox's user namespace); a pids + memory cgroup when the host allows one (``Sandbox.cgroup``); each
    command has a wall-clock limit (Ctrl-C, then Ctrl-\\), and output kept per command is capped.
  * Lifetime: ``close`` kills the whole process tree (pid 1 of the sandbox, hence its pid namespace, and
    the cgroup); nothing started inside outlives it.

What it does not isolate
  * The kernel: this is namespaces + rlimits, not a VM; a kernel exploit escapes it. Readable host files in
    /usr, /etc, /var, /opt are readable inside. CPU time is bounded per process, not shared fairly; disk and
    memory I/O bandwidth are not limited. Without a cgroup, memory is bounded per process (address space),
    not per sandbox.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from envs.sandbox.cgroup import Cgroup
from envs.sandbox.config import CommandResult, SandboxConfig
from envs.sandbox.errors import SandboxError, SandboxUnavailable
from envs.sandbox.host import check_host, find_tools, namespace_fixes
from envs.sandbox.image import SUBID_HINT, UID_BASE, id_mapping
from envs.sandbox.rootfs import image_argv, map_image_ids
from envs.sandbox.shell import LOOP, PtyShell, ShellBox

log = logging.getLogger(__name__)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OVERLAY_DIRS = ("usr", "etc", "var", "opt", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
EMPTY_DIRS = {"root": "0700", "home": "0755", "tmp": "1777", "run": "0755", "mnt": "0755", "srv": "0755"}
# Far above the ranges that distributions hand out, and above the task image's range (UID_BASE + 65536 ids).
UID_RANGE = (2_000_100_000, 2_100_000_000)
CHECKOUT = Path(__file__).resolve().parents[2]


class Sandbox(ShellBox):
    """One bubblewrap sandbox with one interactive bash; see the module docstring for what it isolates."""

    kind = "bwrap"

    def __init__(self, config: SandboxConfig | None = None, **overrides) -> None:
        config = replace(config or SandboxConfig(), **overrides)
        if problems := config.problems():
            raise SandboxError("bad sandbox config: " + "; ".join(problems))
        self.config = config
        self.cgroup: str = "none"  # "v1", "v2" or "none" once started
        self.host_uid: int | None = None
        self.start_s = 0.0
        self._shell: PtyShell | None = None
        self._cgroup: Cgroup | None = None

    def start(self) -> Sandbox:
        probe()
        if self.config.image is not None and not id_mapping():
            raise SandboxError(
                f"a sandbox on the task image {self.config.image} maps the image's 65536 ids: {SUBID_HINT}; "
                "or use the host's directories (the OS env's sandbox_image: host)"
            )
        return self._start()

    def run(self, command: str, timeout_s: float | None = None) -> CommandResult:
        """Run ``command`` in the episode's shell (its cwd, variables and jobs persist between commands)."""
        if self._shell is None:
            raise SandboxError("the sandbox is not running; use it as a context manager or call start()")
        try:
            return self._shell.run(command, timeout_s or self.config.command_timeout_s)
        except SandboxError:
            self.close()
            raise

    def run_script(
        self,
        script: str,
        args: tuple[str, ...] = (),
        *,
        language: str = "bash",
        timeout_s: float | None = None,
        discard_output: bool = False,
    ) -> CommandResult:
        """Run ``script`` as a fresh process in /root with a clean environment, as ``docker exec`` would
        (``bash -c SCRIPT -- ARGS`` or ``python3 -c SCRIPT ARGS``, AgentBench's ``execute_independent``).
        ``discard_output``: its output, and that of anything it leaves running, goes to /dev/null, not to the
        terminal (a set-up's background jobs would otherwise print into the agent's next observation)."""
        env = ["/usr/bin/env", "-i", f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"]
        line = shlex.join([*env, *self.script_argv(script, args, language)])
        redirect = " </dev/null >/dev/null 2>&1" if discard_output else ""
        return self.run(f"(builtin cd /root && exec {line}){redirect}", timeout_s)

    def close(self) -> None:
        """Kill everything the sandbox started and drop its files; safe to call twice."""
        shell, self._shell = self._shell, None
        if shell is None:
            return
        process = shell.process
        if process is not None:
            # Kill the sandbox's pid 1 first: the kernel then kills its whole pid namespace, and bwrap, still
            # alive outside, reaps it and exits. Killing bwrap first would leave pid 1 a zombie wherever the
            # host's init does not reap orphans (many containers).
            for pid in _children(process.pid):
                _kill(pid)
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                _kill(-process.pid)  # still in setup, or stuck: the whole process group
                process.wait()
        if self._cgroup is not None:
            self._cgroup.destroy()
            self._cgroup = None
        shell.close()

    # ------------------------------------------------------------------------------------------------ start

    def _enter_image_userns(self, pid: int) -> None:
        """The child waits on the gate in a user namespace of its own; give it the image's uid range, then the
        cgroup. Only root can map a range, which is why image sandboxes need it."""
        map_image_ids(pid)
        if self._cgroup is not None:
            self._cgroup.add(pid)

    def _start(self) -> Sandbox:
        if self._shell is not None:
            return self
        started = time.monotonic()
        bwrap, unshare = find_tools()  # before anything is created: a missing tool leaves nothing to clean up
        cfg = self.config
        shell = PtyShell(cfg.max_output_chars)
        popen: dict = {"env": {"PATH": PATH}, "cwd": "/"}
        if os.geteuid() == 0:  # drop to an unprivileged uid before the user namespace: root keeps nothing
            self.host_uid = UID_BASE if cfg.image else UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
            self._cgroup = Cgroup.create(
                shell.token, memory_bytes=(cfg.memory_mb + 2 * cfg.disk_mb) << 20, pids=cfg.nproc
            )
            self.cgroup = self._cgroup.kind if self._cgroup else "none"
        else:  # on the image, newuidmap maps uid 0 inside to UID_BASE as well
            self.host_uid = UID_BASE if cfg.image else os.geteuid()
        if cfg.image is None:
            setup = [unshare, "-Urm", "sh", "-c", _setup_script(cfg), "agenttune-setup"]
            argv = [*setup, *_bwrap_argv(cfg, shell.token, bwrap)]
            before_start = self._cgroup.add if self._cgroup else None
        else:
            argv = image_argv(cfg, shell.token, unshare, bwrap)
            before_start = self._enter_image_userns
        if os.geteuid() == 0:
            argv = _drop_to(self.host_uid, argv, popen)
        self._shell = shell
        try:
            shell.spawn(argv, before_start=before_start, **popen)
        except (OSError, SandboxError) as error:
            self.close()
            raise SandboxError(f"could not start the sandbox: {error}") from error
        self.start_s = time.monotonic() - started
        return self


# The probe lives beside Sandbox because each needs the other: it starts a test sandbox, and every
# sandbox's start() runs it (once per process).
@functools.cache
def probe() -> dict[str, str]:
    """Check that bubblewrap exists and user namespaces work; raise ``SandboxUnavailable`` saying how to fix it.

    Returns what was found (bwrap path, cgroup kind, start-up time) for logs and MLflow params.

        python -c "from envs.sandbox import probe; print(probe())"
    """
    check_host()
    try:
        box = Sandbox(SandboxConfig(command_timeout_s=10))._start()  # _start: start() would call probe()
        try:
            result = box.run("echo ok; id -u")
        finally:
            box.close()
        cgroup, start_s = box.cgroup, box.start_s
    except SandboxError as error:
        raise SandboxUnavailable(
            f"bubblewrap is installed but a test sandbox failed to start: {error}. If user namespaces are "
            f"blocked, one of these fixes it: {namespace_fixes()}. In a container, run it with --privileged or a "
            "seccomp profile that allows unshare/clone(CLONE_NEWUSER)."
        ) from error
    if result.output.split() != ["ok", "0"]:
        raise SandboxUnavailable(f"a test sandbox ran but answered {result.output!r} instead of 'ok 0'")
    return {"bwrap": shutil.which("bwrap") or "", "cgroup": cgroup, "start_ms": f"{start_s * 1000:.1f}"}


def _drop_to(uid: int, argv: list[str], popen: dict) -> list[str]:
    """``argv`` run as ``uid`` (its own group, no supplementary groups, no capabilities).

    ``setpriv`` does it after exec, so Popen can vfork; Popen's own ``user=`` makes it fork, which copies the
    page tables of the whole (Ray actor) process: 12 ms of CPU per sandbox from a 400 MB process here."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        popen.update(user=uid, group=uid, extra_groups=[])
        return argv
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", *argv]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _setup_script(cfg: SandboxConfig) -> str:
    """Runs as root of a fresh user + mount namespace (host: an unprivileged uid); then execs bwrap."""
    overlays = [d for d in OVERLAY_DIRS if Path("/", d).is_dir() and not Path("/", d).is_symlink()]
    dirs = " ".join(f"r/{d} u/{d} w/{d}" for d in overlays)
    lines = [
        "set -e",
        "read _",  # the gate: the parent puts us in the cgroup before anything forks
        f"ulimit -p {cfg.nproc}; ulimit -v {cfg.memory_mb * 1024}; ulimit -t {cfg.cpu_s}",
        f"ulimit -f {cfg.file_mb * 2048}; ulimit -n {cfg.nofile}; ulimit -c 0",
        f"mount -t tmpfs -o size={cfg.disk_mb}m,mode=755 agenttune /tmp",
        "cd /tmp",
        f"mkdir -p {dirs}",
    ]
    if "etc" in overlays:  # own account files: useradd works, and no host password hash is ever inside
        lines += [
            "while IFS= read -r l; do printf '%s\\n' \"$l\"; done </etc/passwd >u/etc/passwd",
            "while IFS= read -r l; do printf '%s\\n' \"$l\"; done </etc/group >u/etc/group",
            "umask 077; : >u/etc/.pwd.lock; umask 027",
            "while IFS=: read -r n _; do printf '%s:*:19000:0:99999:7:::\\n' \"$n\"; done </etc/passwd >u/etc/shadow",
            "while IFS=: read -r n _; do printf '%s:*::\\n' \"$n\"; done </etc/group >u/etc/gshadow",
            "umask 022",
        ]
    lines += [
        f"mount -t overlay overlay -o lowerdir=/{d},upperdir=/tmp/u/{d},workdir=/tmp/w/{d} /tmp/r/{d}"
        for d in overlays
    ]
    for path in _deep_masks(cfg, overlays):
        lines.append(f"mount -t tmpfs -o size=1m,mode=755 mask {shlex.quote('/tmp/r' + path)}")
    lines.append('exec "$@"')
    return "\n".join(lines)


def _deep_masks(cfg: SandboxConfig, overlays: list[str]) -> list[str]:
    """Secret paths that sit inside an overlaid directory (the rest are not there at all)."""
    candidates = [CHECKOUT, Path.home(), *(Path(p) for p in cfg.mask)]
    found = []
    for path in candidates:
        resolved = path.resolve()
        parts = resolved.parts
        if len(parts) > 2 and parts[1] in overlays and resolved.is_dir():
            found.append(str(resolved))
    return found


def _bwrap_argv(cfg: SandboxConfig, token: str, bwrap: str) -> list[str]:
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "0", "--gid", "0"]
    if cfg.network:
        argv.append("--share-net")
    argv += ["--hostname", "sandbox", "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
    argv += ["--bind", "/tmp/r", "/", "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    argv += ["--size", str(cfg.disk_mb << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
    for name in sorted(os.listdir("/")):
        if name in OVERLAY_DIRS and Path("/", name).is_symlink():
            argv += ["--symlink", os.readlink(Path("/", name)), f"/{name}"]
    for name, mode in EMPTY_DIRS.items():
        argv += ["--perms", mode, "--dir", f"/{name}"]
    env = {"PATH": PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash"}
    env |= {"LANG": "C.UTF-8", "TERM": "dumb", **cfg.env}
    argv += ["--chdir", "/root", "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", "/bin/sh", "-c", LOOP, "agenttune", token]
