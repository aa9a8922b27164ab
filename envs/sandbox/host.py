"""What a host needs before any sandbox can start: bwrap and unshare on PATH, and user namespaces enabled.

``envs.sandbox.probe()`` checks these first, then starts a test sandbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from envs.sandbox.errors import SandboxUnavailable

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


def check_host() -> None:
    """Raise ``SandboxUnavailable`` saying how to fix it when a tool is missing or user namespaces are disabled."""
    find_tools()
    blocked = [fix for path, bad, fix in _SYSCTLS if _read(path) == bad]
    if blocked:
        raise SandboxUnavailable("user namespaces are disabled on this machine; enable them: " + "; ".join(blocked))


def find_tools() -> tuple[str, str]:
    """Where bwrap and unshare are on PATH, or ``SandboxUnavailable`` naming the missing one and how to install it.

    Every sandbox start asks again (``probe`` runs once per process) and runs exactly these files."""
    bwrap, unshare = shutil.which("bwrap"), shutil.which("unshare")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed or not on PATH. {INSTALL_HINT}")
    if unshare is None:
        raise SandboxUnavailable(
            "`unshare` (util-linux) is not installed or not on PATH. Install util-linux: `apt-get install util-linux`."
        )
    return bwrap, unshare


def namespace_fixes() -> str:
    """Every fix that enables user namespaces, for when a sandbox fails in a way that suggests they are blocked."""
    return " ".join(fix for _, _, fix in _SYSCTLS)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
