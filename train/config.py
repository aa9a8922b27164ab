"""Typed configs of the model, mix and train stages.

    fit(TrainConfig(steps=2000, global_batch_size=64, precision="bf16", use_gpu=True), data_dir=..., ...)

``TrainConfig`` is what ``train.loop.fit`` takes and what every Ray Train worker receives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from envs.config import ConfigSection


class TinyModelConfig(ConfigSection):
    """The small random Llama built locally when ``model.name_or_path`` is 'tiny' (offline demo and tests)."""

    hidden_size: int = Field(64, ge=8, description="Width of the residual stream.")
    num_layers: int = Field(2, ge=1, description="Transformer blocks.")
    num_heads: int = Field(4, ge=1, description="Attention heads (as many key/value heads).")
    vocab_size: int = Field(2048, ge=256, description="Size of the byte-level BPE vocabulary trained locally.")
    chat_template: Literal["llama2", "chatml"] = Field(
        "chatml",
        description="Template of the tiny tokenizer. ChatML suits a byte-level BPE: with the Llama-2 template the "
        "space after [/INST] becomes a token of its own that a tiny model learns to follow with </s>.",
    )
    pretrain_steps: int = Field(
        0,
        ge=0,
        description="Steps of next-token training of the fresh tiny model on generated general chat records "
        "before it is saved as the base model (0: the base stays random). A stand-in for starting from a chat "
        "model, as the paper does; built once per run dir, shared by every arm of a sweep.",
    )
    pretrain_records: int = Field(
        4000, ge=1, description="Distinct generated general records the pretraining draws from (in passes)."
    )
    pretrain_batch_size: int = Field(32, ge=1, description="Records per pretraining step.")
    pretrain_lr: float = Field(3e-3, gt=0, description="Peak learning rate of the pretraining (cosine decay).")


class ModelConfig(ConfigSection):
    """The base model that is fine-tuned (and evaluated beside the tuned one)."""

    name_or_path: str = Field(
        "tiny",
        description="Base model: a Hugging Face hub id or local path, or 'tiny' to build a small random "
        "Llama-architecture model and tokenizer locally under <run.dir>/base_model.",
    )
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig, description="Only for name_or_path 'tiny'.")


class CorpusConfig(ConfigSection):
    """One corpus of conversations read by the mix."""

    path: str = Field(
        description="A JSON / JSONL / Parquet file; a Hugging Face dataset 'hf://OWNER/NAME' (read with "
        "datasets.load_dataset: from the hub, or from the HF_HOME cache offline), or 'hf://DIR' for a local folder "
        "of data files; or 'generated' for the built-in demo corpus."
    )
    format: Literal["auto", "agentinstruct", "sharegpt", "alpaca", "openai"] = Field(
        "auto", description="The records' format; 'auto' detects it per record."
    )
    num_records: int = Field(512, ge=1, description="Only for path 'generated': how many records to write.")
    split: str | None = Field(None, description="Only for hf:// paths: the split to read (None: 'train').")
    revision: str | None = Field(None, description="Only for hf:// paths: a branch, tag or commit of the dataset.")
    subset: str | None = Field(None, description="Only for hf:// paths: the dataset's config name (subset).")

    @model_validator(mode="after")
    def _hf_fields_need_hf_path(self) -> CorpusConfig:
        if not self.path.startswith("hf://"):
            given = [k for k in ("split", "revision", "subset") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: only for hf:// datasets, and path is {self.path!r}")
        elif not self.path.removeprefix("hf://").strip("/"):
            raise ValueError("name a dataset after hf://, e.g. hf://THUDM/AgentInstruct")
        return self


class MixConfig(ConfigSection):
    """How kept trajectories and general corpora are mixed, tokenized and masked."""

    eta: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Share of agent data in the mix (paper: 0.2); 1: agent data only, 0: general data only "
        "(the paper's ablation arms).",
    )
    general: list[CorpusConfig] = Field(
        default_factory=lambda: [CorpusConfig(path="generated")],
        description="General instruction corpora that fill the share 1 - eta.",
    )
    agent_extra: list[CorpusConfig] = Field(
        default_factory=list, description="More agent data mixed with the kept trajectories (e.g. AgentInstruct)."
    )
    on_bad_record: Literal["error", "skip"] = Field(
        "error", description="A malformed record stops the mix ('error') or is skipped and counted ('skip')."
    )
    decontaminate: bool = Field(
        True,
        description="Drop training records that come from an eval task or share a 13-word n-gram with an eval "
        "prompt (env boilerplate excepted); removals are counted.",
    )


class TrainConfig(ConfigSection):
    """Fine-tuning with Ray Train + DeepSpeed (the paper's hyperparameters are in agenttuning-7b.yaml)."""

    steps: int = Field(20, ge=1, description="Optimizer steps.")
    global_batch_size: int = Field(
        4, ge=1, description="Sequences per optimizer step, over all workers (packed sequences when packing)."
    )
    micro_batch_size: int = Field(1, ge=1, description="Per-worker batch of one forward/backward.")
    seq_len: int = Field(512, ge=16, description="Tokens per training sequence (and per sample before packing).")
    packing: bool = Field(
        True, description="Pack several samples per sequence (per-sample positions, no cross-sample attention)."
    )
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    schedule: Literal["cosine", "linear", "constant"] = Field(
        "cosine", description="Learning-rate decay after warm-up ('constant' keeps the peak)."
    )
    warmup_ratio: float = Field(0.02, ge=0.0, lt=1.0, description="Share of the steps spent warming up linearly.")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas.")
    weight_decay: float = Field(0.1, ge=0.0, description="AdamW weight decay (not on norms and biases).")
    grad_clip: float = Field(1.0, gt=0, description="Gradient-norm clip.")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Training precision (GPUs: bf16).")
    zero_stage: Literal[0, 1, 2, 3] = Field(3, description="DeepSpeed ZeRO stage (3 shards parameters too).")
    offload_optimizer: bool = Field(False, description="Keep optimizer states in CPU memory (DeepSpeed CPU Adam).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    num_workers: int = Field(2, ge=1, description="Ray Train workers (one per GPU with use_gpu).")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each training worker reserves.")
    use_gpu: bool = Field(False, description="One GPU per worker, NCCL; otherwise CPUs and gloo.")
    checkpoint_every: int = Field(0, ge=0, description="Checkpoint every N steps (0: only at the end).")
    max_failures: int = Field(1, ge=0, description="Worker failures Ray Train recovers from.")
    resume_from: str | None = Field(None, description="A Ray Train checkpoint directory to continue from.")
    peak_tflops_per_worker: float | None = Field(
        None,
        gt=0,
        description="Peak TFLOP/s of one worker's device, for train/mfu. None: known GPUs' dense bf16 peak "
        "(H100, H200, A100, ...); on CPU, MFU is logged only when this is set.",
    )

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError("each beta must be in [0, 1)")
        return v

    @model_validator(mode="after")
    def _batch_divides(self) -> TrainConfig:
        per_step = self.micro_batch_size * self.num_workers
        if self.global_batch_size % per_step:
            raise ValueError(
                f"global_batch_size ({self.global_batch_size}) must be a multiple of "
                f"micro_batch_size x num_workers ({per_step})"
            )
        return self

    @property
    def grad_accum_steps(self) -> int:
        return self.global_batch_size // (self.micro_batch_size * self.num_workers)

    @property
    def samples_needed(self) -> int:
        """Samples (or packed sequences) that ``steps`` optimizer steps consume."""
        return self.steps * self.global_batch_size
