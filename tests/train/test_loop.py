"""Ray Train + DeepSpeed ZeRO-3 on CPU: loss finite, parameters change, a killed worker is restarted from
the last checkpoint, ``resume_from`` continues a finished run, and the export loads with from_pretrained."""

import math

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from cluster.config import TrainConfig
from train.corpus import generate_general_records
from train.loop import deepspeed_config, export_model, fit
from train.mix import build_mix

pytestmark = [pytest.mark.integration, pytest.mark.slow]

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
).model_dump()


@pytest.fixture(scope="module")
def ray_4_cpus():
    """Local Ray with 4 logical CPUs: two training workers plus Ray Data's read tasks."""
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_deepspeed_config_follows_the_train_config():
    ds = deepspeed_config(TRAIN | {"global_batch_size": 8, "precision": "bf16", "offload_optimizer": True})
    assert ds["train_batch_size"] == 8 and ds["gradient_accumulation_steps"] == 4
    assert ds["zero_optimization"]["stage"] == 3 and ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert ds["bf16"]["enabled"] and not ds["fp16"]["enabled"] and ds["gradient_clipping"] == 1.0


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
        fail_at_step=3,
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
        TRAIN | {"steps": 6, "resume_from": result.checkpoint.path},
        data_dir=tmp_path / "mix",
        model_path=str(tiny_checkpoint),
        storage_dir=tmp_path / "ray",
        name="t2",
    )
    assert more.metrics["step"] == 6
