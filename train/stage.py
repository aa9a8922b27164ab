"""The mix and train stages, and the base model they start from: the entry points ``agenttune mix|train`` call.

    base = resolve_base_model(cfg.model, run / "base_model", seed=0)
    out = run_mix_stage(cfg.mix, train=cfg.train, kept=..., out_dir=run / "mix", tokenizer_path=base, ...)
    out = run_train_stage(cfg.train, mix_dir=run / "mix", model_path=base, storage_dir=..., export_dir=...)

Each returns a ``rollouts.stage.StageOutput`` (report, metrics, artifacts) for the caller to log; the
MLflow dataset inputs (lineage) and rank 0's per-step metrics are written here, as they happen.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from envs.config import EnvSelection, SandboxChoice, env_kwargs
from rollouts.records import write_json_atomic
from rollouts.stage import StageOutput
from train import mlflow_utils as mlf
from train.config import CorpusConfig, MixConfig, ModelConfig, TrainConfig
from train.errors import DataFormatError, TrainError

log = logging.getLogger(__name__)

MIX_LINEAGE = "lineage.json"  # in the mix folder: the corpora the mix read, for the train run to log
TOKENIZER_CORPUS_RECORDS = 500
ENV_TEXT_EPISODES = 20  # oracle episodes per env whose text the tiny tokenizer learns from
TOKENIZER_CORPUS_VERSION = "agenttune-tiny-corpus-v2"  # bump when tokenizer_corpus changes (v2: WebNav)


# ----------------------------------------------------------------------------- base model


def resolve_base_model(cfg: ModelConfig, out_dir: Path, *, seed: int) -> str:
    """The base model's path or hub id; builds the local tiny model under ``out_dir`` once per run dir.

    The tiny tokenizer learns from a generated general corpus plus oracle episodes of every built-in env, so
    the words of their prompts and actions are tokens of their own. The corpus depends on nothing in the
    config but the seed (adding an eval env must not change the base model), and a built model is reused
    without playing those episodes again. With ``model.tiny.pretrain_steps``, the fresh model is first trained
    on generated general records (``train.tiny.pretrain_model``), here on the driver, once per run dir.
    """
    if cfg.name_or_path != "tiny":
        return cfg.name_or_path
    from train.tiny import Pretraining, build_tiny_checkpoint

    t = cfg.tiny
    pretrain = Pretraining(t.pretrain_steps, t.pretrain_records, t.pretrain_batch_size, t.pretrain_lr)
    build_tiny_checkpoint(
        out_dir,
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        layers=t.num_layers,
        heads=t.num_heads,
        seed=seed,
        corpus=lambda: tokenizer_corpus(seed),
        corpus_id=f"{TOKENIZER_CORPUS_VERSION}/seed={seed}",
        chat_template=t.chat_template,
        pretrain=pretrain if t.pretrain_steps else None,
    )
    return str(out_dir)


def tokenizer_corpus(seed: int) -> list[str]:
    """The tiny tokenizer's text: generated general records, then the prompts and oracle replies of every
    built-in env (tasks far from any split's start). Envs that run commands are not played (that would need a
    sandbox on this machine); their tasks' text stands in: descriptions, set-up and example solutions."""
    import envs
    from rollouts.episode import run_episode
    from rollouts.policies.oracle import OraclePolicy
    from train.corpus import generate_general_records

    texts = [t["value"] for r in generate_general_records(TOKENIZER_CORPUS_RECORDS, seed) for t in r["conversations"]]
    for spec in envs.list_specs():
        if not spec.entry_point.startswith("envs."):  # a user's env (rollout.env_modules) must not change it
            continue
        tasks = envs.generate_tasks(spec.id, "train", ENV_TEXT_EPISODES, start=5_000_000)
        if spec.sandboxed:
            texts += [text for task in tasks for text in _strings(task.payload)]
            continue
        with envs.make_env(spec.id) as env:
            for task in tasks:
                texts += [t["value"] for t in run_episode(env, OraclePolicy(), task)["conversations"]]
    return texts


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON-like value, depth first."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


# ----------------------------------------------------------------------------- mix


def run_mix_stage(
    cfg: MixConfig,
    *,
    train: TrainConfig,
    kept: Path,
    out_dir: Path,
    tokenizer_path: str,
    seed: int,
    generated_corpus: Path,
    decontaminate_against: list[EnvSelection],
    sandbox: SandboxChoice,
    heldout_records: int = 0,
) -> StageOutput:
    """Mix the kept trajectories (``kept``, AgentInstruct JSON) and the configured corpora into ``out_dir``.

    Enough samples for ``train.steps`` steps of ``train.global_batch_size`` are tokenized at ``train.seq_len``
    (and packed when ``train.packing``). With ``cfg.decontaminate``, records that come from a task of
    ``decontaminate_against`` (the eval tasks) or quote its prompts are removed first, and counted.
    ``heldout_records`` general records (at most a quarter of them, none of fewer than 8) are then set aside,
    never mixed, and written to ``out_dir/heldout_general.json`` for eval's held-out loss.
    """
    from train.formats import load_corpus
    from train.heldout import HELDOUT_FILE, heldout_count, split_heldout, write_heldout
    from train.mix import build_mix, samples_for_rows

    skipped: dict[str, int] = {}
    kept_corpus = load_corpus(str(kept), fmt="agentinstruct")
    inputs = [mlf.corpus_input(kept_corpus, name="kept_trajectories", role="agent", config_key="filter")]

    def load(corpora: list[CorpusConfig], section: str, role: str) -> list[dict[str, Any]]:
        out = []
        for i, c in enumerate(corpora):
            key = f"mix.{section}.{i}"
            path = c.path
            if path == "generated":
                from train.corpus import write_general_corpus

                path = str(write_general_corpus(generated_corpus, c.num_records, seed))
            try:
                corpus = load_corpus(
                    path, c.format, cfg.on_bad_record, split=c.split, revision=c.revision, subset=c.subset, key=key
                )
            except DataFormatError as e:
                if e.line is None:
                    raise
                hint = "fix that record, or set mix.on_bad_record=skip to skip bad records (they are counted)"
                raise DataFormatError(e.path, e.line, f"{e.message}; {hint}", reason=e.reason, unit=e.unit) from None
            if not corpus.records:
                raise TrainError(
                    f"{key}.path: {corpus.source} holds no usable records ({corpus.rows} read, "
                    f"{sum(corpus.skipped.values())} skipped): point it at a corpus with conversations, or remove it"
                )
            for reason, n in corpus.skipped.items():
                skipped[f"{section}.{i}.{reason}"] = n
            inputs.append(mlf.corpus_input(corpus, name=_dataset_name(c.path, corpus), role=role, config_key=key))
            out += corpus.records
        return out

    rolled = kept_corpus.records
    extra = load(cfg.agent_extra, "agent_extra", "agent")
    if cfg.eta > 0 and not rolled and not extra:
        raise TrainError(
            f"nothing to mix: {kept} holds no kept trajectories (the filter's report says why it dropped each "
            "episode) and mix.agent_extra adds none; loosen the filter (filter.min_reward, filter.max_tokens), "
            "roll out more tasks, or add agent data under mix.agent_extra"
        )
    general = load(cfg.general, "general", "general")
    for entry in inputs:  # before mixing, so a failed mix still shows what it read
        mlf.log_dataset_input(entry)
    removed: dict[str, int] = {}
    if cfg.decontaminate and decontaminate_against:
        from train.decontam import DecontamIndex

        index = DecontamIndex.from_envs(decontaminate_against, env_kwargs(decontaminate_against, sandbox))
        # Our own rollouts are checked by task id only: tasks of one generator share phrasings by design.
        parts = (("rolled", rolled, False), ("agent_extra", extra, True), ("general", general, True))
        for name, records, grams in parts:
            clean, counts = index.filter(records, check_ngrams=grams)
            records[:] = clean
            removed |= {f"{name}.{k}": v for k, v in counts.items()}
    n_general = len(general)
    n_heldout = heldout_count(heldout_records, n_general)
    if n_heldout < heldout_records:
        log.warning(
            "holding out %d of %d general records, not the %d asked for (at most a quarter; none of fewer than 8)",
            n_heldout,
            n_general,
            heldout_records,
        )
    general, heldout = split_heldout(general, n_heldout, seed)
    agent = rolled + extra
    num_samples = train.samples_needed  # one sample a sequence; packed, as many as fill that many sequences
    if train.packing:
        num_samples = samples_for_rows(
            agent,
            general,
            eta=cfg.eta,
            rows=num_samples,
            tokenizer_path=tokenizer_path,
            seq_len=train.seq_len,
            seed=seed,
        )
    report = build_mix(
        agent,
        general,
        eta=cfg.eta,
        num_samples=num_samples,
        tokenizer_path=tokenizer_path,
        seq_len=train.seq_len,
        out_dir=out_dir,
        seed=seed,
        packing=train.packing,
    ).to_dict()
    report["sequences_needed"] = train.samples_needed
    sequences = report["packed_rows"] if train.packing else sum(report["rows"].values())
    if sequences < train.num_workers * train.micro_batch_size:
        raise TrainError(
            f"the mix holds {sequences} training sequences, fewer than train.num_workers x train.micro_batch_size "
            f"({train.num_workers * train.micro_batch_size}): give the mix more records or lower train.num_workers"
        )
    report["skipped_records"] = skipped
    report["decontaminated"] = removed
    # After build_mix, which replaces out_dir wholesale. Duplicates of a held-out conversation left the mix too.
    report["heldout_records"] = len(heldout)
    report["heldout_duplicates_dropped"] = n_general - len(general) - len(heldout)
    if heldout:
        write_heldout(out_dir / HELDOUT_FILE, heldout)
    report["inputs"] = [{k: e[k] for k in ("name", "role", "config_key", "source", "digest")} for e in inputs]
    write_json_atomic(out_dir / MIX_LINEAGE, {"inputs": inputs})
    return StageOutput(report, _mix_metrics(report))


def _mix_metrics(report: dict[str, Any]) -> dict[str, float]:
    return {
        "mix/achieved_eta": report["achieved_eta"],
        "mix/rows": sum(report["rows"].values()),
        "mix/tokens": report["tokens"],
        "mix/loss_tokens": report["loss_tokens"],
        "mix/truncated": report["truncated"],
        "mix/rows_without_loss_tokens": report["rows_without_loss_tokens"],
        "mix/agent_repeats": report["agent_repeats"],
        "mix/packing_efficiency": report["packing_efficiency"],
        "mix/padding_efficiency": report["padding_efficiency"],
        "mix/skipped_records": sum(report["skipped_records"].values()),
        "mix/decontaminated": sum(report["decontaminated"].values()),
    }


def _dataset_name(config_path: str, corpus: Any) -> str:
    """A corpus's MLflow dataset name: NAME[split] for hf://, the file's stem otherwise."""
    if corpus.hf is not None:
        return corpus.hf.label.removeprefix("hf://")
    return "generated_general" if config_path == "generated" else Path(corpus.source).stem


# ----------------------------------------------------------------------------- train


def run_train_stage(
    cfg: TrainConfig,
    *,
    mix_dir: Path,
    model_path: str,
    storage_dir: Path,
    export_dir: Path,
    seed: int,
    tracking_uri: str | None,
    mlflow_run_id: str | None,
    name: str,
) -> StageOutput:
    """Fine-tune ``model_path`` on the mix in ``mix_dir``; export the Hugging Face checkpoint to ``export_dir``."""
    from train.loop import export_model, fit

    _log_train_inputs(mix_dir)
    result = fit(
        cfg,
        data_dir=mix_dir,
        model_path=model_path,
        storage_dir=storage_dir,
        seed=seed,
        tracking_uri=tracking_uri,
        mlflow_run_id=mlflow_run_id,
        name=name,
        progress_label=name,
    )
    model_dir = export_model(result, export_dir)
    report = {
        "model_dir": str(model_dir),
        "checkpoint": str(result.checkpoint.path),
        "final_metrics": {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float)},
    }
    return StageOutput(report, artifacts=[(model_dir, "model")])


def _log_train_inputs(mix_dir: Path) -> None:
    """The train run's dataset inputs: every corpus the mix read (from its lineage file) and the tokenized rows."""
    from train.mix import training_dir

    lineage = mix_dir / MIX_LINEAGE
    entries = json.loads(lineage.read_text())["inputs"] if lineage.is_file() else []
    if not entries:
        log.warning("%s is missing: the train run cannot name its mix's corpora (re-run `agenttune mix`)", lineage)
    rows = training_dir(mix_dir)
    entries.append(mlf.folder_input(rows, name=f"mix_{rows.name}", role="mix", config_key="mix"))
    for entry in entries:
        mlf.log_dataset_input(entry)
