"""Fine-tune a Hugging Face causal LM with DeepSpeed ZeRO under Ray Train.

    result = fit(train_cfg, data_dir="runs/x/mix", model_path="runs/x/base_model", storage_dir="runs/x/train",
                 tracking_uri="sqlite:///runs/x/mlflow.db", mlflow_run_id=run_id)

``train_loop_per_worker`` is what each Ray Train worker runs: build the DeepSpeed
engine, stream its shard of the tokenized mix, step, log from rank 0 (on a background
thread), checkpoint through ``ray.train.report``. The last report also carries a
consolidated Hugging Face export (safetensors) under ``hf/`` that ``from_pretrained``
and vLLM load. On CPU it uses the gloo backend and DeepSpeed's CPU accelerator.

``build_engine`` and ``train_step`` are the whole of the training work; ``train/launcher.py``
runs the same two under the plain ``deepspeed`` launcher, the baseline that
bench/train_throughput.py measures Ray Train against. ``train/mfu`` is logged from
``train/mfu.py``'s FLOP count when the peak is known (a known GPU, or
``train.peak_tflops_per_worker``); ``train/tflops_per_worker`` always.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray.train
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from train.batches import shard_batches
from train.config import TrainConfig
from train.errors import TrainError
from train.mfu import mfu, model_flops, peak_tflops
from train.packing import IGNORE, SOURCES

log = logging.getLogger(__name__)

HF_EXPORT_DIR = "hf"
DS_TAG = "ds"  # DeepSpeed checkpoint tag inside each Ray Train checkpoint
MATERIALIZE_BELOW_BYTES = 512 * 2**20


def deepspeed_config(cfg: TrainConfig) -> dict[str, Any]:
    """The DeepSpeed config for a ``TrainConfig``."""
    zero: dict[str, Any] = {"stage": cfg.zero_stage}
    if cfg.zero_stage == 3:
        zero |= {"stage3_gather_16bit_weights_on_model_save": True, "overlap_comm": cfg.use_gpu}
    if cfg.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": cfg.use_gpu}
    return {
        "train_batch_size": cfg.global_batch_size,
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum_steps,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": cfg.precision == "bf16"},
        "fp16": {"enabled": cfg.precision == "fp16"},
        "zero_allow_untested_optimizer": True,  # torch AdamW as the client optimizer
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def train_loop_per_worker(config: dict[str, Any]) -> None:
    from train.mlflow_utils import RunLogger

    cfg: TrainConfig = config["train"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    undo_worker_niceness(rank)
    engine, scheduler, tokenizer, ds_cfg = build_engine(cfg, config["model_path"], seed=config["seed"], rank=rank)
    start_step = _maybe_resume(engine, config.get("resume_from"))
    logger = RunLogger(config.get("tracking_uri"), config.get("mlflow_run_id"), enabled=rank == 0)
    if start_step == 0:  # a restarted worker group must not log the same params again
        logger.log_params(_flat({"train": cfg.model_dump(mode="json"), "deepspeed": ds_cfg, "world_size": world}))
    accum = ds_cfg["gradient_accumulation_steps"]
    shard = ray.train.get_dataset_shard("train")
    batches = shard_batches(shard, cfg, tokenizer.pad_token_id, in_memory=config.get("data_in_memory", False))
    for _ in range(start_step * accum):  # continue the data stream where the checkpoint left it
        next(batches)
    peak = peak_tflops(cfg.peak_tflops_per_worker, cfg.use_gpu)
    progress = ProgressLine(cfg.steps, start_step, label=config.get("progress_label"), enabled=rank == 0)
    with BackgroundLog(logger) as log:
        for step in range(start_step, cfg.steps):
            metrics = train_step(engine, scheduler, batches, accum=accum, peak_tflops=peak)
            log.log(metrics, step=step + 1)
            progress.step(step + 1, metrics)
            last = step + 1 == cfg.steps
            every = cfg.checkpoint_every
            if last or (every and (step + 1) % every == 0):
                log.flush()  # the run shows every step up to a checkpoint before the checkpoint exists
                _report_checkpoint(engine, tokenizer, {**metrics, "step": step + 1}, step + 1, export=last)
            if step_hook := config.get("step_hook"):
                step_hook(step=step + 1, rank=rank, world=world, resumed=start_step > 0)


TRAIN_NICENESS = 0  # what the deepspeed launcher's ranks and Ray's own daemons run at


def undo_worker_niceness(rank: int) -> int | None:
    """Give this Ray Train worker the CPU priority of the processes it shares the node with; its niceness after.

    Ray starts every worker process at nice 15 (its ``worker_niceness``), under its own raylet, GCS and agents
    (nice 0) and under anything else on the node. A training worker is the job itself: at nice 15 each wake-up
    of a daemon takes its core at once, and as the ranks meet at every collective, one rank losing its core stalls
    all of them (measured on 2 cores: bench/train_throughput.py, README Performance). Linux keeps a niceness per
    thread, so every thread of the process is set (the training loop runs on a thread of Ray Train's); threads
    started later (torch's, gloo's) inherit it. Raising priority needs CAP_SYS_NICE (root, or RLIMIT_NICE):
    without it the worker stays where it is and says how to start Ray instead.
    """
    if not hasattr(os, "setpriority"):
        return None
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current <= TRAIN_NICENESS:
        return current
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except FileNotFoundError:
        threads = [0]  # not Linux: the niceness is the whole process's
    try:
        for tid in threads:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.setpriority(os.PRIO_PROCESS, tid, TRAIN_NICENESS)
    except PermissionError as e:
        if rank == 0:
            log.warning(
                "train: Ray runs its workers at nice %d, below its own daemons, and this worker may not raise its "
                "priority (%s); on a busy node training slows down. Start Ray with RAY_worker_niceness=0 in the "
                "environment of `ray start` (or of the process that calls ray.init), or grant CAP_SYS_NICE",
                current,
                type(e).__name__,
            )
    return os.getpriority(os.PRIO_PROCESS, 0)


class ProgressLine:
    """Rank 0's one-line progress on the driver's console (Ray forwards workers' stdout there), about every
    twentieth of the run: ``train step 40/300 | loss 2.134 | 9,812 tokens/s | 3m02s left``."""

    def __init__(self, total: int, start: int, *, label: str | None, enabled: bool):
        self.total, self.start, self.enabled = total, start, enabled
        self.every = max(1, total // 20)
        self.prefix = f"[{label}] " if label else ""
        self.started = time.monotonic()

    def step(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled or (step % self.every and step != self.total):
            return
        per_step = (time.monotonic() - self.started) / max(1, step - self.start)
        left = int(per_step * (self.total - step))
        line = (
            f"{self.prefix}train step {step}/{self.total} | loss {metrics['train/loss']:.3f} | "
            f"{metrics['train/tokens_per_s']:,.0f} tokens/s | {left // 60}m{left % 60:02d}s left\n"
        )
        # Not print(): Ray Train patches it to log through the root logger and also tee to stdout (two lines).
        sys.stdout.write(line)
        sys.stdout.flush()


class BackgroundLog:
    """Rank 0's per-step MLflow writes, off the training thread.

    A write is a blocking round trip (a SQLite commit, an HTTP request to a tracking server: ~10 ms
    on a local SQLite store); done inline, rank 0 arrives that much later at the next step's
    collectives and every rank waits for it. One thread keeps the writes in step order; ``flush``
    waits for them and re-raises a failed write, as does the next ``log`` after a failure.
    """

    MAX_PENDING = 64  # a tracking server slower than the steps throttles training instead of piling up

    def __init__(self, logger: Any):
        from concurrent.futures import ThreadPoolExecutor

        self._logger = logger
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mlflow-log") if logger.enabled else None
        self._pending: list[Any] = []

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self._pool is None:
            return
        while self._pending and (self._pending[0].done() or len(self._pending) >= self.MAX_PENDING):
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._logger.log, metrics, step))

    def flush(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def __enter__(self) -> BackgroundLog:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # a failing run still gets the steps it finished
            if exc[0] is None:
                self.flush()


def build_engine(cfg: TrainConfig, model_path: str, *, seed: int, rank: int) -> tuple[Any, Any, Any, dict]:
    """The DeepSpeed engine, its LR scheduler, the tokenizer and the DeepSpeed config, on this process.

    Joins the process group the caller's launcher set up (Ray Train's, or the ``deepspeed`` launcher's
    environment in ``train/launcher.py``), so both entry points train the same way.
    """
    import deepspeed
    import torch

    # DeepSpeed calls collectives that this torch deprecated: every rank would print the same FutureWarning
    # on every step, burying the run's own output.
    warnings.filterwarnings("ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning)
    torch.manual_seed(seed + rank)
    ds_cfg = deepspeed_config(cfg)
    deepspeed.init_distributed(dist_backend="nccl" if cfg.use_gpu else "gloo")
    model, tokenizer = _load_model(model_path, ds_cfg, cfg)
    optimizer = _make_optimizer(model, cfg)
    # The scheduler is built by DeepSpeed on its wrapped optimizer (ZeRO regroups the parameters).
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=lambda opt: _make_scheduler(opt, cfg), config=ds_cfg
    )
    return engine, scheduler, tokenizer, ds_cfg


def train_step(
    engine: Any, scheduler: Any, batches: Iterator[dict[str, Any]], *, accum: int, peak_tflops: float | None
) -> dict[str, float | None]:
    """One optimizer step over the next ``accum`` micro-batches; returns its metrics (the same on every rank).

    The time covers taking the micro-batches from ``batches`` too, so a slow data feed shows in tokens/s.
    """
    import torch
    import torch.distributed as dist

    world = dist.get_world_size()
    t0, cpu0 = time.perf_counter(), time.process_time()
    micro = [next(batches) for _ in range(accum)]
    data_s = time.perf_counter() - t0
    # Token-level mean over the whole global batch: every loss token weighs the same, however the
    # tokens fall across micro-batches and ranks (a micro-batch may hold none at all).
    # counts: loss tokens, real tokens, padded slots, attended keys, then loss tokens per source.
    counts = torch.zeros(4 + len(SOURCES), dtype=torch.float64)
    for b in micro:
        trained = b["labels"][:, 1:] != IGNORE
        counts[0] += trained.sum()
        counts[1] += b["real_tokens"].sum()
        counts[2] += b["input_ids"].numel()
        counts[3] += attended_keys(b)
        for i, sid in enumerate(SOURCES.values()):
            counts[4 + i] += (trained & (b["source_ids"][:, 1:] == sid)).sum()
    dist.all_reduce(counts)
    n_loss_tokens = max(1.0, counts[0].item())
    sums = torch.zeros(1 + len(SOURCES), dtype=torch.float64)  # total, then per source
    for batch in micro:
        batch = {k: v.to(engine.device) for k, v in batch.items()}
        summed, by_source = _summed_loss(engine, batch)
        # DeepSpeed divides by the accumulation steps and averages over ranks; undo both.
        engine.backward(summed * (accum * world / n_loss_tokens))
        engine.step()
        sums[0] += summed.detach().double().cpu()
        sums[1:] += by_source
    dist.all_reduce(sums)
    dt = time.perf_counter() - t0
    tokens = counts[1].item()
    flops = model_flops(engine.module.config, tokens, counts[3].item())
    metrics = {
        "train/loss": sums[0].item() / n_loss_tokens,
        "train/lr": scheduler.get_last_lr()[0],
        "train/grad_norm": _grad_norm(engine),
        "train/tokens": tokens,
        "train/tokens_per_s": tokens / dt,
        "train/loss_tokens": counts[0].item(),
        "train/padding_share": 1 - tokens / max(1.0, counts[2].item()),
        "train/step_time_s": dt,
        "train/data_wait_s": data_s,  # part of step_time_s: this rank waiting for its micro-batches
        # This process's CPU time in the step, all threads: well below step_time_s means it waited
        # (on collectives, or for a CPU shared with other processes).
        "train/cpu_time_s": time.process_time() - cpu0,
        "train/tflops_per_worker": flops / dt / world / 1e12,
        "train/mfu": mfu(flops, dt, peak_tflops, world),
    }
    for i, name in enumerate(SOURCES):
        if counts[4 + i] > 0:
            metrics[f"train/loss_{name}"] = sums[1 + i].item() / counts[4 + i].item()
    return metrics


def attended_keys(batch: dict[str, Any]) -> int:
    """Keys the real tokens of a collated batch attend under the causal mask (``K`` in ``train/mfu.py``):
    position + 1 per token, positions restarting per packed sample."""
    import torch

    pos = batch.get("position_ids")
    if pos is None:  # one sample per row, padded on the right
        pos = torch.arange(batch["input_ids"].shape[1]).expand_as(batch["input_ids"])
    return int(((pos + 1) * batch["real_tokens"]).sum())


def _summed_loss(engine: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """Sum (not mean) of next-token cross-entropy over the labelled positions, in total and per source."""
    import torch
    import torch.nn.functional as F

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    logits = engine(**inputs, use_cache=False).logits  # with a KV cache, transformers ignores packing
    labels = batch["labels"][:, 1:]
    per_token = F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="none"
    ).view_as(labels)
    sources = batch["source_ids"][:, 1:]
    trained = labels != IGNORE
    by_source = torch.stack(
        [per_token[(sources == s) & trained].sum().detach().double() for s in SOURCES.values()]
    ).cpu()
    return per_token.sum(), by_source


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        out |= _flat(v, f"{key}.") if isinstance(v, dict) else {key: v}
    return out


def _load_model(path: str, ds_cfg: dict[str, Any], cfg: TrainConfig) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision, torch.float32)
    if cfg.zero_stage == 3:
        # Alive while from_pretrained runs: transformers then builds the model under zero.Init,
        # so each worker only ever holds its shard of a large model.
        from transformers.integrations import HfDeepSpeedConfig

        _keep = HfDeepSpeedConfig(ds_cfg)  # noqa: F841
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model, tokenizer


def _make_optimizer(model: Any, cfg: TrainConfig) -> Any:
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.offload_optimizer:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(groups, lr=cfg.lr, betas=tuple(cfg.betas), adamw_mode=True)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def _make_scheduler(optimizer: Any, cfg: TrainConfig) -> Any:
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.schedule]
    warmup = math.ceil(cfg.warmup_ratio * cfg.steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=cfg.steps)


def _grad_norm(engine: Any) -> float | None:
    norm = engine.get_global_grad_norm()
    return float(norm) if norm is not None else None


def _maybe_resume(engine: Any, resume_from: str | None) -> int:
    ckpt = ray.train.get_checkpoint() or (Checkpoint.from_directory(resume_from) if resume_from else None)
    if ckpt is None:
        return 0
    with ckpt.as_directory() as d:
        _, client_state = engine.load_checkpoint(d, tag=DS_TAG)
    return int((client_state or {}).get("step", 0))


def _report_checkpoint(engine: Any, tokenizer: Any, metrics: dict[str, Any], step: int, export: bool) -> None:
    """Every worker saves its ZeRO shards; rank 0 adds the consolidated HF export on the last step."""
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory() as d:
        engine.save_checkpoint(d, tag=DS_TAG, client_state={"step": step})
        if export:
            state = engine._zero3_consolidated_16bit_state_dict() if _zero3(engine) else None
            if rank == 0:
                _export_hf(engine, tokenizer, state, Path(d) / HF_EXPORT_DIR)
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(d), checkpoint_dir_name=f"step_{step:06d}")


def _zero3(engine: Any) -> bool:
    return engine.zero_optimization_stage() == 3


def _export_hf(engine: Any, tokenizer: Any, state: dict[str, Any] | None, out: Path) -> None:
    module = engine.module
    if state is None:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    module.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)


# ----------------------------------------------------------------------------- driver side


def fit(
    train_cfg: TrainConfig,
    *,
    data_dir: str | Path,
    model_path: str,
    storage_dir: str | Path,
    seed: int = 0,
    tracking_uri: str | None = None,
    mlflow_run_id: str | None = None,
    name: str = "train",
    step_hook: Callable[..., None] | None = None,
    progress_label: str | None = None,
) -> ray.train.Result:
    """Run the Ray Train job and return its result (``result.checkpoint`` holds ``hf/``).

    ``step_hook(step=, rank=, world=, resumed=)`` runs on every worker after each step (tests use it to
    inject faults); it must be importable by the workers (a module-level function).
    """
    _check_capacity(train_cfg)
    from train.mix import training_dir

    rows_dir = training_dir(data_dir)
    data = ray.data.read_parquet(str(rows_dir))
    small = sum(f.stat().st_size for f in rows_dir.glob("*.parquet")) < MATERIALIZE_BELOW_BYTES
    if small:
        # Small mixes: read once into the object store. Starting a streaming read per worker group
        # costs ~20 s on a small machine, more than a demo's whole training; large mixes stream.
        data = data.materialize()
    os.environ.setdefault("DS_ACCELERATOR", "cuda" if train_cfg.use_gpu else "cpu")
    storage = Path(storage_dir).resolve()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "train": train_cfg,
            "model_path": str(model_path),
            "seed": seed,
            "tracking_uri": tracking_uri,
            "mlflow_run_id": mlflow_run_id,
            "resume_from": train_cfg.resume_from,
            "step_hook": step_hook,
            "progress_label": progress_label,
            "data_in_memory": small,
        },
        scaling_config=ScalingConfig(
            num_workers=train_cfg.num_workers,
            use_gpu=train_cfg.use_gpu,
            resources_per_worker={"CPU": train_cfg.cpus_per_worker},
        ),
        torch_config=TorchConfig(backend="nccl" if train_cfg.use_gpu else "gloo"),
        datasets={"train": data},
        run_config=RunConfig(
            name=name,
            storage_path=str(storage),
            failure_config=FailureConfig(max_failures=train_cfg.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            worker_runtime_env={"env_vars": {"DS_ACCELERATOR": os.environ["DS_ACCELERATOR"]}},
        ),
    )
    result = _off_the_main_thread(trainer.fit)
    if result.error:
        log.error("training failed:\n%s", result.error)
        first = str(result.error).strip().splitlines()[0] if str(result.error).strip() else type(result.error).__name__
        raise TrainError(
            f"training failed: {first} (the workers' traceback is logged above); fix the cause and rerun: "
            "training continues from the last checkpoint"
        ) from result.error
    return result


def _off_the_main_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` on a helper thread, the main thread waiting (interruptibly) for it.

    On the main thread, ``TorchTrainer.fit`` installs its own SIGINT handler, which aborts the run and then
    exits the whole process with status 0, skipping every cleanup of the caller. Off the main thread it
    installs none: Ctrl-C (and SIGTERM, which the CLI turns into the same) raises KeyboardInterrupt here,
    the caller's runs and files are closed properly, and a rerun continues from the last checkpoint.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, which raises it
            box["error"] = e

    thread = threading.Thread(target=target, name="ray-train-fit", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _check_capacity(train_cfg: TrainConfig) -> None:
    """Fail fast instead of hanging: workers and Ray Data's read tasks both need CPUs (and GPUs with use_gpu)."""
    if missing := capacity_problems(train_cfg, ray.cluster_resources(), "the Ray cluster"):
        raise TrainError("; ".join(missing))


def capacity_problems(train_cfg: TrainConfig, resources: dict[str, float], where: str) -> list[str]:
    """What training reserves that ``resources`` (a cluster's CPU and GPU totals) cannot give."""
    problems = []
    need = train_cfg.num_workers * train_cfg.cpus_per_worker + 1  # + one CPU for Ray Data's read tasks
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if cpus < need:
        problems.append(
            f"train: {train_cfg.num_workers} workers x {train_cfg.cpus_per_worker:g} CPUs plus one for Ray Data need "
            f"{need:g} CPUs, and {where} has {cpus:g}: lower train.num_workers or train.cpus_per_worker, or add "
            "CPUs (ray.num_cpus for a local instance, `ray start --num-cpus N` on a cluster)"
        )
    if train_cfg.use_gpu and gpus < train_cfg.num_workers:
        problems.append(
            f"train: train.use_gpu puts each of the {train_cfg.num_workers} workers on a GPU, and {where} has "
            f"{gpus:g} GPUs: lower train.num_workers, or add GPU nodes"
        )
    return problems


def export_model(result: ray.train.Result, dest: str | Path) -> Path:
    """Copy the consolidated HF export out of the final checkpoint, atomically."""
    dest = Path(dest)
    with result.checkpoint.as_directory() as d:
        src = Path(d) / HF_EXPORT_DIR
        if not (src / "config.json").exists():
            raise TrainError(f"{result.checkpoint.path}: the final checkpoint holds no {HF_EXPORT_DIR}/ export")
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return dest
