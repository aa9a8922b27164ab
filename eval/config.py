"""The typed config of the eval stage: which tasks, which models, served how, and general ability.

cfg = EvalConfig(envs=[EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=40)],
                 policy=PolicyConfig(kind="served", engine="vllm", replicas=4),
                 general=GeneralEvalConfig(tasks=["mmlu", "gsm8k_cot"], num_fewshot={"mmlu": 5, "gsm8k_cot": 8}))
"""

from __future__ import annotations

from pydantic import Field

from envs.config import ConfigSection, EnvSelection
from rollouts.config import PolicyConfig, PoolConfig


class GeneralEvalConfig(ConfigSection):
    """General ability, the paper's third column: a held-out loss that always runs, and benchmarks by name."""

    heldout_records: int = Field(
        64,
        ge=0,
        description="Records of mix.general set aside before mixing (never trained on) for the held-out loss, "
        "perplexity and next-token accuracy of every evaluated model; 0 turns it off.",
    )
    tasks: list[str] = Field(
        default_factory=list,
        description="lm-evaluation-harness task names, e.g. [mmlu, gsm8k_cot, humaneval] (the paper: MMLU 5-shot, "
        "GSM8K 8-shot chain-of-thought, HumanEval); datasets come from the hub or its local cache.",
    )
    num_fewshot: dict[str, int] = Field(
        default_factory=dict, description="Few-shot examples per task name, e.g. {mmlu: 5} (unset: the task's own)."
    )
    limit: int | None = Field(None, ge=1, description="At most this many examples per task (None: all).")
    include_path: str | None = Field(
        None, description="A folder of your own lm-eval task YAMLs, whose task names `tasks` may then use."
    )
    batch_size: int = Field(8, ge=1, description="lm-eval's batch size for the in-process hf model.")
    allow_code_execution: bool = Field(
        False,
        description="Let tasks that run model-written code (HumanEval) do so; lm-eval refuses them otherwise.",
    )


class EvalConfig(PoolConfig):
    """Evaluation: the tuned model (and the base model) on held-in test tasks, held-out envs and general ability."""

    envs: list[EnvSelection] = Field(
        default_factory=lambda: [EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=16)],
        description="Held-in envs' test tasks, and held-out envs never trained on.",
    )
    policy: PolicyConfig = Field(
        default_factory=lambda: PolicyConfig(kind="hf", max_tokens=128),
        description="How the evaluated models act: the rollout policy's schema. hf runs the checkpoint in each "
        "actor; served starts `replicas` servers of it (its `model` unset: the tuned checkpoint, then the base).",
    )
    compare_base: bool = Field(True, description="Also evaluate the base model, for a side-by-side comparison.")
    general: GeneralEvalConfig = Field(
        default_factory=GeneralEvalConfig, description="General ability: held-out loss and lm-eval benchmarks."
    )
    concurrency: int = Field(
        1,
        ge=1,
        description="Episodes in flight per actor: 1 for an in-process hf model, which uses the CPUs itself; "
        "more for a served policy, whose servers batch the requests.",
    )
