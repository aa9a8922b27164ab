"""Policies: who writes the assistant turns of an episode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rollouts.config import PolicyConfig
from rollouts.errors import PolicyConfigError
from rollouts.policies.base import Message, Policy

__all__ = ["Message", "Policy", "as_policy_config", "make_policy", "preflight", "worker_env_vars"]


def make_policy(spec: PolicyConfig | Mapping[str, Any], endpoints: list[str] | None = None) -> Policy:
    """Build the policy a ``PolicyConfig`` (or a mapping of its fields) describes; a served policy also needs
    the ``endpoints`` of its running servers (``rollouts.serving.serve``).

    Imports are lazy: an oracle run needs neither torch nor an HTTP client.
    """
    cfg = as_policy_config(spec)
    if cfg.kind == "served":
        from rollouts.policies.served import ServedPolicy

        return ServedPolicy(cfg, endpoints or [])
    if cfg.kind == "oracle":
        from rollouts.policies.oracle import OraclePolicy

        return OraclePolicy()
    if cfg.kind == "openai":
        from rollouts.policies.openai_chat import OpenAIChatPolicy

        if not cfg.model:
            raise PolicyConfigError("rollout.policy.model: the openai policy needs the served model's name")
        return OpenAIChatPolicy(
            model=cfg.model,
            base_url=cfg.base_url,
            api_key_env=cfg.api_key_env,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            timeout_s=cfg.timeout_s,
            max_retries=cfg.max_retries,
            stop=cfg.stop,
            extra_body=cfg.extra_body,
        )
    from rollouts.policies.hf import HFPolicy

    return HFPolicy(cfg.model or "", max_new_tokens=cfg.max_tokens, temperature=cfg.temperature)


def preflight(spec: PolicyConfig | Mapping[str, Any]) -> None:
    """Before a stage starts its actors: an endpoint policy's server answers, takes the key and serves the
    model (``PolicyError`` / ``PolicyConfigError`` saying what to fix). Local policies have nothing to check."""
    cfg = as_policy_config(spec)
    if cfg.kind != "openai":
        return
    policy = make_policy(cfg)
    try:
        policy.preflight()  # type: ignore[attr-defined]
    finally:
        policy.close()


def as_policy_config(spec: PolicyConfig | Mapping[str, Any]) -> PolicyConfig:
    """``spec`` as a validated ``PolicyConfig``; a bad mapping is a ``PolicyConfigError`` naming the field."""
    if isinstance(spec, PolicyConfig):
        return spec
    try:
        return PolicyConfig.model_validate(dict(spec))
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise PolicyConfigError(f"rollout.policy: {problems}") from None


def worker_env_vars(spec: PolicyConfig) -> dict[str, str]:
    """Environment variables a policy built from ``spec`` needs in a Ray worker (its API key).

    On a cluster, actors start on other nodes and do not see the driver's environment; the
    pool hands these over through the actors' ``runtime_env``. Values are never logged.
    """
    name = spec.api_key_env if spec.kind == "openai" else None
    return {name: os.environ[name]} if name and os.environ.get(name) else {}
