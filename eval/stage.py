"""The eval stage: each model plays the eval tasks and is scored on general ability, in its own MLflow run.

    out = run_eval_stage(cfg.eval, models={"tuned": "runs/x/model", "base": "runs/x/base_model"},
                         out_dir=run / "eval", sandbox="bwrap", heldout=run / "mix/heldout_general.json")

For every model: its episodes on the held-in test tasks and held-out envs (an ``hf`` policy in the rollout
actors, or ``served`` replicas started for it and stopped after), the held-out general loss, and the
configured lm-eval benchmarks. Each model gets a nested MLflow run ``eval-<label>`` (tags ``agenttune.model``
and ``agenttune.checkpoint``) with the same metric names (``eval/<env>/score``, ``eval/<role>/score``,
``eval/general/heldout_loss``, ...), so MLflow compares them side by side, plus its ``scores.json``
(``eval.scoring.ModelScores``), which ``agenttune compare`` reads.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import ray

import envs
from envs.base import LoadedTasks
from envs.config import SandboxChoice, env_kwargs, prepare_sandbox, report_bad_tasks, select_tasks
from eval.config import EvalConfig, GeneralEvalConfig
from eval.scoring import SCORES_FILE, ModelScores, episode_metrics
from rollouts.config import PolicyConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl, write_json_atomic
from rollouts.serving import servers_for
from rollouts.stage import StageOutput
from train import mlflow_utils as mlf

log = logging.getLogger(__name__)

BAD_TASKS_FILE = "bad_tasks.json"  # the task files' skipped records, beside the per-model folders
HELDOUT_TASK = "heldout"  # the general role's offline task: next-token accuracy on the held-out general slice


def run_eval_stage(
    cfg: EvalConfig,
    *,
    models: dict[str, str],
    out_dir: Path,
    sandbox: SandboxChoice,
    env_modules: list[str] | tuple[str, ...] = (),
    heldout: Path | None = None,
    seq_len: int = 2048,
    run_name: str | None = None,
    held_in: Collection[str] = (),
    progress: bool = True,
) -> StageOutput:
    """Evaluate each ``label -> checkpoint`` of ``models``; the report holds each label's scores.

    An env is scored under its spec's role (the paper's split), except that the env ids in ``held_in`` (the envs
    the run rolled out its training data in) are held-in whatever their spec says: a task trained on is not held
    out.

    ``heldout`` is the mix's held-out general slice (``train.heldout``), scored at ``seq_len`` tokens a record.
    Malformed records of a task file are skipped (``on_bad_task: skip``), logged, listed in
    ``out_dir/bad_tasks.json`` (attached to the stage's run) and counted in each model's ``eval/bad_tasks``.
    """
    prepare_sandbox(cfg.envs, sandbox)
    # Selected once: every model plays the same tasks, and each bad record is reported once.
    selections = [select_tasks(sel) for sel in cfg.envs]
    bad_tasks = report_bad_tasks(selections)
    # Written even when empty, so a rerun after the file is fixed leaves no stale list behind.
    bad_file = write_json_atomic(out_dir / BAD_TASKS_FILE, bad_tasks)
    heldout_records = _read_heldout(heldout)
    report = {}
    for label, path in models.items():
        policy = cfg.policy.model_copy(update={"model": path}) if cfg.policy.kind in ("hf", "served") else cfg.policy
        digest = _digest(path)
        with mlf.stage_run(f"eval-{label}", tags={"agenttune.model": label, "agenttune.checkpoint": path}):
            mlf.log_params(_policy_params(policy, path, digest))
            scores, metrics = evaluate_model(
                cfg,
                policy,
                label,
                out_dir / label,
                selections=selections,
                sandbox=sandbox,
                env_modules=env_modules,
                heldout_records=heldout_records,
                seq_len=seq_len,
                held_in=held_in,
                progress=progress,
            )
            scores.run, scores.checkpoint, scores.digest = run_name, path, digest
            scores_file = scores.save(out_dir / label / SCORES_FILE)
            metrics |= scores.metrics() | {"eval/bad_tasks": float(len(bad_tasks))}
            mlf.log_metrics(metrics)
            mlf.log_artifact(scores_file, "")
        report[label] = {
            "checkpoint": path,
            "digest": scores.digest,
            "role_scores": scores.role_scores(),
            "tasks": scores.tasks,
            "metrics": metrics,
        }
    return StageOutput(report, artifacts=[(bad_file, "eval")] if bad_tasks else [])


def evaluate_model(
    cfg: EvalConfig,
    policy: PolicyConfig,
    label: str,
    out_dir: Path,
    *,
    selections: list[LoadedTasks],
    sandbox: SandboxChoice,
    env_modules: list[str] | tuple[str, ...] = (),
    heldout_records: list[dict[str, Any]] | None = None,
    seq_len: int = 2048,
    held_in: Collection[str] = (),
    progress: bool = True,
) -> tuple[ModelScores, dict[str, float]]:
    """One model: its episodes (``out_dir/trajectories.jsonl``, a rerun resumes) and its general ability."""
    jobs, roles, headlines = [], {}, {}
    for sel, selected in zip(cfg.envs, selections, strict=True):
        spec = envs.get_spec(sel.id)
        jobs += make_jobs(selected, max_turns=sel.max_turns)
        roles[spec.id], headlines[spec.id] = "held_in" if spec.id in held_in else spec.role, spec.headline
    trajectories = out_dir / "trajectories.jsonl"
    with servers_for(policy) as endpoints:
        run_rollouts(
            jobs,
            policy=policy,
            pool=cfg,
            out_path=trajectories,
            env_kwargs=env_kwargs(cfg.envs, sandbox),
            env_modules=env_modules,
            endpoints=endpoints,
            progress=progress,
        )
        general, general_tasks = general_ability(
            cfg.general, policy, endpoints, heldout_records or [], seq_len=seq_len, out_dir=out_dir
        )
    metrics, env_scores = episode_metrics(read_jsonl(trajectories), headlines)
    scores = ModelScores(label)
    for env_id, score in env_scores.items():
        scores.tasks.setdefault(roles.get(env_id, "held_in"), {})[env_id] = score
    if general_tasks:
        scores.tasks["general"] = general_tasks
    return scores, metrics | general


def general_ability(
    cfg: GeneralEvalConfig,
    policy: PolicyConfig,
    endpoints: list[str] | None,
    heldout_records: list[dict[str, Any]],
    *,
    seq_len: int,
    out_dir: Path,
) -> tuple[dict[str, float], dict[str, float]]:
    """The general role: metrics (``eval/general/...``) and headline scores per task (``heldout``, then each
    lm-eval task), computed in a Ray task that holds a GPU when the cluster has one."""
    if policy.kind not in ("hf", "served") or not (heldout_records or cfg.tasks):
        return {}, {}
    gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 and policy.kind == "hf" else 0.0
    task = ray.remote(num_cpus=1, num_gpus=gpus)(_general_in_worker)
    return ray.get(task.remote(cfg, policy.model, endpoints, heldout_records, seq_len, str(out_dir)))


def _general_in_worker(
    cfg: GeneralEvalConfig,
    model_path: str,
    endpoints: list[str] | None,
    heldout_records: list[dict[str, Any]],
    seq_len: int,
    out_dir: str,
) -> tuple[dict[str, float], dict[str, float]]:
    from eval.general import general_metrics, headline, heldout_metrics, run_lm_eval

    metrics: dict[str, float] = {}
    tasks: dict[str, float] = {}
    if heldout_records:
        held = heldout_metrics(model_path, heldout_records, seq_len=seq_len)
        metrics |= {f"eval/general/heldout_{k}": float(v) for k, v in held.items()}
        tasks[HELDOUT_TASK] = float(held["token_accuracy"])
    if cfg.tasks:
        endpoint = endpoints[0] if endpoints else None
        results = run_lm_eval(
            cfg,
            model_path=None if endpoint else model_path,
            endpoint=endpoint,
            tokenizer_path=model_path,
            output_dir=Path(out_dir) / "lm_eval",
        )
        metrics |= general_metrics(results)
        tasks |= {name: float(headline(task_results)[1]) for name, task_results in results.items()}
    return metrics, tasks


def _read_heldout(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not Path(path).is_file():
        return []
    from train.heldout import read_heldout

    return read_heldout(path)


def _policy_params(policy: PolicyConfig, checkpoint: str, digest: str | None) -> dict[str, Any]:
    """What the model's run records of how it was evaluated: the policy and, when served, the engine."""
    params = {"eval.policy.kind": policy.kind, "eval.checkpoint": checkpoint}
    if digest:
        params["eval.checkpoint_digest"] = digest
    if policy.kind == "served":
        params |= {"eval.policy.engine": policy.engine, "eval.policy.replicas": policy.replicas}
        params |= {f"eval.policy.engine_args.{k}": v for k, v in policy.engine_args.items()}
    return params


def _digest(checkpoint: str) -> str | None:
    """sha256 of a local checkpoint's files (None for a hub id); the same function as the data lineage uses."""
    from train.formats import content_digest

    return content_digest(checkpoint) if Path(checkpoint).is_dir() else None
