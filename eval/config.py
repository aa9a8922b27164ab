"""The typed config of the eval stage: which tasks, which models, on which pool.

cfg = EvalConfig(envs=[EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=40)], compare_base=True)
"""

from __future__ import annotations

from pydantic import Field

from envs.config import EnvSelection
from rollouts.config import PoolConfig


class EvalConfig(PoolConfig):
    """Evaluation: the tuned model (and the base model) play held-in test tasks and held-out envs."""

    envs: list[EnvSelection] = Field(
        default_factory=lambda: [EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=16)],
        description="Held-in envs' test tasks, and held-out envs never trained on.",
    )
    compare_base: bool = Field(True, description="Also evaluate the base model, for a side-by-side comparison.")
    max_new_tokens: int = Field(128, ge=1, description="Most new tokens per assistant turn of the evaluated model.")
    concurrency: int = Field(
        1, ge=1, description="Episodes in flight per actor: 1 for an in-process hf model, which uses the CPUs itself."
    )
