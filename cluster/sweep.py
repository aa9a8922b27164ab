"""``agenttune sweep CONFIG``: the paper's ablation (or any grid of config values) in one command.

    sweep: {mix.eta: [0.0, 0.2, 1.0]}          # in the config; several keys make a grid

Rollout and filter run once and are shared. Each arm (one combination of values, labelled ``mix.eta=0.2``)
runs mix -> train -> eval in a nested MLflow run ``arm:<label>`` tagged with its values, in its own folder
``<run.dir>/arms/<label>/``; arms run side by side when the cluster has room for more than one training at a
time, else one after another. An arm that fails is reported and the others go on. The base model is
evaluated once, on the same held-out general records as the arms. The sweep's parent run then holds the
comparison (the ``agenttune compare`` table of the arms and the base) and charts: role scores per arm, agent
score against general score, and every arm's training loss. Rerunning the same sweep resumes: finished arms
(``arms/<label>/reports/arm.json``) are not run again.
"""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cluster import pipeline, stages
from cluster.config import PipelineConfig, set_dotted, to_flat_params
from cluster.errors import ClusterError
from rollouts.records import write_json_atomic
from train import mlflow_utils as mlf

log = logging.getLogger("agenttune")

ARMS_DIR = "arms"
ARM_FILE = "arm.json"  # in an arm's reports/: written when the arm finished (or failed), read to resume
SHARED_STAGES = ("rollout", "filter")
ARM_STAGES = ("mix", "train", "eval")


@dataclass
class Arm:
    label: str  # "mix.eta=0.2", "mix.eta=0.2,train.lr=0.001"
    values: dict[str, Any]
    cfg: PipelineConfig  # the sweep's config with the values set, its run.dir the arm's folder
    outcome: dict[str, Any] = field(default_factory=dict)  # what reports/arm.json holds


def grid(sweep: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values, keys in the order the config gives them."""
    keys = list(sweep)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(sweep[k] for k in keys))]


def label_of(values: dict[str, Any]) -> str:
    """``{"mix.eta": 0.2, "train.lr": 0.001}`` -> ``mix.eta=0.2,train.lr=0.001`` (values as YAML writes them)."""
    return ",".join(f"{k}={_show(v)}" for k, v in values.items())


def _show(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def arm_config(cfg: PipelineConfig, values: dict[str, Any]) -> PipelineConfig:
    """The sweep's config with ``values`` set (dotted keys); raises ``ValueError``/``ValidationError``."""
    raw = cfg.model_dump(mode="json")
    raw.pop("sweep", None)
    for key, value in values.items():
        set_dotted(raw, key, value)
    return PipelineConfig.model_validate(raw)


ARM_SECTIONS = ("mix.", "train.", "eval.")  # what arms may vary; rollout, filter and the base model are shared


def sweep_problems(cfg: PipelineConfig) -> list[str]:
    """Every problem of ``cfg.sweep`` at once: keys arms cannot vary, empty value lists, values that do not
    validate (each named ``sweep.<key>``)."""
    problems = []
    for key, values in cfg.sweep.items():
        if not key.startswith(ARM_SECTIONS):
            problems.append(
                f"sweep.{key}: arms share the rollout, the filter and the base model; sweep keys of "
                f"{', '.join(s + '*' for s in ARM_SECTIONS)} only"
            )
        if not values:
            problems.append(f"sweep.{key}: give at least one value")
    if problems:
        return problems
    for values in grid(cfg.sweep):
        try:
            arm_config(cfg, values)
        except (ValueError, ValidationError) as e:
            detail = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
            problems.append(f"sweep: the arm {label_of(values)} is not a valid config: {detail}")
    return problems


def make_arms(cfg: PipelineConfig) -> list[Arm]:
    """The arms of ``cfg.sweep``: each in ``<run.dir>/arms/<label>``, logging to the sweep's store, evaluating only
    its tuned model (the base model is evaluated once for all)."""
    arms = []
    for values in grid(cfg.sweep):
        label = label_of(values)
        arm = arm_config(cfg, values)
        arm.run.dir = str(cfg.run_dir / ARMS_DIR / label.replace("/", "_"))
        arm.run.name = label
        arm.mlflow.tracking_uri = cfg.tracking_uri()
        arm.eval.compare_base = False
        arms.append(Arm(label, values, arm))
    return arms


def run_sweep(cfg: PipelineConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the sweep; return ``{"arms": {label: outcome}, "base": {...}, "failed": [...], "comparison": ...}``."""
    if not cfg.sweep:
        raise ClusterError("sweep: the config has no sweep section; add e.g. sweep: {mix.eta: [0.0, 0.2, 1.0]}")
    if problems := sweep_problems(cfg):
        raise ClusterError("; ".join(problems))
    arms = make_arms(cfg)
    pipeline.prepare(cfg, [*SHARED_STAGES, *ARM_STAGES])
    results: dict[str, Any] = {"run_dir": str(cfg.run_dir)}
    with pipeline.open_parent_run(cfg, "sweep") as parent_id:
        results["mlflow_run_id"] = parent_id
        pipeline.log_config(cfg)
        mlf.log_params({"sweep.arms": ";".join(a.label for a in arms)})
        ctx = stages.StageContext(cfg, progress=progress)
        for stage in SHARED_STAGES:
            with mlf.stage_run(stage) as run_id:
                ctx.run_id = run_id
                results[stage] = stages.run_stage(stage, ctx)
        base = ctx.base_model()
        _run_arms(arms, cfg, parent_id, base, progress)
        results["base"] = _eval_base(cfg, ctx, arms)
        results["arms"] = {a.label: a.outcome for a in arms}
        results["failed"] = [a.label for a in arms if a.outcome.get("status") != "finished"]
        results["comparison"] = _compare(cfg, arms, results["base"])
    write_json_atomic(cfg.run_dir / "reports" / "sweep.json", results)
    return results


# ----------------------------------------------------------------------------- arms


def _run_arms(arms: list[Arm], cfg: PipelineConfig, parent_id: str, base: str, progress: bool) -> None:
    """Every arm not finished before: one after another, or side by side on threads when the cluster has room
    for more than one training at once."""
    todo = []
    for arm in arms:
        marker = arm.cfg.run_dir / "reports" / ARM_FILE
        previous = json.loads(marker.read_text()) if marker.is_file() else {}
        if previous.get("status") == "finished":
            log.info("sweep: arm %s finished before; not run again", arm.label)
            arm.outcome = previous
        else:
            todo.append(arm)
    at_once = min(len(todo), _trainings_at_once(cfg))
    if at_once <= 1:
        for arm in todo:
            _run_arm(arm, cfg, None, base, progress)
        return
    # Threads, not processes: every arm drives Ray from this process (Ray Train's fit already runs off the main
    # thread); each opens its MLflow runs under the parent explicitly, as MLflow's active run is per thread.
    slots = threading.Semaphore(at_once)

    def worker(arm: Arm) -> None:
        with slots:
            _run_arm(arm, cfg, parent_id, base, progress)

    threads = [threading.Thread(target=worker, args=(a,), name=f"arm-{a.label}", daemon=True) for a in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _trainings_at_once(cfg: PipelineConfig) -> int:
    """How many arms' trainings the cluster holds at once: its CPUs (and GPUs) over one training's needs."""
    import ray

    have = ray.cluster_resources()
    t = cfg.train
    by_cpu = int(have.get("CPU", 0) // (t.num_workers * t.cpus_per_worker + 1))
    by_gpu = int(have.get("GPU", 0) // t.num_workers) if t.use_gpu else by_cpu
    return max(1, min(by_cpu, by_gpu))


def _run_arm(arm: Arm, sweep: PipelineConfig, parent_id: str | None, base: str, progress: bool) -> None:
    """mix -> train -> eval of one arm in its nested MLflow run; the outcome (or the error) in its arm.json."""
    tags = {"agenttune.arm": arm.label, **{f"agenttune.sweep.{k}": _show(v) for k, v in arm.values.items()}}
    started = time.monotonic()
    outcome: dict[str, Any] = {"label": arm.label, "values": arm.values}
    try:
        with mlf.stage_run(f"arm:{arm.label}", tags=tags, parent_run_id=parent_id) as arm_run:
            outcome["mlflow_run_id"] = arm_run
            mlf.log_params(to_flat_params(arm.cfg) | {f"sweep.{k}": _show(v) for k, v in arm.values.items()})
            ctx = stages.StageContext(arm.cfg, progress=progress, shared_dir=sweep.run_dir, _base_model=base)
            for stage in ARM_STAGES:
                with mlf.stage_run(stage) as run_id:
                    ctx.run_id = run_id
                    outcome[stage] = stages.run_stage(stage, ctx)
                    outcome[f"{stage}_run_id"] = run_id
        outcome["status"] = "finished"
    except Exception as e:  # noqa: BLE001 - an arm's failure is reported; the other arms go on
        log.error("sweep: arm %s failed: %s: %s", arm.label, type(e).__name__, e)
        outcome |= {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    outcome["wall_s"] = round(time.monotonic() - started, 1)
    arm.outcome = outcome
    write_json_atomic(arm.cfg.run_dir / "reports" / ARM_FILE, outcome)


def _eval_base(cfg: PipelineConfig, ctx: stages.StageContext, arms: list[Arm]) -> dict[str, Any]:
    """The base model, evaluated once (after the arms: it is scored on their held-out general records)."""
    from eval.scoring import SCORES_FILE
    from eval.stage import run_eval_stage
    from train.heldout import HELDOUT_FILE

    scores = ctx.layout.eval / "base" / SCORES_FILE
    report = ctx.layout.report("eval")
    if scores.is_file() and report.is_file():
        log.info("sweep: the base model was evaluated before; not again")
        return json.loads(report.read_text())["base"]
    heldout = next(
        (p for a in arms if (p := a.cfg.run_dir / "mix" / HELDOUT_FILE).is_file()), ctx.layout.mix / HELDOUT_FILE
    )
    with mlf.stage_run("eval") as run_id:
        ctx.run_id = run_id
        out = run_eval_stage(
            cfg.eval,
            models={"base": ctx.base_model()},
            out_dir=ctx.layout.eval,
            sandbox=cfg.sandbox,
            env_modules=cfg.rollout.env_modules,
            heldout=heldout,
            seq_len=cfg.train.seq_len,
            run_name=cfg.run.name,
            held_in=stages.trained_envs(cfg),
            progress=ctx.progress,
        )
    write_json_atomic(report, out.report)
    return out.report["base"]


# ----------------------------------------------------------------------------- comparison


def _compare(cfg: PipelineConfig, arms: list[Arm], base: dict[str, Any]) -> dict[str, Any]:
    """The arms and the base side by side (the ``agenttune compare`` table), the ``--json`` summary, and the
    charts; logged to the sweep's parent run."""
    from eval.compare import Compared, compare, write_charts, write_csv
    from eval.scoring import SCORES_FILE, ModelScores

    finished = [a for a in arms if a.outcome.get("status") == "finished"]
    models = []
    for a in finished:
        scores = ModelScores.load(a.cfg.run_dir / "eval" / "tuned" / SCORES_FILE)
        models.append(Compared(a.label, scores, f"arm {a.label}", str(a.cfg.run_dir)))
    base_scores = ModelScores.load(cfg.run_dir / "eval" / "base" / SCORES_FILE)
    models.append(Compared("base", base_scores, "base model", str(cfg.run_dir)))
    comparison = compare(models)  # normalised by the mean of every arm and the base, as the paper's table is
    summary = {
        "arms": {a.label: _headline(a.outcome["eval"]["tuned"]) for a in finished},
        "base": _headline(base),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(comparison, folder / "comparison.csv")
        write_json_atomic(folder / "sweep.json", summary)
        write_charts(comparison, folder / "charts")
        _sweep_charts(finished, summary, folder / "charts")
        for name in ("comparison.csv", "sweep.json"):
            mlf.log_artifact(folder / name, "")
        mlf.log_artifact(folder / "charts", "charts")
    return {"summary": summary, "overall": comparison.overall, "table": comparison.rows()}


def _headline(model: dict[str, Any]) -> dict[str, float | None]:
    roles = model["role_scores"]
    loss = model["metrics"].get("eval/general/heldout_loss")
    return {
        "held_in": roles.get("held_in"),
        "held_out": roles.get("held_out"),
        "general": roles.get("general"),
        "general_loss": loss,
    }


def _sweep_charts(arms: list[Arm], summary: dict[str, Any], folder: Path) -> None:
    """Role scores per arm, agent score against general score (the trade-off the paper studies), and every arm's
    training loss on one chart."""
    from mlflow.tracking import MlflowClient

    from eval.charts import bar_chart, scatter_chart

    rows = summary["arms"] | {"base": summary["base"]}
    roles = ("held_in", "held_out", "general")
    bar_chart(
        folder / "role_scores.png",
        "role scores per arm",
        {label: {r: v for r in roles if (v := s[r]) is not None} for label, s in rows.items()},
        categories=roles,
    )
    points = {
        label: {s["general"]: s["held_in"]}
        for label, s in rows.items()
        if s["general"] is not None and s["held_in"] is not None
    }
    scatter_chart(
        folder / "agent_vs_general.png",
        "agent (held-in) score against general score",
        points,
        xlabel="general score",
        ylabel="held-in score",
        lines=False,
    )
    client = MlflowClient()
    losses = {}
    for arm in arms:
        history = client.get_metric_history(arm.outcome["train_run_id"], "train/loss")
        losses[arm.label] = {m.step: m.value for m in history}
    scatter_chart(folder / "train_loss.png", "training loss", losses, xlabel="step", ylabel="train/loss")
