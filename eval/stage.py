"""The eval stage: each model plays the eval tasks on the rollout pool and is scored, in its own MLflow run.

    out = run_eval_stage(cfg.eval, models={"tuned": "runs/x/model", "base": "runs/x/base_model"},
                         out_dir=run / "eval", sandbox="bwrap")

Each model gets a nested MLflow run ``eval-<label>`` (tagged ``agenttune.model``) with the same metric
names (``eval/<env>/success_rate``, ``eval/<role>/score``, ...), so MLflow compares them side by side.
"""

from __future__ import annotations

from pathlib import Path

import envs
from envs.config import SandboxKind, env_kwargs, prepare_sandbox, select_tasks
from eval.config import EvalConfig
from eval.scoring import score_records
from rollouts.config import PolicyConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl, write_json_atomic
from rollouts.stage import StageOutput
from train import mlflow_utils as mlf


def run_eval_stage(
    cfg: EvalConfig,
    *,
    models: dict[str, str],
    out_dir: Path,
    sandbox: SandboxKind,
    env_modules: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> StageOutput:
    """Evaluate each ``label -> checkpoint`` of ``models``; the report maps each label to its scores."""
    prepare_sandbox(cfg.envs, sandbox)
    report = {}
    for label, path in models.items():
        with mlf.stage_run(f"eval-{label}", tags={"agenttune.model": label}):
            report[label] = evaluate_model(
                cfg, path, out_dir / label, sandbox=sandbox, env_modules=env_modules, progress=progress
            )
            mlf.log_metrics(report[label])
    return StageOutput(report)


def evaluate_model(
    cfg: EvalConfig,
    model_path: str,
    out_dir: Path,
    *,
    sandbox: SandboxKind,
    env_modules: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> dict[str, float]:
    """Play every eval task with ``model_path`` as an ``hf`` policy; write ``out_dir/trajectories.jsonl``
    (a rerun resumes) and ``out_dir/scores.json``; return the scores."""
    jobs, roles = [], {}
    for sel in cfg.envs:
        jobs += make_jobs(select_tasks(sel), max_turns=sel.max_turns)
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
