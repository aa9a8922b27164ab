"""The rollout and filter stages: the entry points ``agenttune rollout`` and ``agenttune filter`` call.

    out = run_rollout_stage(cfg.rollout, trajectories=run / "rollout/trajectories.jsonl", sandbox="bwrap")
    out = run_filter_stage(cfg.filter, trajectories=..., kept=run / "filter/kept.json",
                           token_budget=4096, count_tokens=n_tokens)

Each returns a ``StageOutput``: the report the stage counted, the metrics and params for its
MLflow run and the files to attach to it. The caller (``cluster``) logs them; nothing here
needs a tracking server, so the stages run and test without one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.config import (
    SandboxChoice,
    count_reasons,
    env_kwargs,
    prepare_sandbox,
    report_bad_tasks,
    select_tasks,
    split_runnable,
)
from rollouts.config import FilterConfig, RolloutConfig
from rollouts.filters import filter_records, to_agentinstruct
from rollouts.policies import preflight
from rollouts.pool import import_env_modules, make_jobs, run_rollouts
from rollouts.records import (
    env_metric_key,
    read_jsonl,
    sample_records,
    write_json_atomic,
    write_jsonl_atomic,
    write_parquet_atomic,
)
from rollouts.serving import servers_for

SAMPLE_FILE = "rollout_sample.jsonl"


@dataclass
class StageOutput:
    """What a stage hands back: its report (JSON-able), and what its MLflow run should hold."""

    report: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: list[tuple[Path, str]] = field(default_factory=list)  # (local file, artifact folder)


def run_rollout_stage(
    cfg: RolloutConfig,
    *,
    trajectories: Path,
    sandbox: SandboxChoice,
    progress: bool = True,
    check_endpoint: bool = True,
) -> StageOutput:
    """Play every (task, sample) of ``cfg.envs`` into ``trajectories`` (JSONL; a rerun resumes).

    With ``check_endpoint``, an endpoint policy's server is asked once first (``rollouts.policies.preflight``):
    a server that is down or refuses the key fails the stage at once, not after every episode's retries.

    Malformed records of a task file are skipped (``on_bad_task: skip``), logged, and listed in the report's
    ``bad_tasks`` ({env, file, line | record, reason}); tasks that cannot run here (their payload's
    ``not_runnable``, e.g. an OS task that needs the network) are not played, and listed in ``not_runnable``
    ({env, task_id, reason}) and counted in ``not_runnable_by_reason``.
    """
    import_env_modules(cfg.env_modules)
    params = prepare_sandbox(cfg.envs, sandbox)
    if check_endpoint:
        preflight(cfg.policy)
    jobs, selections = [], []
    not_runnable: list[dict[str, Any]] = []
    for sel in cfg.envs:
        runnable, skipped = split_runnable(select_tasks(sel))  # logged now, before the pool's progress output
        selections.append(runnable)
        not_runnable += skipped
        jobs += make_jobs(selections[-1], samples_per_task=cfg.samples_per_task, max_turns=sel.max_turns)
    bad_tasks = report_bad_tasks(selections)  # logged now, before the pool's progress output
    with servers_for(cfg.policy) as endpoints:  # a served policy's replicas, stopped when the rollout ends
        summary = run_rollouts(
            jobs,
            policy=cfg.policy,
            pool=cfg,
            out_path=trajectories,
            env_kwargs=env_kwargs(cfg.envs, sandbox),
            env_modules=cfg.env_modules,
            endpoints=endpoints,
            progress=progress,
        ).to_dict()
    summary |= {"bad_task_count": len(bad_tasks), "bad_tasks": bad_tasks}
    summary |= {"not_runnable_count": len(not_runnable), "not_runnable_by_reason": count_reasons(not_runnable)}
    summary["not_runnable"] = not_runnable
    if cfg.output_format == "parquet":  # JSONL stays the append log; Parquet is a finished copy
        write_parquet_atomic(trajectories.with_suffix(".parquet"), read_jsonl(trajectories))
    sample = write_jsonl_atomic(trajectories.with_name(SAMPLE_FILE), sample_records(read_jsonl(trajectories)))
    return StageOutput(summary, rollout_metrics(summary), params, [(sample, "rollout")])


def rollout_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The rollout run's MLflow metrics from a ``RolloutSummary.to_dict()`` (and the stage's ``bad_task_count``)."""
    metrics = {
        "rollout/episodes": summary["finished"],
        "rollout/skipped_existing": summary["skipped_existing"],
        "rollout/success_rate": summary["success_rate"],
        "rollout/episodes_per_s": summary["episodes_per_s"],
        "rollout/peak_actors": summary["peak_actors"],
        "rollout/peak_requested": summary.get("peak_requested", 0),  # actors asked of an autoscaler
        "rollout/actor_deaths": summary["actor_deaths"],
        "rollout/requeued": summary["requeued"],
        "rollout/bad_tasks": summary.get("bad_task_count", 0),  # malformed records the task files' loaders skipped
        "rollout/not_runnable": summary.get("not_runnable_count", 0),  # tasks that cannot run here (e.g. network)
    }
    metrics |= {f"rollout/status/{k}": v for k, v in summary["status"].items()}
    for env_id, c in summary["per_env"].items():
        key = env_metric_key(env_id)
        metrics[f"rollout/{key}/success_rate"] = c["success_rate"]
        metrics |= {f"rollout/{key}/{k}": v for k, v in c.items() if k.startswith("status_")}
    return metrics


def run_filter_stage(
    cfg: FilterConfig,
    *,
    trajectories: Path,
    kept: Path,
    token_budget: int,
    count_tokens: Callable[[dict[str, Any]], int] | None,
) -> StageOutput:
    """Keep the good trajectories of ``trajectories``; write them to ``kept`` in AgentInstruct format.

    ``token_budget`` applies when ``cfg.max_tokens`` is unset (the pipeline passes train.seq_len);
    ``count_tokens`` counts a record's tokens as training will (``train.masking.token_counter``).
    """
    budget = cfg.max_tokens or token_budget
    records, report = filter_records(read_jsonl(trajectories), cfg, max_tokens=budget, count_tokens=count_tokens)
    write_json_atomic(kept, [to_agentinstruct(r) for r in records])
    out = report.to_dict()
    metrics = {"rollout/kept": out["kept"], "filter/total": out["total"]}
    metrics |= {f"filter/dropped/{rule}": n for rule, n in out["dropped"].items()}
    return StageOutput(out, metrics)
