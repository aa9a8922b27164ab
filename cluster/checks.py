"""What a config refers to, checked before anything starts: env ids, task files, corpora, cluster capacity.

``load_config`` runs ``reference_problems`` after the schema checks, so ``agenttune validate`` and every
command report a misspelt env id or a missing file at once, with its dotted key, instead of failing later
(after a model was built, or hours into a run). ``capacity_problems`` compares what the stages reserve
with a cluster's CPUs and GPUs: ``validate`` checks it against the local instance it would start, and
every command against the cluster it joined.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.config import PipelineConfig

# hf://OWNER/NAME or hf://NAME: the hub's repository id rules (letters, digits, '-', '_', '.').
_HF_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def reference_problems(cfg: PipelineConfig) -> list[tuple[str, str]]:
    """``(dotted key, problem)`` for every env id, task file and corpus the config names that cannot be used."""
    return [*_env_problems(cfg), *_corpus_problems(cfg), *_policy_problems(cfg), *_sandbox_problems(cfg)]


def _sandbox_problems(cfg: PipelineConfig) -> Iterator[tuple[str, str]]:
    if cfg.sandbox.kind != "bwrap" or cfg.sandbox.image in ("auto", "host"):
        return
    from envs.sandbox import SandboxError
    from envs.sandbox.image import find_image

    try:
        find_image(Path(cfg.sandbox.image).expanduser())
    except SandboxError as e:
        yield "sandbox.image", f"{e}; or say 'auto' (the built image when present) or 'host'"


def _policy_problems(cfg: PipelineConfig) -> Iterator[tuple[str, str]]:
    policy = cfg.rollout.policy
    if policy.kind in ("openai", "hf", "served") and not policy.model:
        what = "the served model's name" if policy.kind == "openai" else "a checkpoint path or hub id"
        yield "rollout.policy.model", f"the {policy.kind} policy needs {what}"
    if cfg.eval.policy.kind == "openai" and not cfg.eval.policy.model:
        yield "eval.policy.model", "the openai policy needs the served model's name"


def _env_problems(cfg: PipelineConfig) -> Iterator[tuple[str, str]]:
    import envs
    from rollouts.errors import RolloutError
    from rollouts.pool import import_env_modules

    for i, module in enumerate(cfg.rollout.env_modules):
        try:
            import_env_modules([module])  # a user's envs register themselves on import
        except RolloutError as e:
            yield f"rollout.env_modules.{i}", str(e).removeprefix("rollout.env_modules: ")
    for section in ("rollout", "eval"):
        for i, sel in enumerate(getattr(cfg, section).envs):
            key = f"{section}.envs.{i}"
            try:
                spec = envs.get_spec(sel.id)
            except envs.UnknownEnvError as e:
                yield f"{key}.id", str(e)
                continue
            if sel.tasks_file:
                path = Path(sel.tasks_file).expanduser()
                if spec.load_tasks is None:
                    yield f"{key}.tasks_file", f"{spec.id} reads no task files; it only generates tasks"
                elif not path.is_file():
                    yield f"{key}.tasks_file", f"no such file: {path} (relative paths start at {Path.cwd()})"
                continue
            if sel.split not in spec.task_counts:
                yield f"{key}.split", f"{spec.id} generates splits {sorted(spec.task_counts)}, not {sel.split!r}"
                continue
            size = spec.task_counts[sel.split]
            if size is not None and sel.start + sel.num_tasks > size:
                yield f"{key}.num_tasks", f"{spec.id} split {sel.split!r} has {size} tasks: start + num_tasks > {size}"
    known = {spec.id for spec in envs.list_specs()}
    for env_id in cfg.filter.min_reward_per_env:
        if env_id in known:
            continue
        try:
            envs.get_spec(env_id)
            yield f"filter.min_reward_per_env.{env_id}", "write the full env id (as in `agenttune envs list`)"
        except envs.UnknownEnvError as e:
            yield f"filter.min_reward_per_env.{env_id}", str(e)


def _corpus_problems(cfg: PipelineConfig) -> Iterator[tuple[str, str]]:
    for section in ("general", "agent_extra"):
        for i, corpus in enumerate(getattr(cfg.mix, section)):
            key = f"mix.{section}.{i}.path"
            if corpus.path == "generated":
                continue
            if corpus.path.startswith("hf://"):
                name = corpus.path.removeprefix("hf://")
                if name.startswith((".", "/", "~")):
                    if not Path(name).expanduser().is_dir():
                        yield key, f"no such folder: {name} (hf://DIR reads a local folder of data files)"
                elif not _HF_NAME.match(name.rstrip("/")):
                    yield (
                        key,
                        f"{corpus.path!r} is not a dataset name: write hf://OWNER/NAME (hf://THUDM/AgentInstruct)",
                    )
                continue
            path = Path(corpus.path).expanduser()
            if not path.is_file():
                yield key, f"no such file: {path} (relative paths start at {Path.cwd()})"


def capacity_problems(cfg: PipelineConfig, stages: list[str], resources: Mapping[str, float], where: str) -> list[str]:
    """What ``stages`` reserve that ``resources`` (a Ray cluster's totals) cannot give; ``where`` names them."""
    from train.loop import capacity_problems as train_capacity_problems

    cpus = resources.get("CPU", 0.0)
    problems = train_capacity_problems(cfg.train, dict(resources), where) if "train" in stages else []
    gpus = resources.get("GPU", 0.0)
    for section in ("rollout", "eval"):
        pool = getattr(cfg, section)
        if section not in stages:
            continue
        if pool.actor_cpus > cpus:
            problems.append(
                f"{section}: an actor reserves {section}.actor_cpus={pool.actor_cpus:g} CPUs and {where} has "
                f"{cpus:g}: lower {section}.actor_cpus or add CPUs"
            )
        policy = pool.policy
        if policy.kind == "served":
            per = policy.gpus_per_replica if policy.gpus_per_replica is not None else float(policy.engine == "vllm")
            if per * policy.replicas > gpus:
                problems.append(
                    f"{section}.policy: {policy.replicas} {policy.engine} replicas x {per:g} GPUs need "
                    f"{per * policy.replicas:g} GPUs and {where} has {gpus:g}: lower replicas, or add GPU nodes"
                )
        elif policy.kind == "hf" and (policy.gpus or 0) > gpus:
            problems.append(
                f"{section}.policy.gpus: each actor reserves {policy.gpus:g} GPUs and {where} has {gpus:g}: "
                "unset it (GPUs are then used when there are any), or add GPU nodes"
            )
    return problems


def local_resources(cfg: PipelineConfig) -> dict[str, float]:
    """The CPUs and GPUs of the local Ray instance a command would start (``ray.num_cpus``, else the cores)."""
    gpus = len([d for d in os.listdir("/dev") if re.fullmatch(r"nvidia\d+", d)]) if os.path.isdir("/dev") else 0
    return {"CPU": float(cfg.ray.num_cpus or os.cpu_count() or 1), "GPU": float(gpus)}
