"""A policy over the replicas ``rollouts.serving.serve`` started: sticky per episode, least-loaded across them.

Every turn of an episode goes to the replica its first turn went to: that replica's prefix cache (vLLM's
automatic prefix caching, the KV cache of ``transformers serve``'s continuous batching) already holds the
conversation, so a later turn only computes its new tokens. A new episode goes to the replica with the
fewest episodes in flight from this process; ties rotate from a random start, so the actors of a pool do
not all begin on replica 0.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any, ClassVar

from envs.base import Task
from rollouts.config import PolicyConfig
from rollouts.errors import PolicyConfigError
from rollouts.policies.base import Message, Policy
from rollouts.policies.openai_chat import OpenAIChatPolicy


class ServedPolicy(Policy):
    kind: ClassVar[str] = "served"

    def __init__(self, cfg: PolicyConfig, endpoints: list[str]):
        if not endpoints:
            raise PolicyConfigError("a served policy needs its servers' endpoints: start them with serve()")
        if not cfg.model:
            raise PolicyConfigError("policy.model: the served policy needs the checkpoint its servers serve")
        self.cfg = cfg
        # The servers were started for the checkpoint path; both engines serve it under that name.
        self.replicas = [
            OpenAIChatPolicy(
                model=cfg.model,
                base_url=url,
                temperature=cfg.temperature,
                max_tokens=cfg.max_tokens,
                timeout_s=cfg.timeout_s,
                max_retries=cfg.max_retries,
                stop=cfg.stop,
                extra_body=cfg.extra_body,
            )
            for url in endpoints
        ]
        self.in_flight = [0] * len(self.replicas)
        self._next = random.randrange(len(self.replicas))

    @property
    def model(self) -> str:
        return self.cfg.model or ""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "engine": self.cfg.engine}

    @contextlib.contextmanager
    def episode(self) -> Iterator[Policy]:
        fewest = min(self.in_flight)
        n = len(self.replicas)
        replica = next(i % n for i in range(self._next, self._next + n) if self.in_flight[i % n] == fewest)
        self._next = (replica + 1) % n
        self.in_flight[replica] += 1
        try:
            yield self.replicas[replica]
        finally:
            self.in_flight[replica] -= 1

    def act(self, messages: list[Message], *, task: Task) -> str:
        with self.episode() as replica:
            return replica.act(messages, task=task)

    async def aact(self, messages: list[Message], *, task: Task) -> str:
        with self.episode() as replica:
            return await replica.aact(messages, task=task)

    def preflight(self) -> None:
        for replica in self.replicas:
            replica.preflight()

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.aclose()
