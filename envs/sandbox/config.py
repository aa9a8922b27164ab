"""What a sandbox is allowed (``SandboxConfig``) and what one command gave back (``CommandResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of one sandbox. Every field has a default fit for AgentBench-style OS tasks.

    The memory and process limits are rlimits of every process in the sandbox, and also the limits of the
    sandbox's own pids/memory cgroup where the host lets us create one (``Sandbox.cgroup`` says which).
    """

    command_timeout_s: float = 10.0  # wall clock per command; then Ctrl-C, and the shell lives on
    memory_mb: int = 1024  # address space of each process; the cgroup caps memory_mb + disk_mb in all
    disk_mb: int = 256  # size of the tmpfs that holds every write (overlay upper layers, /tmp, /root, ...)
    cpu_s: int = 300  # CPU seconds of each process
    nproc: int = 256  # processes and threads of the sandbox's host uid
    nofile: int = 1024  # open files per process
    file_mb: int = 256  # largest file a process may write
    max_output_chars: int = 100_000  # output kept per command; the rest is counted and dropped
    network: bool = False  # True shares the host's network (for trusted tasks only)
    mask: tuple[str, ...] = ()  # extra host paths to hide (the checkout, /root, /home are always hidden)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables inside
    # A task image's rootfs (``envs.sandbox.image``) as the lower layer of the whole filesystem, instead of the
    # host's /usr, /etc, ...; None: the host's. Needs root (the sandbox maps the image's 65536 uids).
    image: str | None = None

    def problems(self) -> list[str]:
        numbers = {
            "command_timeout_s": self.command_timeout_s,
            "memory_mb": self.memory_mb,
            "disk_mb": self.disk_mb,
            "cpu_s": self.cpu_s,
            "nproc": self.nproc,
            "nofile": self.nofile,
            "file_mb": self.file_mb,
            "max_output_chars": self.max_output_chars,
        }
        found = [f"{name} must be positive, got {value!r}" for name, value in numbers.items() if not value > 0]
        if self.nproc < 16:
            found.append(f"nproc must be at least 16 (the shell itself needs a few), got {self.nproc}")
        if self.memory_mb < 64:
            found.append(f"memory_mb must be at least 64 (bash and python need it), got {self.memory_mb}")
        return found


@dataclass(frozen=True)
class CommandResult:
    """One command's outcome. ``output`` is stdout and stderr interleaved, as a terminal shows them."""

    exit_code: int  # 124 when the wall-clock limit fired (as coreutils' timeout reports it)
    output: str
    timed_out: bool = False
    truncated: bool = False  # output went past max_output_chars; the rest was dropped
    duration_s: float = 0.0
    shell_restarted: bool = False  # the command ended the shell (exit, kill $$); a fresh shell took over
