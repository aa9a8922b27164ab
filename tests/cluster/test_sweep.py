"""`agenttune sweep`: the grid and its labels, one shared rollout, a failed arm that does not stop the others,
resume (finished arms are not run again), and the comparison and charts in the parent MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster import stages
from cluster.config import load_config
from cluster.sweep import grid, label_of, make_arms, run_sweep, sweep_problems

DEMO = Path(__file__).resolve().parents[2] / "cluster" / "configs" / "demo.yaml"
TINY = [
    "rollout.envs=[{id: agenttune/DB-v0, num_tasks: 6}]",
    "eval.envs=[{id: agenttune/DB-v0, split: test, num_tasks: 2, max_turns: 2}]",
    "eval.policy.max_tokens=8",
    "train.steps=2",
    "train.seq_len=1024",
    "train.global_batch_size=4",
    "train.micro_batch_size=1",
    "train.checkpoint_every=0",
    "mix.general=[{path: generated, num_records: 60}]",
    "ray.num_cpus=4",
    "ray.include_dashboard=false",  # its processes cost seconds of CPU a command here
]


def test_grid_labels_and_arm_folders(tmp_path):
    assert grid({"mix.eta": [0.0, 0.2], "train.lr": [0.001, 0.01]}) == [
        {"mix.eta": 0.0, "train.lr": 0.001},
        {"mix.eta": 0.0, "train.lr": 0.01},
        {"mix.eta": 0.2, "train.lr": 0.001},
        {"mix.eta": 0.2, "train.lr": 0.01},
    ]
    assert label_of({"mix.eta": 0.2, "train.lr": 0.001}) == "mix.eta=0.2,train.lr=0.001"
    assert label_of({"mix.general": [{"path": "generated"}]}) == "mix.general=[{path: generated}]"
    cfg = load_config(DEMO, [f"run.dir={tmp_path}", "sweep={mix.eta: [0.0, 1.0]}"])
    arms = make_arms(cfg)
    assert [a.label for a in arms] == ["mix.eta=0.0", "mix.eta=1.0"]
    assert [a.cfg.mix.eta for a in arms] == [0.0, 1.0]
    assert arms[0].cfg.run_dir == tmp_path / "arms" / "mix.eta=0.0"
    assert arms[0].cfg.tracking_uri() == cfg.tracking_uri()  # every arm logs to the sweep's store
    assert not arms[0].cfg.eval.compare_base  # the base model is evaluated once, for all arms


def test_sweep_problems_are_listed_together(tmp_path):
    cfg = load_config(
        DEMO, [f"run.dir={tmp_path}", "sweep={rollout.max_actors: [1], mix.eta: [], train.global_batch_size: [5]}"]
    )
    problems = sweep_problems(cfg)
    assert problems[0].startswith("sweep.rollout.max_actors: arms share the rollout")
    assert problems[1] == "sweep.mix.eta: give at least one value"
    cfg = load_config(DEMO, [f"run.dir={tmp_path}", "sweep={train.global_batch_size: [8, 5], mix.eta: [2]}"])
    assert [p.split(" is not")[0] for p in sweep_problems(cfg)] == [
        "sweep: the arm train.global_batch_size=8,mix.eta=2",
        "sweep: the arm train.global_batch_size=5,mix.eta=2",
    ]


@pytest.fixture(scope="module")
def shared_ray():
    yield
    import ray

    ray.shutdown()


@pytest.mark.integration
@pytest.mark.slow
def test_a_sweep_shares_its_rollout_survives_a_failed_arm_and_resumes(shared_ray, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(DEMO, [f"run.dir={tmp_path / 'run'}", *TINY, "sweep={mix.eta: [0.0, 1.0]}"])
    real_train = stages.STAGES["train"]

    def train_fails_for_eta_0(ctx):
        if ctx.cfg.mix.eta == 0.0:
            raise RuntimeError("injected training failure")
        return real_train(ctx)

    monkeypatch.setitem(stages.STAGES, "train", train_fails_for_eta_0)
    first = run_sweep(cfg, progress=False)
    assert first["failed"] == ["mix.eta=0.0"] and first["arms"]["mix.eta=1.0"]["status"] == "finished"
    assert "injected training failure" in first["arms"]["mix.eta=0.0"]["error"]
    assert set(first["comparison"]["summary"]["arms"]) == {"mix.eta=1.0"}

    monkeypatch.setitem(stages.STAGES, "train", real_train)
    finished = (tmp_path / "run" / "arms" / "mix.eta=1.0" / "reports" / "arm.json").read_text()
    second = run_sweep(cfg, progress=False)
    assert second["failed"] == []
    assert (tmp_path / "run" / "arms" / "mix.eta=1.0" / "reports" / "arm.json").read_text() == finished  # not rerun
    summary = second["comparison"]["summary"]
    assert set(summary) == {"arms", "base"} and set(summary["arms"]) == {"mix.eta=0.0", "mix.eta=1.0"}
    for row in [*summary["arms"].values(), summary["base"]]:
        assert set(row) == {"held_in", "held_out", "general", "general_loss"} and row["general_loss"] > 0

    client = MlflowClient(f"sqlite:///{tmp_path / 'run'}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("agenttune-demo").experiment_id])
    by_name: dict[str, list] = {}
    for r in runs:
        by_name.setdefault(r.info.run_name, []).append(r)
    sweeps = sorted(by_name["demo:sweep"], key=lambda r: r.info.start_time)
    assert len(sweeps) == 2 and len(by_name["rollout"]) == 2  # one shared rollout a sweep, none per arm
    assert {r.data.tags["mlflow.parentRunId"] for r in by_name["rollout"]} == {r.info.run_id for r in sweeps}
    assert len(by_name["arm:mix.eta=1.0"]) == 1 and len(by_name["arm:mix.eta=0.0"]) == 2  # resumed: not again
    assert by_name["arm:mix.eta=1.0"][0].data.tags["agenttune.sweep.mix.eta"] == "1.0"
    assert not (tmp_path / "run" / "arms" / "mix.eta=1.0" / "rollout").exists()
    artifacts = {a.path for a in client.list_artifacts(sweeps[1].info.run_id)}
    assert {"comparison.csv", "sweep.json", "charts"} <= artifacts
    charts = {Path(a.path).name for a in client.list_artifacts(sweeps[1].info.run_id, "charts")}
    assert {"role_scores.png", "agent_vs_general.png", "train_loss.png", "overall.png"} <= charts
    logged = json.loads(
        Path(client.download_artifacts(sweeps[1].info.run_id, "sweep.json", str(tmp_path))).read_text()
    )
    assert logged == summary
