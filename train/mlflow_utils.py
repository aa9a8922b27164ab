"""The one place that writes to MLflow.

The driver opens runs with ``stage_run`` (nested under the pipeline's parent run);
training workers get the run id and write through ``RunLogger`` from rank 0 only.
Params are the flattened resolved config, cut to MLflow's limits; nothing that
looks like a secret is ever logged.

Data lineage: every corpus a mix read, and the mix a training run read, is logged as
an MLflow dataset input (``log_dataset_input``) with a content digest, its source
(a local path or a Hugging Face dataset), its row count and schema, so a run leads
back to its exact data. The entries are plain dicts (``corpus_input``,
``folder_input``) so the mix can store them beside its output for training to log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.meta_dataset import MetaDataset
from mlflow.tracking import MlflowClient
from mlflow.types.schema import Array, ColSpec, DataType, Object, Property, Schema

MAX_PARAM_VALUE = 6000  # MLflow's limit on one param value (older servers: 500)
MAX_PARAM_KEY = 250  # MLflow's limit on a param name
PARAMS_PER_BATCH = 100
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|authorization|credentials?)$", re.I)
_SECRET_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)
_SECRET_VALUE = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{16,}|AKIA[0-9A-Z]{16})"
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*):[^/\s@]+@", re.I)  # scheme://user:PASS@host
_QUERY_SECRET = re.compile(
    r"([?&](?:api[_-]?key|key|token|access_token|secret|password|sig|signature)=)[^&#\s]+", re.I
)
_MIN_SECRET_LEN = 6  # shorter environment values are not masked: they would blank out ordinary words
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")


def redact(params: Mapping[str, Any]) -> dict[str, str]:
    """Drop values of secret-looking keys and mask secrets inside values; cut values to MLflow's limit.

    Masked: values of keys named like api_key / token / password; passwords in URLs (``https://user:***@host``)
    and secret query parameters; strings shaped like OpenAI / Hugging Face / GitHub / AWS keys; and the value of
    any environment variable named by an ``*_env`` param (``api_key_env: MY_KEY`` masks ``$MY_KEY`` wherever it
    appears) or named like a secret (``*_API_KEY``, ``*_TOKEN``, ...). ``api_key_env`` itself (the *name* of a
    variable) is kept: it says where a key comes from, not what it is.
    """
    known = _secret_env_values(params)
    out = {}
    for k, v in params.items():
        leaf = k.rsplit(".", 1)[-1]
        if _SECRET_KEY.search(leaf) and not leaf.endswith("_env"):
            out[k] = "***"
            continue
        text = _URL_PASSWORD.sub(r"\1:***@", str(v))
        text = _QUERY_SECRET.sub(r"\1***", _SECRET_VALUE.sub("***", text))
        for secret in known:
            text = text.replace(secret, "***")
        out[k] = text[:MAX_PARAM_VALUE]
    return out


def param_key(key: str) -> str:
    """``key`` as a valid MLflow param name: allowed characters only, no path tricks, at most 250 characters."""
    clean = _BAD_KEY_CHARS.sub("_", str(key)) or "_"
    if posixpath.normpath(clean) != clean or clean.startswith(("/", "..")):
        clean = clean.replace("/", "_")
        clean = f"_{clean}" if clean.startswith(".") else clean
    if len(clean) > MAX_PARAM_KEY:  # keep it unique: a cut key ends with a hash of the whole
        clean = f"{clean[: MAX_PARAM_KEY - 9]}~{hashlib.sha256(clean.encode()).hexdigest()[:8]}"
    return clean


def param_batches(params: Mapping[str, Any]) -> list[list[mlflow.entities.Param]]:
    """Redacted params with valid names, in batches MLflow accepts (100 per call)."""
    items = [mlflow.entities.Param(param_key(k), v) for k, v in redact(params).items()]
    return [items[i : i + PARAMS_PER_BATCH] for i in range(0, len(items), PARAMS_PER_BATCH)]


def _secret_env_values(params: Mapping[str, Any]) -> set[str]:
    names = {str(v) for k, v in params.items() if k.endswith("_env") and v}
    names |= {n for n in os.environ if _SECRET_ENV_NAME.search(n)}
    return {v for n in names if len(v := os.environ.get(n, "")) >= _MIN_SECRET_LEN}


def setup(tracking_uri: str, experiment: str) -> str:
    """Point MLflow at the store and experiment; return the experiment id.

    With a SQLite store, MLflow would put artifacts in ``./mlruns`` of whatever directory
    the job happens to run in; a new experiment's artifacts go beside the database instead.
    """
    user_choice = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    # set_tracking_uri also exports MLFLOW_TRACKING_URI, where a later config of this process (the next arm of
    # a sweep, the next command of a test) would read it as the user's choice over its own run dir.
    if user_choice is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_choice
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
def stage_run(
    name: str, *, parent: bool = False, tags: dict[str, str] | None = None, parent_run_id: str | None = None
) -> Iterator[str]:
    """Open an MLflow run for a pipeline stage, nested when a run is already active (in this thread), or under
    ``parent_run_id`` (a sweep's arm, run on a thread of its own).

    It ends FINISHED, FAILED on an error, or KILLED when the command was interrupted (Ctrl-C, or SIGTERM
    turned into KeyboardInterrupt by the CLI): never left RUNNING.
    """
    nested = mlflow.active_run() is not None and not parent
    run = mlflow.start_run(
        run_name=name,
        nested=nested or parent_run_id is not None,
        parent_run_id=parent_run_id,
        tags={"agenttune.stage": name, **(tags or {})},
    )
    try:
        yield run.info.run_id
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def log_params(params: Mapping[str, Any], run_id: str | None = None) -> None:
    client = MlflowClient()
    run_id = run_id or mlflow.active_run().info.run_id
    for batch in param_batches(params):
        client.log_batch(run_id, params=batch)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items() if v is not None}
    if run_id is None:
        mlflow.log_metrics(clean, step=step)
    else:
        MlflowClient().log_batch(
            run_id,
            metrics=[mlflow.entities.Metric(k, v, _now_ms(), step or 0) for k, v in clean.items()],
        )


def log_artifact(path: str | Path, folder: str) -> None:
    """Attach a file, or a folder's files, to the active run under ``folder`` (nothing without an active run)."""
    if mlflow.active_run() is None:
        return
    if Path(path).is_dir():
        mlflow.log_artifacts(str(path), artifact_path=folder)
    else:
        mlflow.log_artifact(str(path), artifact_path=folder)


class RunLogger:
    """For Ray Train workers: rank 0 logs metrics to a run the driver opened."""

    def __init__(self, tracking_uri: str | None, run_id: str | None, enabled: bool):
        self.enabled = bool(enabled and tracking_uri and run_id)
        self.run_id = run_id
        self._client = MlflowClient(tracking_uri) if self.enabled else None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self.enabled:
            for batch in param_batches(params):
                self._client.log_batch(self.run_id, params=batch)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if not self.enabled:
            return
        ts = _now_ms()
        batch = [mlflow.entities.Metric(k, float(v), ts, step) for k, v in metrics.items() if v is not None]
        self._client.log_batch(self.run_id, metrics=batch)


# ----------------------------------------------------------------------------- data lineage

CONVERSATION_SCHEMA = Schema(
    [
        ColSpec(DataType.string, "id"),
        ColSpec(DataType.string, "source"),
        ColSpec(
            Array(
                Object(
                    [
                        Property("from", DataType.string),
                        Property("value", DataType.string),
                        Property("loss", DataType.boolean, required=False),
                    ]
                )
            ),
            "conversations",
        ),
    ]
)
"""The canonical record every loader produces (train/formats.py): the schema of a corpus as the mix reads it."""


class LineageDataset(MetaDataset):
    """A dataset known by its source, digest, schema and profile (row count), without its rows in memory."""

    def __init__(self, source: Any, name: str, digest: str, schema: Schema | None, profile: dict[str, Any]):
        self._profile = profile
        super().__init__(source=source, name=name, digest=digest, schema=schema)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return super().to_dict() | {"profile": json.dumps(self._profile)}


def corpus_input(corpus: Any, *, name: str, role: str, config_key: str) -> dict[str, Any]:
    """The lineage entry of a ``train.formats.Corpus``: JSON-able, for ``log_dataset_input``."""
    return {
        "name": name,
        "role": role,
        "config_key": config_key,
        "source": corpus.source,
        "hf": None if corpus.hf is None else dataclasses.asdict(corpus.hf),  # name, split, revision, subset
        "digest": corpus.digest,
        "schema": CONVERSATION_SCHEMA.to_dict(),
        "profile": {"num_rows": corpus.rows, "skipped": sum(corpus.skipped.values()), "formats": corpus.formats},
    }


def folder_input(path: str | Path, *, name: str, role: str, config_key: str) -> dict[str, Any]:
    """The lineage entry of a folder of Parquet files (the tokenized mix): digest over the files' bytes; rows
    and schema from the Parquet footers, so nothing is loaded."""
    import pyarrow.parquet as pq

    from train.formats import content_digest

    path = Path(path).resolve()
    files = sorted(f for f in path.rglob("*.parquet") if not f.name.startswith("."))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    schema = _mlflow_schema(pq.read_schema(files[0])) if files else None
    return {
        "name": name,
        "role": role,
        "config_key": config_key,
        "source": str(path),
        "hf": None,
        "digest": content_digest(path),
        "schema": schema.to_dict() if schema else None,
        "profile": {"num_rows": rows, "num_files": len(files), "bytes": sum(f.stat().st_size for f in files)},
    }


def log_dataset_input(entry: Mapping[str, Any], *, context: str = "training") -> LineageDataset | None:
    """Log one lineage entry as a dataset input of the active run; tags ``role`` and ``config_key``.

    MLflow keeps one dataset per (name, digest) in an experiment, so the same file logged by the mix run and the
    train run shows as the same dataset. Without an active run this does nothing (it never starts one).
    """
    if mlflow.active_run() is None:
        return None
    if entry.get("hf"):
        from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource

        hf = entry["hf"]
        source: Any = HuggingFaceDatasetSource(
            hf["name"], config_name=hf.get("subset"), split=hf.get("split"), revision=hf.get("revision")
        )
    else:
        from mlflow.data.sources import LocalArtifactDatasetSource

        source = LocalArtifactDatasetSource(str(entry["source"]))
    schema = Schema.from_json(json.dumps(entry["schema"])) if entry.get("schema") else None
    dataset = LineageDataset(source, entry["name"], entry["digest"], schema, dict(entry.get("profile") or {}))
    mlflow.log_input(dataset, context=context, tags={"role": entry["role"], "config_key": entry["config_key"]})
    return dataset


def _mlflow_schema(schema: Any) -> Schema:
    """An Arrow schema as an MLflow schema (lists become arrays; unknown types are shown as strings)."""
    import pyarrow as pa

    def convert(t: Any) -> Any:
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return Array(convert(t.value_type))
        if pa.types.is_struct(t):
            return Object([Property(f.name, convert(f.type)) for f in t])
        if pa.types.is_boolean(t):
            return DataType.boolean
        if pa.types.is_integer(t):
            return DataType.long
        if pa.types.is_floating(t):
            return DataType.double
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return DataType.binary
        return DataType.string

    return Schema([ColSpec(convert(f.type), f.name) for f in schema])


def safe_environ_summary() -> dict[str, str]:
    """Which well-known variables are set (never their values), for debugging runs.

    Keys end in ``.status`` so that ``redact`` (which blanks keys named like a token) leaves "set"/"unset" readable.
    """
    names = ("OPENAI_API_KEY", "HF_TOKEN", "MLFLOW_TRACKING_URI", "RAY_ADDRESS")
    return {f"env.{n}.status": "set" if os.environ.get(n) else "unset" for n in names}


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
