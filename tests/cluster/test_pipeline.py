"""The whole pipeline as users run it: `agenttune pipeline` in a subprocess, and the same job through
`ray start --head` + `ray job submit`. Both check the outputs and the MLflow run tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMALL = [
    "rollout.envs=[{id: agenttune/DB-v0, num_tasks: 12}]",
    "train.steps=4",
    "train.seq_len=1024",
    "train.checkpoint_every=0",
    "eval.envs=[{id: agenttune/DB-v0, split: test, num_tasks: 3, max_turns: 2},"
    " {id: agenttune/MultiHopQA-v0, split: test, num_tasks: 2, max_turns: 2}]",
    "eval.policy.max_tokens=16",
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


def _check_run_tree(uri: str, run_dir: Path, *, engine: str | None = None, evaluated: bool = True) -> None:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("agenttune-demo")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    parent = runs["demo:pipeline"]
    stages = ["rollout", "filter", "mix", "train"] + (["eval"] if evaluated else [])
    assert set(stages) <= set(runs) and ("eval-tuned" in runs) == evaluated and "eval-base" not in runs
    for name in stages:
        assert runs[name].data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.params["train.zero_stage"] == "3" and parent.data.params["mix.eta"] == "0.2"
    assert parent.data.params["train.steps"] == "4"
    train_id = runs["train"].info.run_id
    assert runs["train"].data.params["deepspeed.zero_optimization.stage"] == "3"  # logged by rank 0
    assert runs["train"].data.params["world_size"] == "2"
    for metric in ("train/loss", "train/lr", "train/tokens_per_s"):
        assert [m.step for m in client.get_metric_history(train_id, metric)] == [1, 2, 3, 4], metric
    assert runs["rollout"].data.metrics["rollout/success_rate"] == 1.0
    assert runs["rollout"].data.metrics["rollout/agenttune_DB-v0/status_completed"] == 12
    sample = client.download_artifacts(runs["rollout"].info.run_id, "rollout/rollout_sample.jsonl", str(run_dir))
    assert [json.loads(line)["env"] for line in Path(sample).read_text().splitlines()] == ["agenttune/DB-v0"] * 3
    assert runs["filter"].data.metrics["rollout/kept"] == 12
    for label in ("tuned",) if evaluated else ():
        run = runs[f"eval-{label}"]
        m, params = run.data.metrics, run.data.params
        assert m["eval/agenttune_DB-v0/episodes"] == 3 and "eval/held_in/score" in m
        assert m["eval/agenttune_MultiHopQA-v0/episodes"] == 2 and "eval/held_out/score" in m
        # general ability: the held-out slice of the general corpus, never trained on
        assert m["eval/general/heldout_loss"] > 0 and 0 <= m["eval/general/score"] <= 1
        assert params["eval.policy.kind"] == ("served" if engine else "hf")
        assert params.get("eval.policy.engine") == engine and len(params["eval.checkpoint_digest"]) >= 16
        assert run.data.tags["agenttune.checkpoint"] == params["eval.checkpoint"]
        scores = json.loads(Path(client.download_artifacts(run.info.run_id, "scores.json", str(run_dir))).read_text())
        assert scores["model"] == label and set(scores["tasks"]) == {"held_in", "held_out", "general"}
    assert any(a.path == "model" for a in client.list_artifacts(train_id))


def _check_outputs(run_dir: Path) -> None:
    recs = [json.loads(line) for line in (run_dir / "rollout" / "trajectories.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and {r["status"] for r in recs} == {"completed"}
    assert set(recs[0]) >= {
        "id",
        "conversations",
        "env",
        "task_id",
        "split",
        "seed",
        "reward",
        "success",
        "status",
        "turns",
        "policy",
        "schema_version",
    }
    mix = json.loads((run_dir / "reports" / "mix.json").read_text())
    assert mix["decontaminated"]["rolled.task_id"] == 0 and "general.ngram" in mix["decontaminated"]
    kept = json.loads((run_dir / "filter" / "kept.json").read_text())
    assert len(kept) == 12 and kept[0]["conversations"][1]["from"] == "gpt"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(run_dir / "model")
    assert AutoTokenizer.from_pretrained(run_dir / "model").chat_template
    assert (run_dir / "model" / "model.safetensors").exists()


def test_pipeline_command_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    uri = f"sqlite:///{tmp_path}/elsewhere.db"  # MLFLOW_TRACKING_URI wins over the run dir's store
    cmd = [
        str(BIN / "agenttune"),
        "pipeline",
        "cluster/configs/demo.yaml",
        f"run.dir={run_dir}",
        *SMALL,
        "rollout.output_format=parquet",
        # the served path: `transformers serve` replicas of the tuned model (the base: tests/cluster/test_sweep.py)
        "eval.policy={kind: served, engine: transformers, max_tokens: 16, cpus_per_replica: 0.5}",
        "eval.compare_base=false",
        "eval.concurrency=4",
        "ray.include_dashboard=false",
        "--no-progress",
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=_env(MLFLOW_TRACKING_URI=uri), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "agenttune pipeline: demo" in proc.stdout
    assert not (run_dir / "mlflow.db").exists()
    assert (tmp_path / "mlartifacts").is_dir() and not (REPO / "mlruns").exists()  # artifacts beside the store
    import pyarrow.parquet as pq

    assert pq.read_table(run_dir / "rollout" / "trajectories.parquet").num_rows == 12
    _check_run_tree(uri, run_dir, engine="transformers")
    _check_outputs(run_dir)


@pytest.fixture
def ray_head(tmp_path):
    """A real Ray head started with `ray start --head` (token auth on, as Ray's default), stopped after."""
    ray = str(BIN / "ray")
    env = _env(RAY_AUTH_MODE="token")
    subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
    start = subprocess.run(
        [
            ray,
            "start",
            "--head",
            "--num-cpus=4",
            "--disable-usage-stats",
            "--dashboard-host=127.0.0.1",
            "--dashboard-port=8265",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert start.returncode == 0, start.stderr[-3000:]
    try:
        yield env | {"RAY_ADDRESS": "http://127.0.0.1:8265"}
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_ray_job_submit_runs_the_pipeline(ray_head, tmp_path):
    run_dir = tmp_path / "jobrun"
    proc = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--working-dir",
            ".",
            "--",
            "agenttune",
            "pipeline",
            "cluster/configs/demo.yaml",
            f"run.dir={run_dir}",
            *SMALL,
            # eval runs as in the test above; here what a job changes: the driver joins through RAY_ADDRESS in
            # a copy of the working dir, and Ray Train's workers log to the run dir's store from the job
            "stages=[rollout, filter, mix, train]",
            "--no-progress",
        ],
        cwd=REPO,
        env=ray_head,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "succeeded" in out and "agenttune pipeline: demo" in out
    _check_run_tree(f"sqlite:///{run_dir}/mlflow.db", run_dir, evaluated=False)
    assert list((run_dir / "mlartifacts").rglob("model.safetensors"))
    _check_outputs(run_dir)
