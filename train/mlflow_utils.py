"""The one place that writes to MLflow.

The driver opens runs with ``stage_run`` (nested under the pipeline's parent run);
training workers get the run id and write through ``RunLogger`` from rank 0 only.
Params are the flattened resolved config, cut to MLflow's limits; nothing that
looks like a secret is ever logged.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

MAX_PARAM_VALUE = 6000  # MLflow's limit on one param value (older servers: 500)
PARAMS_PER_BATCH = 100
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|authorization)$", re.I)
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,})")


def redact(params: Mapping[str, Any]) -> dict[str, str]:
    """Drop values of secret-looking keys and mask secret-looking strings.

    ``api_key_env`` (the *name* of a variable) is kept: it says where a key comes from, not what it is.
    """
    out = {}
    for k, v in params.items():
        leaf = k.rsplit(".", 1)[-1]
        if _SECRET_KEY.search(leaf) and not leaf.endswith("_env"):
            out[k] = "***"
        else:
            out[k] = _SECRET_VALUE.sub("***", str(v))[:MAX_PARAM_VALUE]
    return out


def setup(tracking_uri: str, experiment: str) -> str:
    """Point MLflow at the store and experiment; return the experiment id.

    With a SQLite store, MLflow would put artifacts in ``./mlruns`` of whatever directory
    the job happens to run in; a new experiment's artifacts go beside the database instead.
    """
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None
        if tracking_uri.startswith("sqlite:///"):
            location = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
        try:
            mlflow.create_experiment(experiment, artifact_location=location)
        except mlflow.exceptions.MlflowException:
            pass  # created concurrently by another process: fine, set_experiment below finds it
    return mlflow.set_experiment(experiment).experiment_id


@contextlib.contextmanager
def stage_run(name: str, *, parent: bool = False, tags: dict[str, str] | None = None) -> Iterator[str]:
    """Open an MLflow run for a pipeline stage, nested when a run is already active."""
    nested = mlflow.active_run() is not None and not parent
    with mlflow.start_run(run_name=name, nested=nested, tags={"agenttune.stage": name, **(tags or {})}) as run:
        yield run.info.run_id


def log_params(params: Mapping[str, Any], run_id: str | None = None) -> None:
    client = MlflowClient()
    run_id = run_id or mlflow.active_run().info.run_id
    items = [mlflow.entities.Param(k, v) for k, v in redact(params).items()]
    for i in range(0, len(items), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + PARAMS_PER_BATCH])


def log_metrics(metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items() if v is not None}
    if run_id is None:
        mlflow.log_metrics(clean, step=step)
    else:
        MlflowClient().log_batch(
            run_id,
            metrics=[mlflow.entities.Metric(k, v, _now_ms(), step or 0) for k, v in clean.items()],
        )


class RunLogger:
    """For Ray Train workers: rank 0 logs metrics to a run the driver opened."""

    def __init__(self, tracking_uri: str | None, run_id: str | None, enabled: bool):
        self.enabled = bool(enabled and tracking_uri and run_id)
        self.run_id = run_id
        self._client = MlflowClient(tracking_uri) if self.enabled else None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self.enabled:
            items = [mlflow.entities.Param(k, v) for k, v in redact(params).items()]
            for i in range(0, len(items), PARAMS_PER_BATCH):
                self._client.log_batch(self.run_id, params=items[i : i + PARAMS_PER_BATCH])

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if not self.enabled:
            return
        ts = _now_ms()
        batch = [mlflow.entities.Metric(k, float(v), ts, step) for k, v in metrics.items() if v is not None]
        self._client.log_batch(self.run_id, metrics=batch)


def safe_environ_summary() -> dict[str, str]:
    """Which well-known variables are set (never their values), for debugging runs."""
    names = ("OPENAI_API_KEY", "HF_TOKEN", "MLFLOW_TRACKING_URI", "RAY_ADDRESS")
    return {f"env.{n}": "set" if os.environ.get(n) else "unset" for n in names}


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
