"""The eval stage over a task file with bad records: every model plays the good tasks; the bad ones are counted in
each model's metrics, listed in eval/bad_tasks.json and logged once. And the role each env is scored under."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import eval.stage
from envs.config import EnvSelection
from eval.config import EvalConfig
from eval.stage import BAD_TASKS_FILE, run_eval_stage
from rollouts.config import PolicyConfig
from tests.conftest import mlflow_store
from tests.envs.bad_task_files import DB_RECORDS, write_bad_dbbench

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path):
    """A throwaway SQLite MLflow store, the tracking URI put back afterwards."""
    with mlflow_store(f"sqlite:///{tmp_path / 'mlflow.db'}", "eval-bad-tasks"):
        yield MlflowClient()


def test_eval_counts_and_lists_the_bad_tasks(ray_2_cpus, store, tmp_path, monkeypatch, caplog) -> None:
    real_run_rollouts = eval.stage.run_rollouts

    def oracle_rollouts(jobs, *, policy, **kwargs):  # no checkpoint needed: the oracle plays the model's part
        return real_run_rollouts(jobs, policy=PolicyConfig(kind="oracle"), **kwargs)

    monkeypatch.setattr(eval.stage, "run_rollouts", oracle_rollouts)
    path = write_bad_dbbench(tmp_path)
    cfg = EvalConfig(envs=[EnvSelection(id="agenttune/DB-v0", tasks_file=str(path), num_tasks=DB_RECORDS)])
    with caplog.at_level(logging.WARNING):
        out = run_eval_stage(cfg, models={"a": "unused", "b": "unused"}, out_dir=tmp_path / "eval", sandbox="none")
    for label in ("a", "b"):
        scores = out.report[label]["metrics"]
        assert scores["eval/bad_tasks"] == 2.0
        assert (scores["eval/agenttune_DB-v0/episodes"], scores["eval/agenttune_DB-v0/success_rate"]) == (60.0, 1.0)
    listed = json.loads((tmp_path / "eval" / BAD_TASKS_FILE).read_text())
    assert [(b["env"], b["line"]) for b in listed] == [("agenttune/DB-v0", 11), ("agenttune/DB-v0", 42)]
    assert out.artifacts == [(tmp_path / "eval" / BAD_TASKS_FILE, "eval")]
    skipped = [r for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(skipped) == 2  # once per bad task, not once per model
    runs = store.search_runs([mlflow.get_experiment_by_name("eval-bad-tasks").experiment_id])
    assert sorted(r.data.metrics["eval/bad_tasks"] for r in runs) == [2.0, 2.0]


def test_an_env_the_run_trained_on_is_scored_held_in(ray_2_cpus, store, tmp_path, monkeypatch) -> None:
    """MultiHopQA is held out in the paper's split; a run whose rollout played it scores it as held-in."""
    real_run_rollouts = eval.stage.run_rollouts
    monkeypatch.setattr(
        eval.stage,
        "run_rollouts",
        lambda jobs, *, policy, **kw: real_run_rollouts(jobs, policy=PolicyConfig(kind="oracle"), **kw),
    )
    cfg = EvalConfig(
        envs=[
            EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=2),
            EnvSelection(id="agenttune/MultiHopQA-v0", split="test", num_tasks=2),
        ]
    )
    by_spec = run_eval_stage(cfg, models={"m": "unused"}, out_dir=tmp_path / "a", sandbox="none")
    assert {role: set(t) for role, t in by_spec.report["m"]["tasks"].items()} == {
        "held_in": {"agenttune/DB-v0"},
        "held_out": {"agenttune/MultiHopQA-v0"},
    }
    trained = run_eval_stage(
        cfg, models={"m": "unused"}, out_dir=tmp_path / "b", sandbox="none", held_in=["agenttune/MultiHopQA-v0"]
    )
    assert {role: set(t) for role, t in trained.report["m"]["tasks"].items()} == {
        "held_in": {"agenttune/DB-v0", "agenttune/MultiHopQA-v0"}
    }
