"""Every stage command works on its own, one after another in one run dir, on a config whose envs run in a
sandbox and on one whose envs do not (a stage alone used to crash on the second: its MLflow params clashed
with the run's). Commands run in this process, sharing one Ray instance, as `agenttune <stage>` would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO = str(Path(__file__).resolve().parents[2] / "cluster" / "configs" / "demo.yaml")
COMMON = [
    "train.steps=2",
    "train.seq_len=1024",
    "train.global_batch_size=4",
    "train.micro_batch_size=1",
    "train.checkpoint_every=0",
    "mix.general=[{path: generated, num_records: 40}]",
    "eval.policy.max_tokens=8",
    "eval.compare_base=false",
    "ray.num_cpus=4",
    "ray.include_dashboard=false",  # its processes cost seconds of CPU a command here
]
STAGES = ("rollout", "filter", "mix", "train", "eval")
CONFIGS = {
    "sandboxed": [
        "rollout.envs=[{id: agenttune/DB-v0, num_tasks: 4}, {id: agenttune/OS-v0, num_tasks: 2}]",
        "eval.envs=[{id: agenttune/OS-v0, split: test, num_tasks: 1, max_turns: 1}]",
    ],
    "unsandboxed": [
        "rollout.envs=[{id: agenttune/DB-v0, num_tasks: 4}]",
        "eval.envs=[{id: agenttune/DB-v0, split: test, num_tasks: 1, max_turns: 1}]",
    ],
}


@pytest.fixture(scope="module", autouse=True)
def shared_ray():
    yield
    import ray

    ray.shutdown()


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_each_stage_alone(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # each command's store is its run dir's
    run_dir = tmp_path / "run"
    args = [f"run.dir={run_dir}", *COMMON, *CONFIGS[kind]]
    # Without a sandbox, the clash showed on the second command; the sandboxed config runs all five.
    commands = STAGES if kind == "sandboxed" else STAGES[:2]
    for stage in commands:
        assert main([stage, DEMO, *args, "--no-progress"]) == 0, capsys.readouterr().err[-3000:]
        assert json.loads((run_dir / "reports" / f"{stage}.json").read_text())  # each wrote its report
    client = MlflowClient(f"sqlite:///{run_dir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("agenttune-demo").experiment_id])
    statuses = {r.info.run_name: r.info.status for r in runs}
    assert statuses == {f"demo:{s}": "FINISHED" for s in commands} | (
        {"eval-tuned": "FINISHED"} if "eval" in commands else {}
    )
    rollout = next(r for r in runs if r.info.run_name == "demo:rollout")
    assert rollout.data.params["sandbox.kind"] == "bwrap"  # the configured choice ...
    assert rollout.data.params["sandbox.applied"] == ("bwrap" if kind == "sandboxed" else "unused")  # ... and use
    if kind == "unsandboxed":
        return
    assert (run_dir / "model" / "model.safetensors").exists()
    assert len((run_dir / "eval" / "tuned" / "trajectories.jsonl").read_text().splitlines()) == 1
