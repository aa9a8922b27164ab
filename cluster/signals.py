"""SIGTERM stops a command the way Ctrl-C does.

A job scheduler, ``kill`` or Kubernetes ends a run with SIGTERM; its default kills the process at once, and
``ray.init`` replaces it with a handler that exits without unwinding either. Turned into KeyboardInterrupt,
every ``with`` block unwinds: actors are stopped, files closed, MLflow runs marked KILLED (not left
RUNNING), and a rerun resumes. ``install`` runs at the CLI's start and again after ``ray.init``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

received: list[str] = []  # names of the signals that interrupted this process, oldest first


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    received.append("SIGTERM")
    raise KeyboardInterrupt


def install() -> signal.Handlers | None:
    """Make SIGTERM raise KeyboardInterrupt; return the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def interrupted_by() -> str:
    return received[-1] if received else "SIGINT"
