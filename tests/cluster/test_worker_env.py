"""HF_TOKEN, HF_HOME and MLFLOW_TRACKING_URI set where the driver runs reach the workers of a cluster whose
nodes were started without them (through the job's runtime env), and their values never reach MLflow params."""

from __future__ import annotations

import os

import mlflow
import pytest
import ray
from ray.cluster_utils import Cluster

from cluster.config import load_config
from cluster.pipeline import FORWARDED_ENV, forwarded_env, init_ray, log_config
from tests.conftest import REPO, mlflow_store

pytestmark = pytest.mark.integration

SET_LATER = {
    "HF_TOKEN": "hf_worker_env_test_token_123",
    "HF_HOME": "/shared/hf-cache",
    "MLFLOW_TRACKING_URI": "http://user:p4ss@mlflow.example:5000",
}


@pytest.fixture
def node_without_the_variables(monkeypatch):
    """A Ray node (its raylet, hence its workers) started before the driver's environment has the variables."""
    for name in FORWARDED_ENV:
        monkeypatch.delenv(name, raising=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@ray.remote(num_cpus=0)
def seen_by_a_task() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in SET_LATER}


@ray.remote(num_cpus=0)
class Actor:
    def seen(self) -> dict[str, str | None]:
        return {name: os.environ.get(name) for name in SET_LATER}


def test_the_driver_passes_its_hugging_face_and_mlflow_variables_to_workers(node_without_the_variables, monkeypatch):
    address = node_without_the_variables.address
    ray.init(address=address, log_to_driver=False, configure_logging=False)  # a driver that forwards nothing
    assert ray.get(seen_by_a_task.remote()) == dict.fromkeys(SET_LATER)  # so the node's workers lack them
    ray.shutdown()
    for name, value in SET_LATER.items():
        monkeypatch.setenv(name, value)
    assert forwarded_env() == SET_LATER
    init_ray(load_config(REPO / "cluster" / "configs" / "demo.yaml", [f"ray.address={address}"]))
    assert ray.get(seen_by_a_task.remote()) == SET_LATER
    assert ray.get(Actor.remote().seen.remote()) == SET_LATER


def test_a_job_runtime_env_that_sets_a_variable_is_not_set_again(monkeypatch):
    for name in FORWARDED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_driver_123456")
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"runtime_env": {"env_vars": {"HF_TOKEN": "x"}}}')
    assert "HF_TOKEN" not in forwarded_env()  # Ray refuses a key set twice; the job's value stands


def test_the_values_never_reach_mlflow_params(tmp_path, monkeypatch):
    for name, value in SET_LATER.items():
        monkeypatch.setenv(name, value)
    cfg = load_config(REPO / "cluster" / "configs" / "demo.yaml", [f"run.dir={tmp_path}"])
    with mlflow_store(f"sqlite:///{tmp_path}/m.db", "env"), mlflow.start_run() as run:
        log_config(cfg)
    params = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path}/m.db").get_run(run.info.run_id).data.params
    assert params["env.HF_TOKEN.status"] == "set" and params["env.MLFLOW_TRACKING_URI.status"] == "set"
    text = repr(params)
    assert SET_LATER["HF_TOKEN"] not in text and "p4ss" not in text
