"""``agenttune pipeline CONFIG``: rollout -> filter -> mix -> train -> eval, one MLflow parent run.

This is what ``ray job submit`` runs. Each stage opens a nested MLflow run and writes
its counts to ``<run.dir>/reports/``; the parent run holds the resolved config as
params and the headline metrics, so runs compare side by side in the MLflow UI.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from cluster import signals, stages
from cluster.checks import capacity_problems
from cluster.config import PipelineConfig, dump_config, to_flat_params
from cluster.errors import ClusterError
from train import mlflow_utils as mlf

log = logging.getLogger("agenttune")


def init_ray(cfg: PipelineConfig) -> None:
    """Join the cluster named by ``ray.address`` or RAY_ADDRESS (set by ``ray job submit``), else start a
    fresh local instance with ``ray.num_cpus`` logical CPUs (``ray.address: auto`` joins a local
    ``ray start`` cluster instead)."""
    if ray.is_initialized():
        return
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    env_vars = forwarded_env()
    ray.init(
        address=address or "local",
        num_cpus=None if address else cfg.ray.num_cpus,
        include_dashboard=None if address else cfg.ray.include_dashboard,
        runtime_env={"env_vars": env_vars} if env_vars else None,
        log_to_driver=True,
        configure_logging=True,
        logging_level=logging.WARNING,
    )
    data = ray.data.DataContext.get_current()
    data.enable_progress_bars = False
    data.print_on_execution_start = False  # else every Ray Data job prints its whole config to stdout
    signals.install()  # ray.init replaced the SIGTERM handler with one that exits without unwinding


# What every actor, task and training worker of the job needs from the driver's environment: Hugging Face access
# (the gated Llama-2 of the paper recipe, a cache shared on the nodes) and the tracking server. Workers on other
# nodes do not inherit the driver's environment; the job's runtime_env carries these to them. Their values never
# reach logs or params (MLflow params record only whether each is set: mlflow_utils.safe_environ_summary).
FORWARDED_ENV = ("HF_TOKEN", "HF_HOME", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "MLFLOW_TRACKING_URI")


def forwarded_env() -> dict[str, str]:
    """The ``FORWARDED_ENV`` variables set here, less those a ``ray job submit`` runtime env already sets (Ray
    refuses to merge a key twice)."""
    already: set[str] = set()
    if job := os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        import json

        already = set((json.loads(job).get("runtime_env") or {}).get("env_vars") or {})
    return {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name) and name not in already}


def check_capacity(cfg: PipelineConfig, stages_to_run: list[str]) -> None:
    """Before any stage starts: what the stages reserve must fit the cluster this process joined."""
    if problems := capacity_problems(cfg, stages_to_run, ray.cluster_resources(), "the Ray cluster"):
        raise ClusterError("; ".join(problems))


def prepare_run_dir(cfg: PipelineConfig) -> None:
    """Create ``run.dir`` and prove it takes a file, so an unwritable one fails before anything runs."""
    try:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cfg.run_dir, prefix=".write-check-"):
            pass
    except OSError as e:
        raise ClusterError(
            f"run.dir: cannot write to {cfg.run_dir} ({e.strerror or e}); point run.dir at a writable directory"
        ) from None


def open_parent_run(cfg: PipelineConfig, stage: str) -> Any:
    """Start MLflow at the configured store and open the run that holds this invocation."""
    prepare_run_dir(cfg)
    mlf.setup(cfg.tracking_uri(), cfg.mlflow.experiment)
    return mlf.stage_run(f"{cfg.run.name}:{stage}", parent=True, tags={"agenttune.run_dir": str(cfg.run_dir)})


def log_config(cfg: PipelineConfig) -> None:
    import mlflow

    mlf.log_params(to_flat_params(cfg) | mlf.safe_environ_summary())
    mlflow.log_text(dump_config(cfg), "config.yaml")


def prepare(cfg: PipelineConfig, stage_names: list[str]) -> None:
    """What must hold before any stage runs, cheapest first: a writable run dir, a policy endpoint that
    answers (seconds, before Ray starts), then Ray, if a stage uses it, with room for what the stages reserve."""
    prepare_run_dir(cfg)
    stages.preflight(cfg, stage_names)
    if any(name in stages.NEED_RAY for name in stage_names):
        init_ray(cfg)
        check_capacity(cfg, stage_names)


def run_pipeline(cfg: PipelineConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run ``cfg.stages`` in order, each in a nested MLflow run under one parent run."""
    prepare(cfg, cfg.stages)
    results: dict[str, Any] = {"run_dir": str(cfg.run_dir)}
    timings: dict[str, float] = {}
    with open_parent_run(cfg, "pipeline") as parent_id:
        log_config(cfg)
        results["mlflow_run_id"] = parent_id
        ctx = stages.StageContext(cfg, progress=progress)
        for stage in cfg.stages:
            t0 = time.perf_counter()
            with mlf.stage_run(stage) as run_id:
                ctx.run_id = run_id
                results[stage] = stages.run_stage(stage, ctx)
            timings[stage] = time.perf_counter() - t0
        mlf.log_metrics({f"pipeline/{k}_s": v for k, v in timings.items()} | _headline(results))
    results["timings_s"] = timings
    return results


def run_single_stage(
    cfg: PipelineConfig,
    stage: str,
    *,
    progress: bool = True,
    model: str | None = None,
    trajectories: Path | None = None,
) -> Any:
    """One stage on its own (``agenttune rollout ...``), in a parent run of its own."""
    prepare(cfg, [stage])
    with open_parent_run(cfg, stage) as run_id:
        log_config(cfg)
        ctx = stages.StageContext(cfg, progress=progress, run_id=run_id, model=model, trajectories=trajectories)
        return stages.run_stage(stage, ctx)


def _headline(results: dict[str, Any]) -> dict[str, float]:
    """The numbers worth seeing on the parent run without opening the nested ones."""
    out: dict[str, float] = {}
    if "rollout" in results:
        out["rollout/success_rate"] = results["rollout"]["success_rate"]
        out["rollout/episodes_per_s"] = results["rollout"]["episodes_per_s"]
    if "filter" in results:
        out["rollout/kept"] = results["filter"]["kept"]
    if "train" in results:
        fm = results["train"]["final_metrics"]
        out |= {k: v for k, v in fm.items() if k.startswith("train/")}
    for label, model in results.get("eval", {}).items():
        out |= {f"{k.replace('eval/', f'eval_{label}/', 1)}": v for k, v in model["metrics"].items()}
    return out
