"""The pipeline's stages, each callable on its own (``agenttune rollout ...``) or chained.

Every stage reads its inputs from, and writes its outputs to, the run directory:

    <run.dir>/
      mlflow.db                    the default MLflow store (+ mlartifacts/)
      base_model/                  the tiny model, when model.name_or_path is 'tiny'
      rollout/trajectories.jsonl   every episode, one record per line, written as it finishes
      filter/kept.json             the kept trajectories, AgentInstruct format
      mix/                         the tokenized, masked mix (Parquet)
      train/                       Ray Train storage (checkpoints)
      model/                       the exported Hugging Face checkpoint (safetensors)
      eval/<label>/trajectories.jsonl
      reports/<stage>.json         what each stage counted
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import envs
from cluster.config import EnvSelection, PipelineConfig
from cluster.errors import ClusterError
from envs.base import Task
from rollouts.filters import FilterRules, filter_records, to_agentinstruct
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl, write_json_atomic, write_parquet_atomic
from train import mlflow_utils as mlf

log = logging.getLogger("agenttune")


def paths(cfg: PipelineConfig) -> dict[str, Path]:
    root = cfg.run_dir
    return {
        "root": root,
        "base_model": root / "base_model",
        "general": root / "data" / "general.json",
        "trajectories": root / "rollout" / "trajectories.jsonl",
        "kept": root / "filter" / "kept.json",
        "mix": root / "mix",
        "train": root / "train",
        "model": root / "model",
        "eval": root / "eval",
        "reports": root / "reports",
    }


def base_model_path(cfg: PipelineConfig) -> str:
    """The base model's path or hub id; builds the local tiny model on first use."""
    if cfg.model.name_or_path != "tiny":
        return cfg.model.name_or_path
    from train.corpus import write_general_corpus
    from train.tiny import build_tiny_checkpoint

    p = paths(cfg)
    corpus = write_general_corpus(p["root"] / "data" / "tokenizer_corpus.json", 500, cfg.run.seed)
    texts = [t["value"] for r in _read_json(corpus) for t in r["conversations"]]
    texts += _env_texts(cfg)
    t = cfg.model.tiny
    build_tiny_checkpoint(
        p["base_model"],
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        layers=t.num_layers,
        heads=t.num_heads,
        seed=cfg.run.seed,
        corpus=texts,
        chat_template=t.chat_template,
    )
    return str(p["base_model"])


def env_kwargs(cfg: PipelineConfig, selections: list[EnvSelection]) -> dict[str, dict[str, Any]]:
    """Constructor kwargs per env id: the selection's own, plus the sandbox choice for envs that run commands."""
    out: dict[str, dict[str, Any]] = {}
    for sel in selections:
        spec = envs.get_spec(sel.id)
        kwargs = dict(sel.env_kwargs)
        if spec.sandboxed:
            kwargs.setdefault("sandbox", cfg.sandbox)
        out[spec.id] = kwargs
    return out


def check_sandbox(cfg: PipelineConfig, selections: list[EnvSelection]) -> dict[str, Any]:
    """Before any actor starts: prove sandboxes work here (or say loudly that there are none)."""
    if not any(envs.get_spec(sel.id).sandboxed for sel in selections):
        return {"sandbox": "unused"}
    if cfg.sandbox == "none":
        log.warning(
            "!!! sandbox: none — agent commands run in a plain shell on this machine with NO isolation. "
            "Use it only for trusted agents; this run's MLflow params record it. !!!"
        )
        return {"sandbox": "none"}
    from envs.sandbox import probe

    return {"sandbox": "bwrap", **{f"sandbox.{k}": v for k, v in probe().items()}}


def require(path: Path, stage: str, cfg: PipelineConfig) -> Path:
    """A stage's input, or a ClusterError naming the stage that writes it."""
    if not path.exists():
        raise ClusterError(
            f"{path} does not exist: run `agenttune {stage} CONFIG run.dir={cfg.run.dir}` first "
            "(or `agenttune pipeline`), or point run.dir at the run that has it"
        )
    return path


def select_tasks(sel: EnvSelection) -> list[Task]:
    if sel.tasks_file:
        return envs.load_tasks(sel.id, sel.tasks_file)[sel.start : sel.start + sel.num_tasks]
    return envs.generate_tasks(sel.id, sel.split, sel.num_tasks, start=sel.start)


# ----------------------------------------------------------------------------- rollout


def rollout(cfg: PipelineConfig, *, progress: bool = True) -> dict[str, Any]:
    p = paths(cfg)
    mlf.log_params(check_sandbox(cfg, cfg.rollout.envs))
    jobs = []
    for sel in cfg.rollout.envs:
        jobs += make_jobs(select_tasks(sel), samples_per_task=cfg.rollout.samples_per_task, max_turns=sel.max_turns)
    summary = run_rollouts(
        jobs,
        policy_spec=cfg.rollout.policy.model_dump(),
        num_actors=cfg.rollout.num_actors,
        out_path=p["trajectories"],
        episode_timeout_s=cfg.rollout.episode_timeout_s,
        progress=progress,
        env_kwargs=env_kwargs(cfg, cfg.rollout.envs),
    ).to_dict()
    if cfg.rollout.output_format == "parquet":  # JSONL stays the append log; Parquet is a finished copy
        write_parquet_atomic(p["trajectories"].with_suffix(".parquet"), read_jsonl(p["trajectories"]))
    metrics = {
        "rollout/episodes": summary["finished"],
        "rollout/skipped_existing": summary["skipped_existing"],
        "rollout/success_rate": summary["success_rate"],
        "rollout/episodes_per_s": summary["episodes_per_s"],
        "rollout/actor_restarts": summary["actor_restarts"],
    }
    metrics |= {f"rollout/status/{k}": v for k, v in summary["status"].items()}
    for env_id, c in summary["per_env"].items():
        metrics[f"rollout/{env_id.replace('/', '_')}/success_rate"] = c["success_rate"]
    mlf.log_metrics(metrics)
    write_json_atomic(p["reports"] / "rollout.json", summary)
    return summary


# ----------------------------------------------------------------------------- filter


def filter_stage(cfg: PipelineConfig, tokenizer_path: str) -> dict[str, Any]:
    from transformers import AutoTokenizer

    p = paths(cfg)
    tok = AutoTokenizer.from_pretrained(tokenizer_path)

    def count_tokens(rec: dict[str, Any]) -> int:
        return sum(len(tok(t["value"], add_special_tokens=False)["input_ids"]) + 4 for t in rec["conversations"])

    f = cfg.filter
    rules = FilterRules(
        min_reward=f.min_reward,
        min_reward_per_env=dict(f.min_reward_per_env),
        require_completed=f.require_completed,
        require_well_formed=f.require_well_formed,
        max_tokens=f.max_tokens or cfg.train.seq_len,
        dedupe=f.dedupe,
    )
    kept, report = filter_records(
        read_jsonl(require(p["trajectories"], "rollout", cfg)), rules, count_tokens=count_tokens
    )
    write_json_atomic(p["kept"], [to_agentinstruct(r) for r in kept])
    out = report.to_dict()
    mlf.log_metrics(
        {"rollout/kept": out["kept"], "filter/total": out["total"]}
        | {f"filter/dropped/{rule}": n for rule, n in out["dropped"].items()}
    )
    write_json_atomic(p["reports"] / "filter.json", out)
    return out


# ----------------------------------------------------------------------------- mix


def mix_stage(cfg: PipelineConfig, tokenizer_path: str) -> dict[str, Any]:
    from train.corpus import write_general_corpus
    from train.formats import read_records
    from train.mix import build_mix, samples_needed

    p = paths(cfg)
    skipped: dict[str, int] = {}

    def load(corpora: list[Any], role: str) -> list[dict[str, Any]]:
        out = []
        for i, c in enumerate(corpora):
            path = c.path
            if path == "generated":
                path = str(write_general_corpus(p["general"], c.num_records, cfg.run.seed))
            records, bad = read_records(path, fmt=c.format, on_bad_record=cfg.mix.on_bad_record)
            for reason, n in bad.items():
                skipped[f"{role}.{i}.{reason}"] = n
            out += records
        return out

    rolled, _ = read_records(str(require(p["kept"], "filter", cfg)), fmt="agentinstruct")
    extra = load(cfg.mix.agent_extra, "agent_extra")
    general = load(cfg.mix.general, "general")
    removed: dict[str, int] = {}
    if cfg.mix.decontaminate and cfg.eval.envs:
        index = _eval_index(cfg)
        for name, records, grams in (
            ("rolled", rolled, False),
            ("agent_extra", extra, True),
            ("general", general, True),
        ):
            kept, counts = index.filter(records, check_ngrams=grams)
            records[:] = kept
            removed |= {f"{name}.{k}": v for k, v in counts.items()}
    agent = rolled + extra
    report = build_mix(
        agent,
        general,
        eta=cfg.mix.eta,
        num_samples=samples_needed(cfg.train.steps, cfg.train.global_batch_size),
        tokenizer_path=tokenizer_path,
        seq_len=cfg.train.seq_len,
        out_dir=p["mix"],
        seed=cfg.run.seed,
        packing=cfg.train.packing,
    ).to_dict()
    report["skipped_records"] = skipped
    report["decontaminated"] = removed
    mlf.log_metrics(
        {
            "mix/achieved_eta": report["achieved_eta"],
            "mix/rows": sum(report["rows"].values()),
            "mix/tokens": report["tokens"],
            "mix/loss_tokens": report["loss_tokens"],
            "mix/truncated": report["truncated"],
            "mix/rows_without_loss_tokens": report["rows_without_loss_tokens"],
            "mix/agent_repeats": report["agent_repeats"],
            "mix/packing_efficiency": report["packing_efficiency"],
            "mix/padding_efficiency": report["padding_efficiency"],
            "mix/skipped_records": sum(skipped.values()),
            "mix/decontaminated": sum(removed.values()),
        }
    )
    write_json_atomic(p["reports"] / "mix.json", report)
    return report


def _eval_index(cfg: PipelineConfig) -> Any:
    """Task ids and first prompts of every eval task, for decontamination."""
    from train.decontam import DecontamIndex

    ids, prompts = [], {}
    kwargs = env_kwargs(cfg, cfg.eval.envs)
    for sel in cfg.eval.envs:
        tasks = select_tasks(sel)
        ids += [t.task_id for t in tasks]
        with envs.make_env(sel.id, **kwargs[envs.get_spec(sel.id).id]) as env:
            prompts.setdefault(sel.id, []).extend(env.reset(options={"task": t})[0] for t in tasks)
    return DecontamIndex.build(ids, prompts)


# ----------------------------------------------------------------------------- train


def train_stage(cfg: PipelineConfig, model_path: str, *, run_id: str | None = None) -> dict[str, Any]:
    from train.loop import export_model, fit

    p = paths(cfg)
    require(p["mix"], "mix", cfg)
    result = fit(
        cfg.train.model_dump(),
        data_dir=p["mix"],
        model_path=model_path,
        storage_dir=p["train"],
        seed=cfg.run.seed,
        tracking_uri=cfg.tracking_uri(),
        mlflow_run_id=run_id,
        name=cfg.run.name,
    )
    model_dir = export_model(result, p["model"])
    out = {
        "model_dir": str(model_dir),
        "checkpoint": str(result.checkpoint.path),
        "final_metrics": {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float)},
    }
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    write_json_atomic(p["reports"] / "train.json", out)
    return out


# ----------------------------------------------------------------------------- eval


def eval_stage(cfg: PipelineConfig, model_path: str, label: str, *, progress: bool = True) -> dict[str, float]:
    from eval.scoring import score_records

    p = paths(cfg)
    check_sandbox(cfg, cfg.eval.envs)
    jobs, roles = [], {}
    for sel in cfg.eval.envs:
        jobs += make_jobs(select_tasks(sel), max_turns=sel.max_turns)
        roles[sel.id] = envs.get_spec(sel.id).role
    out_path = p["eval"] / label / "trajectories.jsonl"
    run_rollouts(
        jobs,
        policy_spec={"kind": "hf", "model": model_path, "max_tokens": cfg.eval.max_new_tokens},
        num_actors=cfg.eval.num_actors,
        out_path=out_path,
        episode_timeout_s=cfg.eval.episode_timeout_s,
        progress=progress,
        env_kwargs=env_kwargs(cfg, cfg.eval.envs),
    )
    metrics = score_records(read_jsonl(out_path), roles)
    mlf.log_metrics(metrics)
    write_json_atomic(p["reports"] / f"eval_{label}.json", metrics)
    return metrics


# ----------------------------------------------------------------------------- helpers


def _read_json(path: Path) -> Any:
    import json

    return json.loads(Path(path).read_text())


def _env_texts(cfg: PipelineConfig, per_env: int = 20) -> list[str]:
    """Prompts and oracle replies of every configured env, so the tiny tokenizer has seen their words."""
    from rollouts.episode import run_episode
    from rollouts.policies.oracle import OraclePolicy

    texts = []
    kwargs = env_kwargs(cfg, [*cfg.rollout.envs, *cfg.eval.envs])
    for env_id, kw in kwargs.items():
        with envs.make_env(env_id, **kw) as env:
            for task in envs.generate_tasks(env_id, "train", per_env, start=5_000_000):
                rec = run_episode(env, OraclePolicy(), task)
                texts += [t["value"] for t in rec["conversations"]]
    return texts
