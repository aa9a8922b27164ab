"""Errors raised by the rollout stage."""


class RolloutError(Exception):
    """Base class for rollout errors."""


class PolicyError(RolloutError):
    """The policy could not produce a reply (endpoint unreachable after retries, model failure).

    The episode loop records the episode with status ``agent_error`` instead of raising.
    """


class PolicyConfigError(RolloutError):
    """The policy is misconfigured (unknown kind, missing model, missing API key variable)."""
