"""The pipeline's stages, each callable on its own (``agenttune rollout ...``) or chained.

Every stage reads its inputs from, and writes its outputs to, the run directory:

    <run.dir>/
      mlflow.db                    the default MLflow store (+ mlartifacts/)
      base_model/                  the tiny model, when model.name_or_path is 'tiny'
      rollout/trajectories.jsonl   every episode, one record per line, written as it finishes
      filter/kept.json             the kept trajectories, AgentInstruct format
      mix/                         the tokenized, masked mix (Parquet) + lineage.json (the corpora it read)
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
from cluster.config import EnvSelection, PipelineConfig, _PoolSection
from cluster.errors import ClusterError
from envs.base import Task
from rollouts.filters import FilterRules, filter_records, to_agentinstruct
from rollouts.pool import import_env_modules, make_jobs, run_rollouts
from rollouts.records import read_jsonl, sample_records, write_json_atomic, write_jsonl_atomic, write_parquet_atomic
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


def pool_kwargs(cfg: PipelineConfig, section: _PoolSection, envs_: list[EnvSelection]) -> dict[str, Any]:
    """``run_rollouts`` keyword arguments from a rollout or eval pool section."""
    return {
        "min_actors": section.min_actors,
        "max_actors": section.max_actors,
        "concurrency": section.concurrency,
        "actor_options": {"num_cpus": section.actor_cpus},
        "episode_timeout_s": section.episode_timeout_s,
        "recycle_envs_after": section.recycle_envs_after,
        "max_attempts": section.max_attempts,
        "env_kwargs": env_kwargs(cfg, envs_),
        "env_modules": cfg.rollout.env_modules,
    }


def select_tasks(sel: EnvSelection) -> list[Task]:
    if sel.tasks_file:
        return envs.load_tasks(sel.id, sel.tasks_file)[sel.start : sel.start + sel.num_tasks]
    return envs.generate_tasks(sel.id, sel.split, sel.num_tasks, start=sel.start)


# ----------------------------------------------------------------------------- rollout


def rollout(cfg: PipelineConfig, *, progress: bool = True) -> dict[str, Any]:
    p = paths(cfg)
    import_env_modules(cfg.rollout.env_modules)
    mlf.log_params(check_sandbox(cfg, cfg.rollout.envs))
    jobs = []
    for sel in cfg.rollout.envs:
        jobs += make_jobs(select_tasks(sel), samples_per_task=cfg.rollout.samples_per_task, max_turns=sel.max_turns)
    summary = run_rollouts(
        jobs,
        policy_spec=cfg.rollout.policy.model_dump(),
        out_path=p["trajectories"],
        progress=progress,
        **pool_kwargs(cfg, cfg.rollout, cfg.rollout.envs),
    ).to_dict()
    if cfg.rollout.output_format == "parquet":  # JSONL stays the append log; Parquet is a finished copy
        write_parquet_atomic(p["trajectories"].with_suffix(".parquet"), read_jsonl(p["trajectories"]))
    metrics = {
        "rollout/episodes": summary["finished"],
        "rollout/skipped_existing": summary["skipped_existing"],
        "rollout/success_rate": summary["success_rate"],
        "rollout/episodes_per_s": summary["episodes_per_s"],
        "rollout/peak_actors": summary["peak_actors"],
        "rollout/actor_deaths": summary["actor_deaths"],
        "rollout/requeued": summary["requeued"],
    }
    metrics |= {f"rollout/status/{k}": v for k, v in summary["status"].items()}
    for env_id, c in summary["per_env"].items():
        env_key = env_id.replace("/", "_")
        metrics[f"rollout/{env_key}/success_rate"] = c["success_rate"]
        metrics |= {f"rollout/{env_key}/{k}": v for k, v in c.items() if k.startswith("status_")}
    mlf.log_metrics(metrics)
    write_json_atomic(p["reports"] / "rollout.json", summary)
    sample = write_jsonl_atomic(p["reports"] / "rollout_sample.jsonl", sample_records(read_jsonl(p["trajectories"])))
    import mlflow

    mlflow.log_artifact(str(sample), artifact_path="rollout")
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


MIX_LINEAGE = "lineage.json"  # in the mix folder: the corpora the mix read, for the train run to log


def mix_stage(cfg: PipelineConfig, tokenizer_path: str) -> dict[str, Any]:
    from train.corpus import write_general_corpus
    from train.formats import load_corpus
    from train.mix import build_mix, samples_needed

    p = paths(cfg)
    skipped: dict[str, int] = {}
    kept = load_corpus(str(require(p["kept"], "filter", cfg)), fmt="agentinstruct")
    inputs = [mlf.corpus_input(kept, name="kept_trajectories", role="agent", config_key="filter")]

    def load(corpora: list[Any], section: str, role: str) -> list[dict[str, Any]]:
        out = []
        for i, c in enumerate(corpora):
            key = f"mix.{section}.{i}"
            path = c.path
            if path == "generated":
                path = str(write_general_corpus(p["general"], c.num_records, cfg.run.seed))
            corpus = load_corpus(
                path, c.format, cfg.mix.on_bad_record, split=c.split, revision=c.revision, subset=c.subset, key=key
            )
            for reason, n in corpus.skipped.items():
                skipped[f"{section}.{i}.{reason}"] = n
            inputs.append(mlf.corpus_input(corpus, name=_dataset_name(c.path, corpus), role=role, config_key=key))
            out += corpus.records
        return out

    rolled = kept.records
    extra = load(cfg.mix.agent_extra, "agent_extra", "agent")
    general = load(cfg.mix.general, "general", "general")
    for entry in inputs:  # before mixing, so a failed mix still shows what it read
        mlf.log_dataset_input(entry)
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
    report["inputs"] = [{k: e[k] for k in ("name", "role", "config_key", "source", "digest")} for e in inputs]
    write_json_atomic(p["mix"] / MIX_LINEAGE, {"inputs": inputs})
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


def _dataset_name(config_path: str, corpus: Any) -> str:
    """A corpus's MLflow dataset name: NAME[split] for hf://, the file's stem otherwise."""
    if corpus.hf is not None:
        return corpus.hf.label.removeprefix("hf://")
    return "generated_general" if config_path == "generated" else Path(corpus.source).stem


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
    _log_train_inputs(p["mix"])
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


def _log_train_inputs(mix_dir: Path) -> None:
    """The train run's dataset inputs: every corpus the mix read (from its lineage file) and the tokenized rows."""
    from train.mix import training_dir

    lineage = mix_dir / MIX_LINEAGE
    entries = _read_json(lineage)["inputs"] if lineage.is_file() else []
    if not entries:
        log.warning("%s is missing: the train run cannot name its mix's corpora (re-run `agenttune mix`)", lineage)
    rows = training_dir(mix_dir)
    entries.append(mlf.folder_input(rows, name=f"mix_{rows.name}", role="mix", config_key="mix"))
    for entry in entries:
        mlf.log_dataset_input(entry)


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
        out_path=out_path,
        progress=progress,
        **pool_kwargs(cfg, cfg.eval, cfg.eval.envs),
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
