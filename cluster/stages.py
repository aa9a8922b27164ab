"""The pipeline's stages as one table, each callable on its own (``agenttune rollout ...``) or chained.

Every stage is a package's entry point given its own config section; this module only says where its
inputs and outputs live in the run directory, and what one section needs of another:

    <run.dir>/
      mlflow.db                    the default MLflow store (+ mlartifacts/)
      base_model/                  the tiny model, when model.name_or_path is 'tiny'
      rollout/trajectories.jsonl   every episode, one record per line, written as it finishes
      rollout/trajectories.rescored.jsonl   `agenttune rescore`: the episodes re-graded by today's envs
      filter/kept.json             the kept trajectories, AgentInstruct format
      mix/                         the tokenized, masked mix (Parquet) + lineage.json (the corpora it read)
      train/                       Ray Train storage (checkpoints)
      model/                       the exported Hugging Face checkpoint (safetensors)
      eval/<label>/trajectories.jsonl
      reports/<stage>.json         what each stage counted

``run_stage(name, ctx)`` runs one and logs what it returned to the active MLflow run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.config import PipelineConfig
from cluster.errors import ClusterError
from rollouts.records import write_json_atomic
from rollouts.stage import StageOutput
from train import mlflow_utils as mlf


@dataclass(frozen=True)
class RunLayout:
    """Where each stage's inputs and outputs live under ``run.dir``.

    A sweep's arms each have a ``root`` of their own (``<run.dir>/arms/<label>``) for what they make (mix,
    checkpoints, model, eval, reports) and share the sweep's rollout, filter and base model (``shared``).
    """

    root: Path
    shared_root: Path | None = None

    @property
    def shared(self) -> Path:
        return self.shared_root or self.root

    @property
    def base_model(self) -> Path:
        return self.shared / "base_model"

    @property
    def generated_corpus(self) -> Path:
        return self.shared / "data" / "general.json"

    @property
    def trajectories(self) -> Path:
        return self.shared / "rollout" / "trajectories.jsonl"

    @property
    def kept(self) -> Path:
        return self.shared / "filter" / "kept.json"

    @property
    def mix(self) -> Path:
        return self.root / "mix"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    def report(self, stage: str) -> Path:
        return self.root / "reports" / f"{stage}.json"


@dataclass
class StageContext:
    """What a stage is run with: the config, the run dir, and what the command line added."""

    cfg: PipelineConfig
    progress: bool = True
    run_id: str | None = None  # the MLflow run the stage logs to
    model: str | None = None  # `agenttune eval --model`: evaluate this checkpoint instead of <run.dir>/model
    trajectories: Path | None = None  # `agenttune filter|rescore --trajectories`: instead of the rollout's file
    shared_dir: Path | None = None  # a sweep arm's: where the sweep's rollout, filter and base model live
    _base_model: str | None = field(default=None, repr=False)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.cfg.run_dir, self.shared_dir)

    def base_model(self) -> str:
        """The base model's path or hub id, resolved (and the tiny model built) on first use."""
        if self._base_model is None:
            from train.stage import resolve_base_model

            c = self.cfg
            self._base_model = resolve_base_model(c.model, self.layout.base_model, seed=c.run.seed)
        return self._base_model

    def require(self, path: Path, stage: str) -> Path:
        """A stage's input, or a ClusterError naming the stage that writes it."""
        if not path.exists():
            raise ClusterError(
                f"{path} does not exist: run `agenttune {stage} CONFIG run.dir={self.cfg.run.dir}` first "
                "(or `agenttune pipeline`), or point run.dir at the run that has it"
            )
        return path


def _rollout(ctx: StageContext) -> StageOutput:
    from rollouts.stage import run_rollout_stage

    c = ctx.cfg
    return run_rollout_stage(
        c.rollout,
        trajectories=ctx.layout.trajectories,
        sandbox=c.sandbox,
        progress=ctx.progress,
        check_endpoint=False,  # preflight() did, before Ray started
    )


def _filter(ctx: StageContext) -> StageOutput:
    from rollouts.stage import run_filter_stage
    from train.masking import token_counter

    trajectories = _trajectories(ctx)
    return run_filter_stage(
        ctx.cfg.filter,
        trajectories=trajectories,
        kept=ctx.layout.kept,
        token_budget=ctx.cfg.train.seq_len,  # no kept trajectory is cut in training
        count_tokens=token_counter(ctx.base_model()),
    )


def _trajectories(ctx: StageContext) -> Path:
    """The trajectories a filter or a rescore reads: the rollout's, or the file given with --trajectories."""
    if ctx.trajectories is None:
        return ctx.require(ctx.layout.trajectories, "rollout")
    if not ctx.trajectories.is_file():
        raise ClusterError(f"--trajectories {ctx.trajectories}: no such file; name a trajectories JSONL file")
    return ctx.trajectories


def _rescore(ctx: StageContext) -> StageOutput:
    from rollouts.rescore import rescored_path, run_rescore_stage

    c = ctx.cfg
    trajectories = _trajectories(ctx)
    return run_rescore_stage(
        [*c.rollout.envs, *c.eval.envs],  # the tasks a rollout's or an eval's records were played on
        trajectories=trajectories,
        out=rescored_path(trajectories),
        sandbox=c.sandbox,
        env_modules=c.rollout.env_modules,
        concurrency=c.rollout.concurrency,
        episode_timeout_s=c.rollout.episode_timeout_s,
        recycle_envs_after=c.rollout.recycle_envs_after,
        progress=ctx.progress,
    )


def _mix(ctx: StageContext) -> StageOutput:
    from train.stage import run_mix_stage

    c, layout = ctx.cfg, ctx.layout
    kept = ctx.require(layout.kept, "filter")
    return run_mix_stage(
        c.mix,
        train=c.train,
        heldout_records=c.eval.general.heldout_records,
        kept=kept,
        out_dir=layout.mix,
        tokenizer_path=ctx.base_model(),
        seed=c.run.seed,
        generated_corpus=layout.generated_corpus,
        decontaminate_against=c.eval.envs,
        sandbox=c.sandbox,
    )


def _train(ctx: StageContext) -> StageOutput:
    from train.stage import run_train_stage

    c, layout = ctx.cfg, ctx.layout
    mix_dir = ctx.require(layout.mix, "mix")
    return run_train_stage(
        c.train,
        mix_dir=mix_dir,
        model_path=ctx.base_model(),
        storage_dir=layout.train,
        export_dir=layout.model,
        seed=c.run.seed,
        tracking_uri=c.tracking_uri(),
        mlflow_run_id=ctx.run_id,
        name=c.run.name,
    )


def _eval(ctx: StageContext) -> StageOutput:
    from eval.stage import run_eval_stage
    from train.heldout import HELDOUT_FILE

    c = ctx.cfg
    policy = c.eval.policy
    if policy.kind not in ("hf", "served"):  # an endpoint (or the oracle) plays: there is no checkpoint to load
        models = {"model": policy.model or policy.kind}
    elif ctx.model or policy.model:
        models = {"model": ctx.model or policy.model or ""}
    else:
        models = {"tuned": str(ctx.require(ctx.layout.model, "train"))}
    if c.eval.compare_base and policy.kind in ("hf", "served"):
        models["base"] = ctx.base_model()
    return run_eval_stage(
        c.eval,
        models=models,
        out_dir=ctx.layout.eval,
        sandbox=c.sandbox,
        env_modules=c.rollout.env_modules,
        heldout=ctx.layout.mix / HELDOUT_FILE,
        seq_len=c.train.seq_len,
        run_name=c.run.name,
        held_in=trained_envs(c),
        progress=ctx.progress,
    )


def trained_envs(cfg: PipelineConfig) -> list[str]:
    """The env ids the run rolls out its training data in: the eval scores them as held-in."""
    import envs

    return [envs.get_spec(sel.id).id for sel in cfg.rollout.envs]


NEED_RAY = frozenset({"rollout", "mix", "train", "eval"})  # the filter is a plain pass over one file


def preflight(cfg: PipelineConfig, stage_names: list[str]) -> None:
    """Checks that take seconds and save a run that would fail later: the rollout policy's endpoint answers,
    takes the key and serves the model."""
    if "rollout" in stage_names:
        from rollouts.policies import preflight as check_endpoint

        check_endpoint(cfg.rollout.policy)


STAGES: dict[str, Callable[[StageContext], StageOutput]] = {
    "rollout": _rollout,
    "filter": _filter,
    "mix": _mix,
    "train": _train,
    "eval": _eval,
    "rescore": _rescore,  # not a pipeline stage: run on its own, after a grader changed
}


def run_stage(name: str, ctx: StageContext) -> dict[str, Any]:
    """Run stage ``name``; log its params, metrics and artifacts to the active MLflow run; write its report."""
    out = STAGES[name](ctx)
    if out.params:
        mlf.log_params(out.params)
    if out.metrics:
        mlf.log_metrics(out.metrics)
    for path, folder in out.artifacts:
        mlf.log_artifact(path, folder)
    write_json_atomic(ctx.layout.report(name), out.report)
    return out.report
