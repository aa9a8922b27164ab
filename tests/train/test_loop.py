"""Ray Train + DeepSpeed ZeRO-3 on CPU: loss finite, parameters change, a killed worker is restarted from
the last checkpoint, ``resume_from`` continues a finished run, and the export loads with from_pretrained.
Also the loop's plain parts: the DeepSpeed config, rank 0's background MLflow writes, the launcher's shards."""

import math
import os
import threading
import time

import pyarrow as pa
import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from train.batches import collate, collate_arrow
from train.config import TrainConfig
from train.corpus import generate_general_records
from train.launcher import micro_batches, shard
from train.loop import BackgroundLog, deepspeed_config, export_model, fit
from train.mix import build_mix

TRAIN = TrainConfig(
    steps=4,
    global_batch_size=4,
    micro_batch_size=1,
    seq_len=256,
    lr=5e-3,
    warmup_ratio=0.25,
    num_workers=2,
    checkpoint_every=2,
    max_failures=1,
)


def die_after_step_3_on_the_last_rank(*, step: int, rank: int, world: int, resumed: bool) -> None:
    """Fault injection (a ``fit`` step hook): the last rank exits with no goodbye, as on a lost node.

    It waits a few seconds first: Ray Train's controller collects reports (and so learns of the
    last checkpoint) on its health-check poll, every 2 s by default; a real failure comes long
    after the last checkpoint was registered.
    """
    if step == 3 and rank == world - 1 and not resumed:
        time.sleep(5)
        os._exit(1)


@pytest.fixture(scope="module")
def ray_4_cpus():
    """Local Ray with 4 logical CPUs: two training workers plus Ray Data's read tasks."""
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_deepspeed_config_follows_the_train_config():
    ds = deepspeed_config(
        TRAIN.model_copy(update={"global_batch_size": 8, "precision": "bf16", "offload_optimizer": True})
    )
    assert ds["train_batch_size"] == 8 and ds["gradient_accumulation_steps"] == 4
    assert ds["zero_optimization"]["stage"] == 3 and ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert ds["bf16"]["enabled"] and not ds["fp16"]["enabled"] and ds["gradient_clipping"] == 1.0


class FakeRunLogger:
    """RunLogger's interface; each write waits for ``gate`` so the test sees it run off the caller's thread."""

    enabled = True

    def __init__(self, fail_at: int | None = None):
        self.steps: list[int] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.fail_at = fail_at

    def log(self, metrics, step):
        self.gate.wait(5)
        self.threads.add(threading.current_thread().name)
        if step == self.fail_at:
            raise ConnectionError("tracking server unreachable")
        self.steps.append(step)


def test_background_log_writes_in_order_off_the_training_thread():
    logger = FakeRunLogger()
    with BackgroundLog(logger) as log:
        for step in range(1, 6):
            log.log({"train/loss": 1.0}, step=step)  # returns while the writes wait on the gate
        assert logger.steps == []
        logger.gate.set()
        log.flush()
        assert logger.steps == [1, 2, 3, 4, 5]
    assert threading.current_thread().name not in logger.threads


def test_background_log_reraises_a_failed_write():
    logger = FakeRunLogger(fail_at=2)
    logger.gate.set()
    with pytest.raises(ConnectionError), BackgroundLog(logger) as log:
        log.log({}, step=1)
        log.log({}, step=2)
        log.flush()
    assert logger.steps == [1]


def test_background_log_does_nothing_off_rank_0():
    logger = FakeRunLogger()
    logger.enabled = False
    with BackgroundLog(logger) as log:
        log.log({}, step=1)
    assert logger.steps == [] and not logger.threads


def test_launcher_shards_are_contiguous_and_equal_and_batches_cycle():
    rows = pa.Table.from_pylist([{"input_ids": [i + 1], "labels": [i + 1]} for i in range(7)])
    assert [r[0] for r in shard(rows, 0, 2).column("input_ids").to_pylist()] == [1, 2, 3]
    assert [r[0] for r in shard(rows, 1, 2).column("input_ids").to_pylist()] == [4, 5, 6]
    batches = micro_batches(shard(rows, 1, 2), 2, pad_id=0, width=None)
    firsts = [next(batches)["input_ids"][0, 0].item() for _ in range(3)]
    assert firsts == [4, 4, 4]  # [4, 5], then the short [6] is dropped and the pass starts again


def test_collate_arrow_reads_a_sliced_table_like_the_rows():
    packed = [
        {"input_ids": [7, 8, 9], "labels": [-100, 8, 9], "position_ids": [0, 1, 0], "source_ids": [0, 0, 1]},
        {"input_ids": [5, 6], "labels": [-100, 6], "position_ids": [0, 1], "source_ids": [1, 1]},
        {"input_ids": [4] * 9, "labels": [4] * 9, "position_ids": list(range(9)), "source_ids": [0] * 9},
    ]
    table = pa.table(
        {
            "input_ids": pa.array([r["input_ids"] for r in packed], pa.list_(pa.int32())),
            "labels": pa.array([r["labels"] for r in packed], pa.list_(pa.int32())),
            "position_ids": pa.array([r["position_ids"] for r in packed], pa.list_(pa.int32())),
            "source_ids": pa.array([r["source_ids"] for r in packed], pa.list_(pa.int8())),
        }
    )
    batch = collate_arrow(table.slice(0, 2), pad_id=3)  # a slice: its list values start at an offset
    assert batch["input_ids"].tolist() == [[7, 8, 9, 3, 3, 3, 3, 3], [5, 6, 3, 3, 3, 3, 3, 3]]
    assert batch["position_ids"].tolist() == [[0, 1, 0, 0, 1, 2, 3, 4], [0, 1, 0, 1, 2, 3, 4, 5]]
    assert batch["source_ids"][0].tolist() == [0, 0, 1, -1, -1, -1, -1, -1] and "attention_mask" not in batch
    later = collate_arrow(table.slice(1, 2), pad_id=3)
    expected = collate(packed[1:], pad_id=3, packed=True)
    assert later.keys() == expected.keys() and all(torch.equal(later[k], expected[k]) for k in later)
    assert later["input_ids"].shape == (2, 16)

    samples = [{"input_ids": [1, 2], "labels": [-100, 2], "source": "agent"}, {"input_ids": [1], "labels": [1]}]
    batch = collate(samples, pad_id=0, packed=False)
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]]
    assert batch["source_ids"][:, :2].tolist() == [[0, 0], [1, -1]] and batch["labels"][0, :3].tolist() == [
        -100,
        2,
        -100,
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_zero3_training_survives_a_killed_worker_and_resumes(ray_4_cpus, tmp_path, tiny_checkpoint):
    general = generate_general_records(64, seed=0)
    build_mix(
        general[:16],
        general[16:],
        eta=0.25,
        num_samples=32,
        tokenizer_path=str(tiny_checkpoint),
        seq_len=256,
        out_dir=tmp_path / "mix",
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("t")).info.run_id

    # Rank 1 dies right after step 3; Ray Train restarts the group from the step-2 checkpoint.
    result = fit(
        TRAIN,
        data_dir=tmp_path / "mix",
        model_path=str(tiny_checkpoint),
        storage_dir=tmp_path / "ray",
        tracking_uri=uri,
        mlflow_run_id=run_id,
        name="t1",
        step_hook=die_after_step_3_on_the_last_rank,
    )
    assert result.metrics["step"] == 4 and math.isfinite(result.metrics["train/loss"])
    history = client.get_metric_history(run_id, "train/loss")
    steps = [m.step for m in history]
    assert sorted(set(steps)) == [1, 2, 3, 4] and steps.count(3) == 2  # step 3 ran again after the restart
    assert all(math.isfinite(m.value) for m in history)
    lrs = [m.value for m in client.get_metric_history(run_id, "train/lr")]
    assert max(lrs) == pytest.approx(5e-3) and lrs[-1] < max(lrs)  # warm-up then cosine decay

    model_dir = export_model(result, tmp_path / "model")
    from transformers import AutoModelForCausalLM

    tuned = AutoModelForCausalLM.from_pretrained(model_dir)
    base = load_file(tiny_checkpoint / "model.safetensors")
    changed = [k for k, v in tuned.state_dict().items() if k in base and not torch.equal(v, base[k])]
    assert len(changed) >= len(base) // 2

    # resume_from a finished run continues its optimizer and step count.
    more = fit(
        TRAIN.model_copy(update={"steps": 6, "resume_from": result.checkpoint.path}),
        data_dir=tmp_path / "mix",
        model_path=str(tiny_checkpoint),
        storage_dir=tmp_path / "ray",
        name="t2",
    )
    assert more.metrics["step"] == 6
