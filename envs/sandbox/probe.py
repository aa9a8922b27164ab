"""The start-up probe: can this machine run sandboxes? Checked once per process, before any episode.

python -c "from envs.sandbox import probe; print(probe())"
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from envs.sandbox.config import SandboxConfig
from envs.sandbox.errors import SandboxError, SandboxUnavailable

INSTALL_HINT = (
    "Install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu), `dnf install bubblewrap` (Fedora), "
    "`apk add bubblewrap` (Alpine); `make install` does it when run as root. To run without isolation "
    "(trusted agents only), set `sandbox: none` in the config."
)
_SYSCTLS = [
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or give bwrap and unshare an AppArmor "
        "profile with `userns,`, as Ubuntu 24.04 documents)",
    ),
]


@functools.cache
def probe() -> dict[str, str]:
    """Check that bubblewrap exists and user namespaces work; raise ``SandboxUnavailable`` saying how to fix it.

    Returns what was found (bwrap path, cgroup kind, start-up time) for logs and MLflow params.
    """
    from envs.sandbox.bwrap import Sandbox

    missing = [tool for tool in ("bwrap", "unshare") if shutil.which(tool) is None]
    if "bwrap" in missing:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed or not on PATH. {INSTALL_HINT}")
    if missing:
        raise SandboxUnavailable("`unshare` (util-linux) is not on PATH; install util-linux.")
    blocked = [fix for path, bad, fix in _SYSCTLS if _read(path) == bad]
    if blocked:
        raise SandboxUnavailable("user namespaces are disabled on this machine; enable them: " + "; ".join(blocked))
    try:
        box = Sandbox(SandboxConfig(command_timeout_s=10))._start()  # _start: start() would call probe()
        try:
            result = box.run("echo ok; id -u")
        finally:
            box.close()
        cgroup, start_s = box.cgroup, box.start_s
    except SandboxError as error:
        hints = " ".join(fix for _, _, fix in _SYSCTLS)
        raise SandboxUnavailable(
            f"bubblewrap is installed but a test sandbox failed to start: {error}. If user namespaces are "
            f"blocked, one of these fixes it: {hints}. In a container, run it with --privileged or a seccomp "
            "profile that allows unshare/clone(CLONE_NEWUSER)."
        ) from error
    if result.output.split() != ["ok", "0"]:
        raise SandboxUnavailable(f"a test sandbox ran but answered {result.output!r} instead of 'ok 0'")
    return {"bwrap": shutil.which("bwrap") or "", "cgroup": cgroup, "start_ms": f"{start_s * 1000:.1f}"}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
