"""Typed configs of the rollout and filter stages: who acts, the actor pool that plays, which episodes to keep.

    cfg = RolloutConfig(envs=[EnvSelection(id="agenttune/DB-v0", num_tasks=100)], max_actors=8)
    policy = make_policy(cfg.policy)            # rollouts.policies
    summary = run_rollouts(jobs, policy=cfg.policy, pool=cfg, out_path=...)

``PoolConfig`` is shared with evaluation, which plays episodes on the same pool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from envs.config import ConfigSection, EnvSelection

PolicyKind = Literal["oracle", "openai", "hf", "served"]
Engine = Literal["transformers", "vllm"]


class PolicyConfig(ConfigSection):
    """Who writes the assistant turns of an episode."""

    kind: PolicyKind = Field(
        "oracle",
        description="oracle: scripted gold solutions (offline); openai: any OpenAI-compatible endpoint; hf: a local "
        "Hugging Face checkpoint run in the actor; served: the stage starts `replicas` OpenAI-compatible servers of "
        "`engine` for the checkpoint as Ray actors, and stops them when it ends.",
    )
    model: str | None = Field(
        None,
        description="openai: the served model name; hf, served: a checkpoint path or hub id (eval: None evaluates "
        "the tuned checkpoint, and the base model with the same settings).",
    )
    base_url: str | None = Field(
        None, description="openai: the endpoint, e.g. http://127.0.0.1:8000/v1 (None: api.openai.com)."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="openai: the environment variable that holds the key (never logged)."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 decodes greedily.")
    max_tokens: int = Field(512, ge=1, description="Most new tokens per assistant turn.")
    timeout_s: float = Field(60.0, gt=0, description="openai: seconds before one request is abandoned and retried.")
    max_retries: int = Field(
        5, ge=0, description="openai: retries of a failed request (429, 5xx, timeouts) before the episode fails."
    )
    stop: list[str] | None = Field(
        None, description="openai: stop sequences sent with every request, e.g. ['Observation:'] (None: none)."
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="openai, served: extra fields merged into every request body, for server-specific sampling "
        "options (e.g. vLLM's {top_k: 20, repetition_penalty: 1.05}).",
    )
    engine: Engine = Field(
        "transformers",
        description="served: 'transformers' (`transformers serve` with continuous batching; CPU or GPU) or 'vllm' "
        "(GPU; `pip install agenttune[vllm]`).",
    )
    replicas: int = Field(1, ge=1, description="served: model servers started; an episode stays on one of them.")
    gpus_per_replica: float | None = Field(
        None, ge=0, description="served: GPUs each server reserves (None: 1 for vllm, else 1 if the cluster has GPUs)."
    )
    cpus_per_replica: float = Field(1.0, gt=0, description="served: CPUs each server reserves.")
    engine_args: dict[str, Any] = Field(
        default_factory=dict,
        description="served: command-line options for the engine's server, as {option: value}: "
        "{max_model_len: 4096} is --max-model-len 4096, true is a bare flag, false is --no-<option>.",
    )
    startup_timeout_s: float = Field(
        900.0, gt=0, description="served: how long a server may take to load the model and answer."
    )
    gpus: float | None = Field(
        None,
        ge=0,
        description="hf: GPUs each actor reserves for its in-process model (None: 1 if the cluster has GPUs, else 0). "
        "On a GPU the model runs in bf16.",
    )


class PoolConfig(ConfigSection):
    """The elastic actor pool that plays episodes (rollout and eval)."""

    min_actors: int = Field(1, ge=0, description="Actors kept while work remains (started even if they must queue).")
    max_actors: int = Field(
        2, ge=1, description="The pool grows up to this while episodes are queued and the cluster has free CPUs."
    )
    concurrency: int = Field(32, ge=1, description="Episodes in flight per actor (asyncio; env steps in threads).")
    actor_cpus: float = Field(1.0, ge=0, description="CPUs reserved per actor.")
    episode_timeout_s: float = Field(
        300.0, gt=0, description="Wall-clock limit of one episode, a hung policy call or env step included."
    )
    recycle_envs_after: int = Field(256, ge=1, description="Episodes an env serves before it is replaced.")
    prewarm_envs: bool = Field(
        True,
        description="Each actor makes its share of envs, and warms them up (an OS env starts its first sandbox), "
        "before it takes work, so that its first episodes do not all start at once.",
    )
    max_attempts: int = Field(
        3, ge=1, description="An episode that kills its actor this many times (run alone) is recorded as env_error."
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> PoolConfig:
        if self.min_actors > self.max_actors:
            raise ValueError(f"min_actors ({self.min_actors}) must be <= max_actors ({self.max_actors})")
        return self


class RolloutConfig(PoolConfig):
    """The rollout stage: episodes of the selected envs' tasks, played by ``policy`` on the pool."""

    envs: list[EnvSelection] = Field(
        default_factory=lambda: [EnvSelection(id="agenttune/DB-v0")],
        description="The envs and tasks to roll out (held-in envs, train split).",
    )
    samples_per_task: int = Field(1, ge=1, description="Episodes per task (with temperature > 0, different ones).")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Who acts.")
    env_modules: list[str] = Field(
        default_factory=list,
        description="Modules imported by the driver and every actor before envs are made, e.g. a package of "
        "your own envs registered with envs.register_env (eval uses them too).",
    )
    output_format: Literal["jsonl", "parquet"] = Field(
        "jsonl",
        description="Records are appended to rollout/trajectories.jsonl as episodes finish; 'parquet' also "
        "writes rollout/trajectories.parquet when the stage ends.",
    )


class FilterConfig(ConfigSection):
    """Which trajectories are kept for training; every drop is counted by the first rule it fails."""

    min_reward: float = Field(1.0, description="Keep episodes with reward >= this (paper: 1.0).")
    min_reward_per_env: dict[str, float] = Field(
        default_factory=dict, description="Per-env thresholds, e.g. {'agenttune/WebShop-v0': 0.667}."
    )
    require_completed: bool = Field(True, description="Drop episodes whose status is not 'completed'.")
    require_well_formed: bool = Field(True, description="Drop episodes with any malformed action.")
    max_tokens: int | None = Field(
        None, ge=1, description="Drop trajectories longer than this many model tokens (None: train.seq_len)."
    )
    dedupe: bool = Field(True, description="Drop exact duplicate conversations.")
