"""The eval stage: each model plays the eval tasks on the rollout pool and is scored, in its own MLflow run.

    out = run_eval_stage(cfg.eval, models={"tuned": "runs/x/model", "base": "runs/x/base_model"},
                         out_dir=run / "eval", sandbox="bwrap")

Each model gets a nested MLflow run ``eval-<label>`` (tagged ``agenttune.model``) with the same metric
names (``eval/<env>/success_rate``, ``eval/<role>/score``, ``eval/bad_tasks``, ...), so MLflow compares them side
by side.
"""

from __future__ import annotations

from pathlib import Path

import envs
from envs.base import LoadedTasks
from envs.config import SandboxKind, env_kwargs, prepare_sandbox, report_bad_tasks, select_tasks
from eval.config import EvalConfig
from eval.scoring import score_records
from rollouts.config import PolicyConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl, write_json_atomic
from rollouts.stage import StageOutput
from train import mlflow_utils as mlf

BAD_TASKS_FILE = "bad_tasks.json"  # the task files' skipped records, beside the per-model folders


def run_eval_stage(
    cfg: EvalConfig,
    *,
    models: dict[str, str],
    out_dir: Path,
    sandbox: SandboxKind,
    env_modules: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> StageOutput:
    """Evaluate each ``label -> checkpoint`` of ``models``; the report maps each label to its scores.

    Malformed records of a task file are skipped (``on_bad_task: skip``), logged, listed in
    ``out_dir/bad_tasks.json`` (attached to the stage's run) and counted in each model's ``eval/bad_tasks``.
    """
    prepare_sandbox(cfg.envs, sandbox)
    # Selected once: every model plays the same tasks, and each bad record is reported once.
    selections = [select_tasks(sel) for sel in cfg.envs]
    bad_tasks = report_bad_tasks(selections)
    # Written even when empty, so a rerun after the file is fixed leaves no stale list behind.
    bad_file = write_json_atomic(out_dir / BAD_TASKS_FILE, bad_tasks)
    report = {}
    for label, path in models.items():
        with mlf.stage_run(f"eval-{label}", tags={"agenttune.model": label}):
            scores = evaluate_model(
                cfg,
                path,
                out_dir / label,
                sandbox=sandbox,
                env_modules=env_modules,
                progress=progress,
                selections=selections,
            )
            # The report's values are each model's metrics (the pipeline logs them as such), so the list of bad
            # tasks lives in bad_tasks.json and only their count here.
            report[label] = scores | {"eval/bad_tasks": float(len(bad_tasks))}
            mlf.log_metrics(report[label])
    return StageOutput(report, artifacts=[(bad_file, "eval")] if bad_tasks else [])


def evaluate_model(
    cfg: EvalConfig,
    model_path: str,
    out_dir: Path,
    *,
    sandbox: SandboxKind,
    env_modules: list[str] | tuple[str, ...] = (),
    progress: bool = True,
    selections: list[LoadedTasks] | None = None,
) -> dict[str, float]:
    """Play every eval task with ``model_path`` as an ``hf`` policy; write ``out_dir/trajectories.jsonl``
    (a rerun resumes) and ``out_dir/scores.json``; return the scores.

    ``selections`` are ``select_tasks`` of each of ``cfg.envs``, when the caller has them already."""
    jobs, roles = [], {}
    for sel, selected in zip(cfg.envs, selections or [select_tasks(sel) for sel in cfg.envs], strict=True):
        jobs += make_jobs(selected, max_turns=sel.max_turns)
        roles[envs.get_spec(sel.id).id] = envs.get_spec(sel.id).role
    trajectories = out_dir / "trajectories.jsonl"
    run_rollouts(
        jobs,
        policy=PolicyConfig(kind="hf", model=model_path, max_tokens=cfg.max_new_tokens),
        pool=cfg,
        out_path=trajectories,
        env_kwargs=env_kwargs(cfg.envs, sandbox),
        env_modules=env_modules,
        progress=progress,
    )
    scores = score_records(read_jsonl(trajectories), roles)
    write_json_atomic(out_dir / "scores.json", scores)
    return scores
