"""Typed pipeline configs: YAML file + ``a.b=value`` overrides -> ``PipelineConfig``.

    cfg = load_config("cluster/configs/demo.yaml", ["train.steps=4", "rollout.max_actors=1"])

Each section's schema lives in the package it configures (``rollouts.config``, ``train.config``,
``eval.config``, ``envs.config``); ``PipelineConfig`` only composes them with the run-wide sections.

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
from pydantic import BaseModel, Field, ValidationError

from cluster.checks import reference_problems
from cluster.errors import ConfigError
from envs.config import ConfigSection, SandboxSettings
from eval.config import EvalConfig
from rollouts.config import FilterConfig, RolloutConfig
from train.config import MixConfig, ModelConfig, TrainConfig


class RunSection(ConfigSection):
    """Where the run lives and how it is named."""

    name: str = Field("agenttune", description="Run name; also the MLflow parent run name.")
    dir: str = Field(
        "runs/agenttune",
        description="Directory that holds every output of the run (relative to the current directory). "
        "On a multi-node cluster, point it at shared storage.",
    )
    seed: int = Field(0, description="Seed for task sampling, mixing and model init.")


class MLflowSection(ConfigSection):
    """Where runs are tracked."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI. Default: a SQLite store at <run.dir>/mlflow.db. "
        "The MLFLOW_TRACKING_URI environment variable overrides both.",
    )
    experiment: str = Field("agenttune", description="MLflow experiment name.")


class RaySection(ConfigSection):
    """Which Ray cluster runs the stages."""

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
    include_dashboard: bool | None = Field(
        None,
        description="Start the dashboard with a local Ray instance (None: Ray's default, on with ray[default]); "
        "false saves its processes on a small machine. Ignored when joining a cluster.",
    )


Stage = Literal["rollout", "filter", "mix", "train", "eval"]


class PipelineConfig(ConfigSection):
    """One job: every stage's config, each owned by the package that runs it."""

    run: RunSection = Field(default_factory=RunSection, description="Name, directory and seed of the run.")
    mlflow: MLflowSection = Field(default_factory=MLflowSection, description="Experiment tracking.")
    ray: RaySection = Field(default_factory=RaySection, description="The Ray cluster.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The base model (train.config).")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Rollouts (rollouts.config).")
    filter: FilterConfig = Field(default_factory=FilterConfig, description="Trajectory filter (rollouts.config).")
    mix: MixConfig = Field(default_factory=MixConfig, description="Data mix (train.config).")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Fine-tuning (train.config).")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation (eval.config).")
    sandbox: SandboxSettings = Field(
        default_factory=SandboxSettings,
        description="How envs that run agent commands (OS) isolate them and what machine they see (envs.config); "
        "`sandbox: bwrap` is short for `{kind: bwrap}`.",
    )
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="`agenttune sweep`: dotted mix.*, train.* or eval.* keys and the values each takes, e.g. "
        "{mix.eta: [0.0, 0.2, 1.0]}; several keys make a grid. Other commands ignore it.",
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
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(str(path), [f"not valid YAML{where}: {what}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of sections (run, rollout, train, ...)"])
    lines = _key_lines(text)
    problems: list[str] = []
    overridden: set[str] = set()
    if isinstance(raw.get("sandbox"), str):  # the shorthand `sandbox: bwrap`, so that `sandbox.image=...` applies
        raw["sandbox"] = {"kind": raw["sandbox"]}
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
    for key, problem in reference_problems(cfg):
        problems.append(f"{key}: {problem}{_where(key, lines, overridden)}")
    if problems:
        raise ConfigError(str(path), problems)
    return cfg


def _where(key: str, lines: dict[str, int], overridden: set[str]) -> str:
    """Where a key's value came from: the command line, or its (or its closest section's) line in the file."""
    parts = key.split(".")
    prefixes = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
    if any(prefix in overridden for prefix in prefixes):  # an override replaces what the file had there
        return " (from the command line)"
    return next((f" (line {lines[prefix]})" for prefix in prefixes if prefix in lines), "")


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
