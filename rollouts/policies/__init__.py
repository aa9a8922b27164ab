"""Policies: who writes the assistant turns of an episode."""

from __future__ import annotations

import os
from typing import Any

from rollouts.errors import PolicyConfigError
from rollouts.policies.base import Message, Policy

__all__ = ["Message", "Policy", "make_policy", "worker_env_vars"]


def make_policy(spec: dict[str, Any]) -> Policy:
    """Build a policy from a ``rollout.policy`` config section (as a dict).

    Imports are lazy: an oracle run needs neither torch nor an HTTP client.
    """
    kind = spec.get("kind", "oracle")
    if kind == "oracle":
        from rollouts.policies.oracle import OraclePolicy

        return OraclePolicy()
    if kind == "openai":
        from rollouts.policies.openai_chat import OpenAIChatPolicy

        if not spec.get("model"):
            raise PolicyConfigError("rollout.policy.model: the openai policy needs the served model's name")
        return OpenAIChatPolicy(
            model=spec["model"],
            base_url=spec.get("base_url"),
            api_key_env=spec.get("api_key_env", "OPENAI_API_KEY"),
            temperature=spec.get("temperature", 0.0),
            max_tokens=spec.get("max_tokens", 512),
            timeout_s=spec.get("timeout_s", 60.0),
            max_retries=spec.get("max_retries", 5),
        )
    if kind == "hf":
        from rollouts.policies.hf import HFPolicy

        return HFPolicy(
            spec.get("model") or "",
            max_new_tokens=spec.get("max_tokens", 256),
            temperature=spec.get("temperature", 0.0),
            trust_remote_code=spec.get("trust_remote_code", False),
        )
    raise PolicyConfigError(f"rollout.policy.kind: unknown policy {kind!r}; choose oracle, openai or hf")


def worker_env_vars(spec: dict[str, Any]) -> dict[str, str]:
    """Environment variables a policy built from ``spec`` needs in a Ray worker (its API key).

    On a cluster, actors start on other nodes and do not see the driver's environment; the
    pool hands these over through the actors' ``runtime_env``. Values are never logged.
    """
    name = spec.get("api_key_env") if spec.get("kind") == "openai" else None
    return {name: os.environ[name]} if name and os.environ.get(name) else {}
