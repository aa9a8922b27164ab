"""Typed pipeline configs: YAML file + ``a.b=value`` overrides -> ``PipelineConfig``.

    cfg = load_config("cluster/configs/demo.yaml", ["train.steps=4", "rollout.max_actors=1"])

Validation collects every problem (wrong type, bad value, unknown key with a
did-you-mean) and raises one ``ConfigError`` that names each dotted key, the value
it got and, when the key came from the file, the line.
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cluster.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(_Section):
    name: str = Field("agenttune", description="Run name; also the MLflow parent run name.")
    dir: str = Field(
        "runs/agenttune",
        description="Directory that holds every output of the run (relative to the current directory). "
        "On a multi-node cluster, point it at shared storage.",
    )
    seed: int = Field(0, description="Seed for task sampling, mixing and model init.")


class MLflowSection(_Section):
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI. Default: a SQLite store at <run.dir>/mlflow.db. "
        "The MLFLOW_TRACKING_URI environment variable overrides both.",
    )
    experiment: str = Field("agenttune", description="MLflow experiment name.")


class RaySection(_Section):
    address: str | None = Field(
        None,
        description="Ray address ('auto' joins a `ray start` cluster on this machine); None: RAY_ADDRESS if set "
        "(`ray job submit` sets it), else a fresh local Ray instance.",
    )
    num_cpus: int | None = Field(
        None,
        ge=1,
        description="Logical CPUs of a local Ray instance (None: the machine's cores). Training workers, rollout "
        "actors and Ray Data tasks each reserve CPUs, so a small machine needs more logical CPUs than cores.",
    )


class TinyModelSection(_Section):
    hidden_size: int = Field(64, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    vocab_size: int = Field(2048, ge=256)
    chat_template: Literal["llama2", "chatml"] = Field(
        "chatml",
        description="Template of the tiny tokenizer. ChatML suits a byte-level BPE: with the Llama-2 template the "
        "space after [/INST] becomes a token of its own that a tiny model learns to follow with </s>.",
    )


class ModelSection(_Section):
    name_or_path: str = Field(
        "tiny",
        description="Base model: a Hugging Face hub id or local path, or 'tiny' to build a small random "
        "Llama-architecture model and tokenizer locally under <run.dir>/base_model.",
    )
    tiny: TinyModelSection = Field(default_factory=TinyModelSection)
    trust_remote_code: bool = False


class PolicySection(_Section):
    kind: Literal["oracle", "openai", "hf"] = Field("oracle", description="Who acts in the rollout episodes.")
    model: str | None = Field(None, description="openai: the served model name; hf: checkpoint path or hub id.")
    base_url: str | None = Field(None, description="openai: the endpoint, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Name of the environment variable holding the key.")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, description="Most new tokens per assistant turn.")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0)


class EnvSelection(_Section):
    id: str = Field(description="Registered env id, e.g. agenttune/DB-v0.")
    split: Literal["train", "test"] = "train"
    num_tasks: int = Field(32, ge=1, description="Seeded tasks generated from the split.")
    start: int = Field(0, ge=0, description="Offset of the first task seed within the split.")
    tasks_file: str | None = Field(None, description="Load tasks from this file instead of generating them.")
    max_turns: int | None = Field(None, ge=1, description="Turn cap; None: the env's default.")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the env.")


class _PoolSection(_Section):
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
    max_attempts: int = Field(
        3, ge=1, description="An episode that kills its actor this many times (run alone) is recorded as env_error."
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> _PoolSection:
        if self.min_actors > self.max_actors:
            raise ValueError(f"min_actors ({self.min_actors}) must be <= max_actors ({self.max_actors})")
        return self


class RolloutConfig(_PoolSection):
    envs: list[EnvSelection] = Field(default_factory=lambda: [EnvSelection(id="agenttune/DB-v0")])
    samples_per_task: int = Field(1, ge=1)
    policy: PolicySection = Field(default_factory=PolicySection)
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


class FilterConfig(_Section):
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


class CorpusSection(_Section):
    path: str = Field(
        description="A JSON / JSONL / Parquet file; a Hugging Face dataset 'hf://OWNER/NAME' (read with "
        "datasets.load_dataset: from the hub, or from the HF_HOME cache offline), or 'hf://DIR' for a local folder "
        "of data files; or 'generated' for the built-in demo corpus."
    )
    format: Literal["auto", "agentinstruct", "sharegpt", "alpaca", "openai"] = "auto"
    num_records: int = Field(512, ge=1, description="Only for path 'generated': how many records to write.")
    split: str | None = Field(None, description="Only for hf:// paths: the split to read (None: 'train').")
    revision: str | None = Field(None, description="Only for hf:// paths: a branch, tag or commit of the dataset.")
    subset: str | None = Field(None, description="Only for hf:// paths: the dataset's config name (subset).")

    @model_validator(mode="after")
    def _hf_fields_need_hf_path(self) -> CorpusSection:
        if not self.path.startswith("hf://"):
            given = [k for k in ("split", "revision", "subset") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: only for hf:// datasets, and path is {self.path!r}")
        elif not self.path.removeprefix("hf://").strip("/"):
            raise ValueError("name a dataset after hf://, e.g. hf://THUDM/AgentInstruct")
        return self


class MixConfig(_Section):
    eta: float = Field(0.2, gt=0.0, le=1.0, description="Share of agent data in the mix (paper: 0.2).")
    general: list[CorpusSection] = Field(default_factory=lambda: [CorpusSection(path="generated")])
    agent_extra: list[CorpusSection] = Field(
        default_factory=list, description="More agent data mixed with the kept trajectories (e.g. AgentInstruct)."
    )
    on_bad_record: Literal["error", "skip"] = "error"
    decontaminate: bool = Field(
        True,
        description="Drop training records that come from an eval task or share a 13-word n-gram with an eval "
        "prompt (env boilerplate excepted); removals are counted.",
    )


class TrainConfig(_Section):
    steps: int = Field(20, ge=1, description="Optimizer steps.")
    global_batch_size: int = Field(4, ge=1)
    micro_batch_size: int = Field(1, ge=1, description="Per-worker batch of one forward/backward.")
    seq_len: int = Field(512, ge=16, description="Tokens per training sequence (and per sample before packing).")
    packing: bool = Field(
        True, description="Pack several samples per sequence (per-sample positions, no cross-sample attention)."
    )
    lr: float = Field(1e-3, gt=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(0.02, ge=0.0, lt=1.0)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = Field(0.1, ge=0.0)
    grad_clip: float = Field(1.0, gt=0)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    zero_stage: Literal[0, 1, 2, 3] = 3
    offload_optimizer: bool = False
    gradient_checkpointing: bool = False
    num_workers: int = Field(2, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each training worker reserves.")
    use_gpu: bool = False
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


class EvalConfig(_PoolSection):
    envs: list[EnvSelection] = Field(
        default_factory=lambda: [EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=16)]
    )
    compare_base: bool = Field(True, description="Also evaluate the base model, for a side-by-side comparison.")
    max_new_tokens: int = Field(128, ge=1)
    concurrency: int = Field(
        1, ge=1, description="Episodes in flight per actor: 1 for an in-process hf model, which uses the CPUs itself."
    )


Stage = Literal["rollout", "filter", "mix", "train", "eval"]


class PipelineConfig(_Section):
    run: RunSection = Field(default_factory=RunSection)
    mlflow: MLflowSection = Field(default_factory=MLflowSection)
    ray: RaySection = Field(default_factory=RaySection)
    model: ModelSection = Field(default_factory=ModelSection)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    sandbox: Literal["bwrap", "none"] = Field(
        "bwrap",
        description="How envs that run agent commands (OS) isolate them: 'bwrap' (bubblewrap sandbox) or 'none' "
        "(plain local shell, NO isolation: only for trusted agents; logged loudly and recorded in MLflow).",
    )
    stages: list[Stage] = Field(
        default_factory=lambda: ["rollout", "filter", "mix", "train", "eval"],
        description="Stages `agenttune pipeline` runs, in order.",
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir).expanduser().resolve()

    def tracking_uri(self) -> str:
        return (
            os.environ.get("MLFLOW_TRACKING_URI") or self.mlflow.tracking_uri or f"sqlite:///{self.run_dir}/mlflow.db"
        )


# ----------------------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """Read a YAML config, apply ``a.b=value`` overrides and validate. Raises ``ConfigError``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [f"config file not found: {path} (shipped configs live in cluster/configs/)"])
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(str(path), [f"not valid YAML: {e}"]) from e
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of sections (run, rollout, train, ...)"])
    lines = _key_lines(text)
    problems: list[str] = []
    overridden: set[str] = set()
    for item in overrides:
        try:
            key, value = parse_override(item)
            set_dotted(raw, key, value)
            overridden.add(key)
        except ValueError as e:
            problems.append(str(e))
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        problems += [_describe(err, raw, lines, overridden) for err in e.errors()]
        raise ConfigError(str(path), problems) from None
    if problems:
        raise ConfigError(str(path), problems)
    return cfg


def parse_override(item: str) -> tuple[str, Any]:
    """``train.lr=1e-4`` -> ("train.lr", 0.0001); the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {item!r}: expected key=value, e.g. train.steps=10")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set ``tree[a][b][0][c] = value`` for key ``a.b.0.c``, creating mappings on the way."""
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {key}: {'.'.join(parts[:i])} has no item {part} (it has {len(node)})")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ValueError(f"override {key}: {'.'.join(parts[:i])} is a value, not a section")


def to_flat_params(cfg: PipelineConfig) -> dict[str, str]:
    """The resolved config as flat ``a.b.c -> str`` pairs (for MLflow params)."""
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, list) and node and any(isinstance(x, dict) for x in node):
            for i, v in enumerate(node):
                walk(f"{prefix}.{i}", v)
        else:
            out[prefix] = str(node)

    walk("", cfg.model_dump(mode="json"))
    return out


def dump_config(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# ----------------------------------------------------------------------------- messages


def _describe(err: dict[str, Any], raw: dict[str, Any], lines: dict[str, int], overridden: set[str]) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    where = " (from the command line)" if key in overridden else (f" (line {lines[key]})" if key in lines else "")
    if err["type"] == "extra_forbidden":
        hint = _did_you_mean(loc)
        return f"{key}: unknown key{where}{hint}"
    value = _lookup(raw, loc)
    # A whole section (a cross-field check): its message names the fields; the dump would only bury it.
    shown = "" if value is _MISSING or isinstance(value, dict) else f" (got {value!r})"
    if isinstance(value, dict) and any(k.startswith(f"{key}.") for k in overridden):
        where = " (from the command line)"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{key or '<top level>'}: {msg}{shown}{where}"


_MISSING = object()


def _lookup(tree: Any, loc: list[str]) -> Any:
    node = tree
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return copy.deepcopy(node)


def _did_you_mean(loc: list[str]) -> str:
    """Suggest the closest field name of the section that holds the unknown key."""
    model: Any = PipelineConfig
    for part in loc[:-1]:
        if part.isdigit():
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = _section_type(field.annotation)
        if model is None:
            return ""
    names = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{'.'.join([*loc[:-1], close[0]])}'?"
    return f"; known keys here: {', '.join(names)}"


def _section_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _section_type(arg)
        if found is not None:
            return found
    return None


def _key_lines(text: str) -> dict[str, int]:
    """Map dotted keys of a YAML document to their 1-based line numbers."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}

    def walk(node: Any, prefix: list[str]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                path = [*prefix, str(k.value)]
                out[".".join(path)] = k.start_mark.line + 1
                walk(v, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                path = [*prefix, str(i)]
                out[".".join(path)] = v.start_mark.line + 1
                walk(v, path)

    if root is not None:
        walk(root, [])
    return out
