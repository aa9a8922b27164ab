"""The resolved config as MLflow params: every key within MLflow's limits, no secret value ever logged."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from cluster.config import load_config, to_flat_params
from tests.conftest import REPO, mlflow_store
from train import mlflow_utils as mlf

SECRET = "s3cr3t-value-of-my-key"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A SQLite MLflow store with an experiment set; the previous tracking URI comes back afterwards."""
    with mlflow_store(f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db", "params-test") as uri:
        yield uri


def test_flat_config_params_fit_mlflow_limits_and_hold_no_secret(store, monkeypatch):
    monkeypatch.setenv("MY_POLICY_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    overrides = [
        "rollout.policy.kind=openai",
        "rollout.policy.model=m",
        "rollout.policy.api_key_env=MY_POLICY_KEY",
        "rollout.policy.base_url=https://alice:hunter22@llm.example.com/v1?api_key=abcdef123&x=1",
        "mlflow.tracking_uri=https://bob:pa55word@mlflow.example.com",
        # a secret pasted where it does not belong, a value longer than MLflow takes, and a key it would refuse
        f"rollout.envs.0.env_kwargs={{note: 'key is {SECRET}', long: '{'x' * 7000}', 'bad key!': 1}}",
    ]
    cfg = load_config(REPO / "cluster" / "configs" / "demo.yaml", overrides)
    params = to_flat_params(cfg) | mlf.safe_environ_summary()
    assert len(params) > 100  # more than one batch
    with mlflow.start_run() as run:
        mlf.log_params(params)
    logged = MlflowClient(store).get_run(run.info.run_id).data.params
    assert len(logged) == len(params)
    assert all(len(k) <= 250 and len(v) <= 6000 for k, v in logged.items())
    env_kwargs = "rollout.envs.0.env_kwargs"
    assert logged[f"{env_kwargs}.long"] == "x" * 6000
    assert logged[f"{env_kwargs}.bad key_"] == "1"
    assert logged[f"{env_kwargs}.note"] == "key is ***"
    assert logged["rollout.policy.api_key_env"] == "MY_POLICY_KEY"  # the variable's name is not a secret
    assert logged["rollout.policy.base_url"] == "https://alice:***@llm.example.com/v1?api_key=***&x=1"
    assert logged["mlflow.tracking_uri"] == "https://bob:***@mlflow.example.com"
    assert logged["env.HF_TOKEN.status"] == "set" and logged["env.OPENAI_API_KEY.status"] == "unset"
    text = json.dumps(logged)
    for secret in (SECRET, "hunter22", "pa55word", "abcdef123", "hf_abcdefghijklmnop"):
        assert secret not in text
