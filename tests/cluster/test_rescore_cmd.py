"""``agenttune rescore CONFIG``: the run dir's trajectories re-graded beside the originals, then filtered.

The trajectories are played in this process as a rollout actor plays them (no Ray: rescore and filter need none);
the commands run in this process too, as `agenttune rescore` would, so the test can change the env's grader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

import envs
from cluster.cli import main
from envs.config import EnvSelection
from tests.rollouts.graded_env import ENV_ID, PAYLOADS, SPEC, roll_out, use_grader

pytestmark = pytest.mark.integration  # MLflow


@pytest.fixture
def run(tmp_path, tiny_checkpoint, monkeypatch):
    """A config whose rollout plays the graded test env, and its run dir with grader 1's trajectories."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the run dir's store
    run_dir = tmp_path / "run"
    config = {
        "run": {"name": "rescore", "dir": str(run_dir)},
        "mlflow": {"experiment": "rescore-test"},
        "model": {"name_or_path": str(tiny_checkpoint)},  # the filter counts tokens with its tokenizer
        "sandbox": "none",
        "rollout": {
            "envs": [{"id": ENV_ID, "num_tasks": len(PAYLOADS)}],
            "env_modules": ["tests.rollouts.graded_env_plugin"],
            "concurrency": 4,
        },
        "eval": {"envs": [{"id": "agenttune/DB-v0", "split": "test", "num_tasks": 2}]},
    }
    path = tmp_path / "rescore.yaml"
    path.write_text(yaml.safe_dump(config))
    envs.register_env(SPEC)  # here, as the config's env_modules do on their first import
    try:
        roll_out([EnvSelection(id=ENV_ID, num_tasks=len(PAYLOADS))], run_dir / "rollout" / "trajectories.jsonl")
        yield str(path), run_dir
    finally:
        envs.unregister_env(ENV_ID)  # tests that list envs must not see it


def test_rescore_then_filter_the_rescored_file(run, capsys):
    config, run_dir = run
    trajectories = run_dir / "rollout" / "trajectories.jsonl"
    before = trajectories.read_bytes()
    with use_grader(2):
        assert main(["rescore", config, "--no-progress"]) == 0, capsys.readouterr().err[-3000:]
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["up"], report["down"], report["unchanged"], report["diverged"], report["carried"]) == (
        2,
        1,
        4,
        2,
        1,
    )
    assert "3 of 10 rewards changed" in err and "next: agenttune filter" in err  # the printed table's summary
    assert trajectories.read_bytes() == before  # the originals, untouched
    rescored = run_dir / "rollout" / "trajectories.rescored.jsonl"
    assert report["output"] == str(rescored) and len(rescored.read_text().splitlines()) == 10
    assert json.loads((run_dir / "reports" / "rescore.json").read_text())["changed"] == 3

    client = MlflowClient(f"sqlite:///{run_dir}/mlflow.db")
    [mlflow_run] = client.search_runs([client.get_experiment_by_name("rescore-test").experiment_id])
    assert mlflow_run.info.run_name == "rescore:rescore"
    metrics = mlflow_run.data.metrics
    assert metrics["rescore/changed"] == 3 and metrics["rescore/diverged/ended_early"] == 1
    assert metrics[f"rescore/{ENV_ID.replace('/', '_')}/up"] == 2

    assert main(["filter", config, "--trajectories", str(rescored), "--no-progress"]) == 0
    kept = json.loads((run_dir / "filter" / "kept.json").read_text())
    assert sorted(r["id"] for r in kept) == [f"graded-train-{i:04d}-s0" for i in (0, 1, 3)]  # grader 2's successes
    assert main(["filter", config, "--no-progress"]) == 0  # the default is still the rollout's file
    kept = json.loads((run_dir / "filter" / "kept.json").read_text())
    assert sorted(r["id"] for r in kept) == [f"graded-train-{i:04d}-s0" for i in (0, 1, 2, 5, 6)]  # grader 1's


def test_a_missing_trajectories_file_is_one_clear_error(run, capsys, tmp_path):
    config, _ = run
    missing = tmp_path / "nope.jsonl"
    assert main(["rescore", config, "--trajectories", str(missing), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--trajectories {missing}: no such file" in err and "Traceback" not in err


def test_a_run_without_a_rollout_says_what_to_run(tmp_path, capsys):
    config = Path(__file__).resolve().parents[2] / "cluster" / "configs" / "demo.yaml"
    assert main(["rescore", str(config), f"run.dir={tmp_path / 'empty'}", "--no-progress"]) == 2
    assert "run `agenttune rollout" in capsys.readouterr().err
