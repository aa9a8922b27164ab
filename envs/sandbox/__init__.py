"""Sandboxes for the commands agents run: ``Sandbox`` (bubblewrap; see ``envs.sandbox.bwrap`` for what it
isolates and what it does not) and ``NoSandbox`` (a plain local bash, only with ``sandbox: none``).

    from envs.sandbox import Sandbox, SandboxConfig, probe
    probe()                                   # raises SandboxUnavailable with how-to-fix text
    with Sandbox(SandboxConfig(command_timeout_s=5, memory_mb=512)) as box:
        result = box.run("ls /usr | head -3")  # CommandResult(exit_code, output, timed_out, truncated, ...)
"""

from __future__ import annotations

from envs.sandbox.bwrap import Sandbox, probe
from envs.sandbox.config import CommandResult, SandboxConfig
from envs.sandbox.errors import SandboxError, SandboxUnavailable
from envs.sandbox.local import NoSandbox
from envs.sandbox.shell import TIMEOUT_EXIT_CODE

SANDBOX_KINDS = ("bwrap", "none")


def make_sandbox(kind: str = "bwrap", config: SandboxConfig | None = None) -> Sandbox | NoSandbox:
    """The sandbox a config names: "bwrap" (the default) or "none" (no isolation, with a loud warning)."""
    if kind == "bwrap":
        return Sandbox(config)
    if kind == "none":
        return NoSandbox(config)
    raise SandboxError(f"unknown sandbox kind {kind!r}; use one of {SANDBOX_KINDS}")


__all__ = [
    "SANDBOX_KINDS",
    "TIMEOUT_EXIT_CODE",
    "CommandResult",
    "NoSandbox",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxUnavailable",
    "make_sandbox",
    "probe",
]
