"""The policy contract: conversation in, next assistant message out."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from envs.base import Task

Message = dict[str, str]  # OpenAI style: {"role": "system" | "user" | "assistant", "content": "..."}


class Policy(ABC):
    """An agent that writes the next assistant turn.

    ``act`` receives the whole conversation so far (OpenAI-style messages, the last
    one from the user/environment) and the task, which only the oracle may look at.
    It raises ``rollouts.errors.PolicyError`` when it cannot answer (e.g. the
    endpoint stays unreachable after its retries); the episode loop turns that into
    an ``agent_error`` record.
    """

    kind: ClassVar[str]

    @property
    def model(self) -> str | None:
        return None

    @abstractmethod
    def act(self, messages: list[Message], *, task: Task) -> str: ...

    async def aact(self, messages: list[Message], *, task: Task) -> str:
        """``act`` for asyncio callers. The default runs ``act`` in a thread so a slow local
        policy never blocks the event loop; HTTP policies override it with a native async call."""
        return await asyncio.to_thread(self.act, messages, task=task)

    @contextlib.contextmanager
    def episode(self) -> Iterator[Policy]:
        """The policy that plays one episode's turns: this one, unless an episode's turns must stay together
        (a served policy pins each episode to one replica, whose prefix cache holds the conversation)."""
        yield self

    def describe(self) -> dict[str, Any]:
        """What goes into each trajectory record's ``policy`` field. Never holds secrets."""
        return {"kind": self.kind, "model": self.model}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients, servers or model memory."""
