"""One interactive bash on a pseudo-terminal, driven command by command. Used inside and outside the sandbox.

The process we start runs ``LOOP``: it keeps one ``bash -i`` alive on the terminal (a new one if the agent
ends it with ``exit``). A command travels as bytes over a pipe, never typed on the terminal, so quotes,
tabs, here-documents and long scripts arrive intact; the terminal only carries one short trigger line,
after which bash reads the command from the pipe, ``eval``s it in the shell itself (``cd`` and variables
persist) with stdin from /dev/null, and prints an end marker with ``$?``. Markers carry a random token.

A command past its wall-clock limit gets Ctrl-C on the terminal (SIGINT to the foreground job, as in
AgentBench's interactive shell), then Ctrl-\\ if it ignores that; a sync marker tells us the shell is
listening again. Reading uses ``select`` on the terminal, with no polling interval.

Everything runs with default signal dispositions, whatever our own process inherited (``_default_signals``).
"""

from __future__ import annotations

import abc
import fcntl
import os
import re
import secrets
import select
import signal
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

from envs.sandbox.config import CommandResult
from envs.sandbox.errors import SandboxError

TIMEOUT_EXIT_CODE = 124
START_TIMEOUT_S = 20.0
INTERRUPT_GRACE_S = 2.0
MAX_COMMAND_BYTES = 1 << 20
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
# pid 1 of the sandbox: a bash that the agent ends (exit, kill $$) is replaced; setsid -c makes the terminal
# the new session's controlling terminal, so that Ctrl-C reaches the foreground job. Once the terminal is gone
# (our end closed: the process that started the sandbox died, or bubblewrap died before the kernel could tie
# pid 1 to it), pid 1 exits, and with it the whole sandbox: a replaced bash would exit at once on a hung-up
# terminal, and the loop would spin, orphaned, for ever.
LOOP = (
    # An empty prompt from the start: a restarted shell must not print "bash-5.2# " into the next output.
    "while :; do PS1= PS2= setsid -w -c bash --noediting --noprofile --norc -i; s=$?; [ -t 0 ] || exit 0; "
    'printf \'\\036%s:exit:%d\\036\' "$1" "$s"; done'
)
# Every signal a process can ignore or block (SIGKILL and SIGSTOP it cannot), real-time ones included.
_SIGNALS = tuple(sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}))
# The signals _default_signals resets, as a /proc status mask. Not 32 and 33: the C library keeps them for its
# threads, no program can set them through it (Python, bash), and something in a long-lived process may leave
# one ignored through the raw system call (seen in the test suite), which no preexec_fn could undo anyway.
_RESETTABLE = sum(1 << (number - 1) for number in _SIGNALS)
# CPython itself ignores these, and Popen's restore_signals resets them in every child.
_RESET_BY_POPEN = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))


class ShellBox(abc.ABC):
    """What every sandbox kind shares: a context manager around ``start``/``close``, and AgentBench's
    script interpreters. Subclasses set ``self._shell`` while running."""

    _shell: PtyShell | None

    @abc.abstractmethod
    def start(self) -> ShellBox:
        raise NotImplementedError

    @abc.abstractmethod
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._shell is not None

    @staticmethod
    def script_argv(script: str, args: tuple[str, ...], language: str) -> list[str]:
        """``bash -c SCRIPT -- ARGS`` or ``python3 -c SCRIPT ARGS`` (AgentBench's ``execute_independent``)."""
        interpreter = {"bash": ["bash", "-c", script, "--"], "python": ["python3", "-c", script]}.get(language)
        if interpreter is None:
            raise SandboxError(f"unsupported script language {language!r}; use 'bash' or 'python'")
        return [*interpreter, *args]


class PtyShell:
    """The shell end of a sandbox: start it with ``spawn`` (argv that ends by running ``LOOP``), then ``run``."""

    def __init__(self, max_output_chars: int) -> None:
        self.max_output_chars = max_output_chars
        self.token = secrets.token_hex(8)
        self.process: subprocess.Popen[bytes] | None = None
        self._master = -1
        self._command_w = -1
        self._command_fd_inside = -1
        self._pending = bytearray()  # output that arrived after the last marker (a background job's)
        self._markers = re.compile(rb"\x1e" + self.token.encode() + rb":(ready|done|exit|sync):(-?\w+)\x1e")

    def spawn(self, argv: list[str], *, before_start: Callable[[int], None] | None = None, **popen) -> None:
        """Start ``argv`` on a fresh terminal; ``before_start(pid)`` runs while the child waits on a gate."""
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # "\n" stays "\n"
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)  # the trigger lines are not echoed into the output
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        command_r, self._command_w = os.pipe()
        fcntl.fcntl(self._command_w, _F_SETPIPE_SZ, _PIPE_SIZE)
        self._master, self._command_fd_inside = master, command_r
        # A child inherits this thread's signal mask. A Ray actor's threads block SIGINT: unblocked here for the
        # Popen only, the child starts with an empty mask without a preexec_fn, so Popen can vfork instead of
        # forking the whole actor (measured in a Ray actor of 300 MB: 25 ms per Popen forked, 0.8 ms vforked).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        try:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            try:
                self.process = subprocess.Popen(
                    argv,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    pass_fds=(command_r,),
                    start_new_session=True,
                    preexec_fn=_default_signals if _inherits_signals() else None,
                    **popen,
                )
            finally:
                if blocked:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if before_start is not None:
                before_start(self.process.pid)
            os.write(master, b"go\n")  # the gate: the child's first line reads it from the terminal
        finally:
            for fd in (slave, command_r):
                os.close(fd)
        self._init_shell(time.monotonic() + START_TIMEOUT_S)

    def run(self, command: str, timeout_s: float) -> CommandResult:
        if self.process is None or self._master < 0:
            raise SandboxError("the shell is not running (closed, or never started)")
        data = command.replace("\0", "").encode("utf-8", errors="replace")
        if len(data) > MAX_COMMAND_BYTES - 1:
            return CommandResult(2, f"command too long: {len(data)} bytes (at most {MAX_COMMAND_BYTES - 1})")
        started = time.monotonic()
        os.write(self._command_w, data + b"\0")
        fd = self._command_fd_inside
        trigger = f" IFS= read -r -d '' -u {fd} __agt_c; eval \"$__agt_c\" </dev/null {fd}<&-; "
        self._type(trigger + f"printf '\\036%s:done:%d\\036' {self.token} \"$?\"\n")
        out = _Output(self.max_output_chars, self._pending)
        marker = self._wait(out, started + timeout_s)
        timed_out = marker is None
        if timed_out:
            marker = self._interrupt(out)
        self._pending = out.window
        kind, value = marker
        restarted = kind == "exit"
        if restarted:
            self._init_shell(time.monotonic() + START_TIMEOUT_S)
        code = TIMEOUT_EXIT_CODE if timed_out else int(value)
        text, truncated = out.text(with_window=False)
        return CommandResult(code, text, timed_out, truncated, time.monotonic() - started, restarted)

    def close(self) -> None:
        for fd in (self._master, self._command_w):
            if fd >= 0:
                os.close(fd)
        self._master = self._command_w = -1

    # ------------------------------------------------------------------------------------------------ helpers

    def _init_shell(self, deadline: float) -> None:
        init = (
            " set +o history; unset HISTFILE; PS1=; PS2=; PS0=; PROMPT_COMMAND=; "
            f"printf '\\036%s:ready:%d\\036' {self.token} $$\n"
        )
        self._type(init)
        out = _Output(10_000)
        while True:
            marker = self._wait(out, deadline)
            if marker is None or marker[0] == "ready":
                break
        if marker is None:
            raise SandboxError(f"the sandbox's shell did not start within {START_TIMEOUT_S:.0f} s: {out.text()[0]}")
        self.shell_pid = int(marker[1])

    def _interrupt(self, out: _Output) -> tuple[str, str]:
        """Ctrl-C, then Ctrl-\\, until the shell answers a sync marker; the command's own marker may come first."""
        for key in (b"\x03", b"\x1c"):
            os.write(self._master, key)
            nonce = secrets.token_hex(4)
            self._type(f" printf '\\036%s:sync:%s\\036' {self.token} {nonce}\n")
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            while (marker := self._wait(out, deadline)) is not None:
                if marker[0] == "exit":
                    return marker
                if marker == ("sync", nonce):
                    return "sync", nonce
        raise SandboxError("the shell did not come back after Ctrl-C and Ctrl-\\ (the command ignores both)")

    def _type(self, line: str) -> None:
        try:
            os.write(self._master, line.encode())
        except OSError as error:
            raise SandboxError(f"the sandbox's shell is gone ({error})") from error

    def _wait(self, out: _Output, deadline: float) -> tuple[str, str] | None:
        """Read output until the next marker (returned as (kind, value)) or the deadline (None)."""
        while True:
            found = self._markers.search(bytes(out.window))
            if found:
                out.consume(found.start(), found.end())
                return found.group(1).decode(), found.group(2).decode()
            out.trim()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._master], [], [], left)
            if not ready:
                return None
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                chunk = b""
            if not chunk:  # EIO: every process holding the terminal is gone
                code = self.process.poll() if self.process else None
                raise SandboxError(f"the sandbox exited (status {code}): {out.text()[0][-2000:]}")
            out.feed(chunk)


def _default_signals() -> None:
    """``preexec_fn`` of the first process of every shell: default dispositions and an empty signal mask.

    Ignored signals survive exec, and ``nohup``, ``cmd &`` in a script, CI runners and service managers start
    us with SIGINT, SIGQUIT or SIGHUP ignored; every process in the sandbox would inherit that, so Ctrl-C and
    Ctrl-\\ would no longer stop a timed-out command (nor ``kill -INT``/``-HUP`` work inside). No shell can undo
    it later (bash keeps a signal ignored on entry ignored for its children, and cannot even trap it when not
    interactive), hence a reset between fork and exec. Why a ``preexec_fn`` rather than another mechanism:
    ``os.posix_spawn(setsigdef=...)`` cannot drop to another uid (``Sandbox`` does as root) nor set the cwd, and
    ``env --default-signal`` needs coreutils 8.31+ (not in Ubuntu 20.04 or Debian 10). Popen's own
    ``restore_signals`` only resets SIGPIPE and SIGXFSZ.

    Safe from worker threads (Ray actors): CPython runs ``PyOS_AfterFork_Child`` before the ``preexec_fn``,
    which makes the forking thread the child's main thread, so ``signal.signal`` is allowed there; this only
    calls sigaction and sigprocmask (async-signal-safe), takes no lock and imports nothing. The child's set of
    pending signals is empty after fork, so unblocking cannot kill it before exec.
    """
    for number in _SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _inherits_signals() -> bool:
    """Whether a child of this thread would start with a signal ignored or blocked that Popen does not reset.

    Only then do we pass ``_default_signals``: any ``preexec_fn`` makes CPython fork and run its fork hooks
    where it would otherwise vfork (not as root: ``user=`` forks anyway), +1.5 ms per start here and +100 ms
    from a 2 GB process, whose page tables fork copies; and without one no Python code runs in the child."""
    try:
        status = Path("/proc/thread-self/status").read_text()  # SigIgn: the process's; SigBlk: this thread's
    except OSError:
        return True  # cannot tell: reset, to be sure
    return _passes_on_signals(status)


def _passes_on_signals(status: str) -> bool:
    """``_inherits_signals`` for a ``/proc/<pid>/task/<tid>/status`` text."""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    ignored, blocked = int(fields["SigIgn"], 16), int(fields["SigBlk"], 16)
    return bool(ignored & _RESETTABLE & ~_RESET_BY_POPEN or blocked & _RESETTABLE)


class _Output:
    """Output of one command: the first ``limit`` characters are kept; ``window`` is the unsearched tail."""

    _KEEP = 128  # a marker split across reads is found once its second half arrives

    def __init__(self, limit: int, pending: bytes | bytearray = b"") -> None:
        self.limit_bytes = 4 * limit  # utf-8: at most 4 bytes per character
        self.limit = limit
        self.head = bytearray()
        self.window = bytearray(pending)
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        self.window += chunk

    def trim(self) -> None:
        """Called once the window holds no marker: all but its tail is output."""
        if len(self.window) > self._KEEP:
            self._keep(self.window[: -self._KEEP])
            del self.window[: -self._KEEP]

    def consume(self, start: int, end: int) -> None:
        """A marker sits at window[start:end]: what precedes it is output, the marker itself is dropped."""
        self._keep(self.window[:start])
        del self.window[:end]

    def _keep(self, data: bytes | bytearray) -> None:
        room = max(0, self.limit_bytes - len(self.head))
        self.head += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self, with_window: bool = True) -> tuple[str, bool]:
        text = (
            (self.head + (self.window if with_window else b"")).decode("utf-8", errors="replace").replace("\r\n", "\n")
        )
        truncated = self.dropped > 0 or len(text) > self.limit
        return text[: self.limit], truncated
