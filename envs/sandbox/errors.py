"""Errors raised by the sandbox. Both are infrastructure faults (``envs.errors.EnvError``): an episode
that hits one is recorded with status ``env_error``, never blamed on the agent."""

from __future__ import annotations

from envs.errors import EnvError


class SandboxError(EnvError):
    """The sandbox failed while running (could not start, or its shell stopped answering)."""


class SandboxUnavailable(SandboxError):
    """This machine cannot run sandboxes (no bubblewrap, or user namespaces blocked); the text says how to fix it."""
