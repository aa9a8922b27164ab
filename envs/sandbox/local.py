"""``NoSandbox``: the same interface as ``Sandbox``, running a plain bash on this machine. It isolates NOTHING.

Only for trusted agents, and only when a config says ``sandbox: none``; it logs a loud warning on every
start. The shell runs as the current user in a fresh temporary directory (its HOME) with a minimal
environment (no API keys), the same per-command wall-clock limit and output cap, and ``close`` kills the
shell's process groups; a process that leaves them (``setsid``) survives.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import replace

from envs.sandbox.config import CommandResult, SandboxConfig
from envs.sandbox.errors import SandboxError
from envs.sandbox.shell import LOOP, PtyShell, ShellBox

log = logging.getLogger(__name__)
WARNING = (
    "SANDBOX DISABLED (sandbox: none): agent commands run directly on this machine as %s, with access to "
    "its files, network and processes. Use this only for trusted agents."
)


class NoSandbox(ShellBox):
    kind = "none"
    cgroup = "none"

    def __init__(self, config: SandboxConfig | None = None, **overrides) -> None:
        config = replace(config or SandboxConfig(), **overrides)
        if problems := config.problems():
            raise SandboxError("bad sandbox config: " + "; ".join(problems))
        self.config = config
        self.host_uid = os.geteuid()
        self.start_s = 0.0
        self.workdir: str | None = None
        self._shell: PtyShell | None = None

    def start(self) -> NoSandbox:
        if self._shell is not None:
            return self
        log.warning(WARNING, os.environ.get("USER") or self.host_uid)
        started = time.monotonic()
        self.workdir = tempfile.mkdtemp(prefix="agenttune-nosandbox-")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.workdir, "LANG": "C.UTF-8"}
        env |= {"TERM": "dumb", **self.config.env}
        self._shell = PtyShell(self.config.max_output_chars)
        script = "read _; " + LOOP
        try:
            self._shell.spawn(["sh", "-c", script, "agenttune", self._shell.token], env=env, cwd=self.workdir)
        except (OSError, SandboxError) as error:
            self.close()
            raise SandboxError(f"could not start a local shell: {error}") from error
        self.start_s = time.monotonic() - started
        return self

    def run(self, command: str, timeout_s: float | None = None) -> CommandResult:
        if self._shell is None:
            raise SandboxError("the shell is not running; use it as a context manager or call start()")
        return self._shell.run(command, timeout_s or self.config.command_timeout_s)

    def run_script(
        self,
        script: str,
        args: tuple[str, ...] = (),
        *,
        language: str = "bash",
        timeout_s: float | None = None,
        discard_output: bool = False,
    ) -> CommandResult:
        line = f"(builtin cd ~ && exec {shlex.join(self.script_argv(script, args, language))})"
        return self.run(line + (" </dev/null >/dev/null 2>&1" if discard_output else ""), timeout_s)

    def close(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None and shell.process is not None:
            for pgid in {shell.process.pid, getattr(shell, "shell_pid", None)} - {None}:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            shell.process.wait()
            shell.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
