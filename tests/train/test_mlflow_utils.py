"""MLflow helpers: dataset lineage (name, digest, source, rows, schema) and config params within MLflow's limits,
with no secret ever logged. Runs against a throw-away SQLite store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import mlflow_store, shared_file
from train import mlflow_utils as mlf
from train.formats import content_digest, load_corpus


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A SQLite MLflow store with an experiment set; the previous tracking URI comes back afterwards."""
    with mlflow_store(f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db", "lineage-test") as uri:
        yield uri


def sharegpt(n: int, answer: str = "a") -> list[dict]:
    """``n`` ShareGPT records: questions q0, q1, ..., each answered with ``answer``."""
    return [
        {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": answer}]} for i in range(n)
    ]


def logged_inputs(uri: str, run_id: str) -> list:
    return MlflowClient(uri).get_run(run_id).inputs.dataset_inputs


# ----------------------------------------------------------------------------- digests


def test_file_digest_follows_content_not_name(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(sharegpt(3)))
    b.write_text(json.dumps(sharegpt(3)))
    assert content_digest(a) == content_digest(b) == content_digest(a)
    assert len(content_digest(a)) == 16
    # A change deep inside a conversation (which MLflow's own pandas digest would not see: it hashes only
    # string and number columns) changes the digest.
    b.write_text(json.dumps(sharegpt(3)).replace('"q2"', '"q2!"'))
    assert content_digest(a) != content_digest(b)


def test_folder_digest_ignores_file_names_and_hidden_files(tmp_path):
    for folder, prefix in (("x", "uuid1"), ("y", "uuid2")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{prefix}_000000.parquet").write_bytes(b"first")
        (tmp_path / folder / f"{prefix}_000001.parquet").write_bytes(b"second")
    (tmp_path / "y" / ".tmp-partial").write_bytes(b"junk")
    assert content_digest(tmp_path / "x") == content_digest(tmp_path / "y")
    (tmp_path / "y" / "uuid2_000001.parquet").write_bytes(b"second!")
    assert content_digest(tmp_path / "x") != content_digest(tmp_path / "y")


def test_corpus_digest_is_the_file_digest(tmp_path):
    path = tmp_path / "general.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in sharegpt(4)) + "\n")
    corpus = load_corpus(path)
    assert (corpus.digest, corpus.rows, corpus.formats) == (content_digest(path), 4, {"sharegpt": 4})
    assert corpus.source == str(path.resolve())


# ----------------------------------------------------------------------------- dataset inputs


def test_log_dataset_input_shows_name_digest_source_rows_and_schema(store, tmp_path):
    path = tmp_path / "general.json"
    path.write_text(json.dumps([*sharegpt(5), {"prompt": "bad"}]))
    corpus = load_corpus(path, on_bad_record="skip")
    entry = mlf.corpus_input(corpus, name="general", role="general", config_key="mix.general.0")
    with mlflow.start_run() as run:
        mlf.log_dataset_input(json.loads(json.dumps(entry)))  # entries survive the lineage file's JSON
    (inp,) = logged_inputs(store, run.info.run_id)
    ds = inp.dataset
    assert (ds.name, ds.digest, ds.source_type) == ("general", content_digest(path), "local")
    assert json.loads(ds.source) == {"uri": str(path.resolve())}
    assert json.loads(ds.profile) == {"num_rows": 6, "skipped": 1, "formats": {"sharegpt": 5}}
    columns = [c["name"] for c in json.loads(ds.schema)["mlflow_colspec"]]
    assert columns == ["id", "source", "conversations"]
    assert {t.key: t.value for t in inp.tags} == {
        "mlflow.data.context": "training",
        "role": "general",
        "config_key": "mix.general.0",
    }


def test_same_file_same_dataset_changed_file_new_digest(store, tmp_path):
    path = tmp_path / "kept.json"
    path.write_text(json.dumps(sharegpt(2)))
    digests = []
    for answer in ("a", "a", "b"):
        path.write_text(json.dumps(sharegpt(2, answer)))
        entry = mlf.corpus_input(load_corpus(path), name="kept_trajectories", role="agent", config_key="filter")
        with mlflow.start_run() as run:
            mlf.log_dataset_input(entry)
        digests.append(logged_inputs(store, run.info.run_id)[0].dataset.digest)
    assert digests[0] == digests[1] != digests[2]


def test_hf_corpus_is_logged_with_a_hugging_face_source(store, tmp_path, hf_cache):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "data.jsonl").write_text("\n".join(json.dumps(r) for r in sharegpt(3)) + "\n")
    corpus = load_corpus(f"hf://{tmp_path / 'corpus'}")
    entry = mlf.corpus_input(corpus, name="corpus[train]", role="agent", config_key="mix.agent_extra.0")
    with mlflow.start_run() as run:
        mlf.log_dataset_input(entry)
    ds = logged_inputs(store, run.info.run_id)[0].dataset
    assert ds.source_type == "hugging_face" and ds.digest == corpus.digest
    source = json.loads(ds.source)
    assert (source["path"], source["split"], source["revision"]) == (str(tmp_path / "corpus"), "train", None)


def test_folder_input_reads_rows_and_schema_from_parquet_footers(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    packed = tmp_path / "mix" / "packed"
    packed.mkdir(parents=True)
    for i, n in enumerate((3, 4)):
        table = pa.table({"input_ids": [[1, 2]] * n, "labels": [[-100, 2]] * n, "source": ["db"] * n})
        pq.write_table(table, packed / f"part_{i}.parquet")
    entry = mlf.folder_input(packed, name="mix_packed", role="mix", config_key="mix")
    assert entry["profile"]["num_rows"] == 7 and entry["profile"]["num_files"] == 2
    assert entry["digest"] == content_digest(packed)
    with mlflow.start_run() as run:
        mlf.log_dataset_input(entry)
    ds = logged_inputs(store, run.info.run_id)[0].dataset
    schema = {c["name"]: c for c in json.loads(ds.schema)["mlflow_colspec"]}
    assert schema["input_ids"]["type"] == "array" and schema["input_ids"]["items"] == {"type": "long"}
    assert schema["source"]["type"] == "string"


def test_no_active_run_logs_nothing(store, tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(sharegpt(1)))
    entry = mlf.corpus_input(load_corpus(path), name="a", role="general", config_key="mix.general.0")
    assert mlflow.active_run() is None
    assert mlf.log_dataset_input(entry) is None
    assert mlflow.active_run() is None  # it did not start one


def test_real_agentinstruct_digest_and_rows(tmp_path):
    corpus = load_corpus(shared_file("agentinstruct/db.json"))
    entry = mlf.corpus_input(corpus, name="db", role="agent", config_key="mix.agent_extra.0")
    assert entry["profile"]["num_rows"] == 538 and entry["digest"] == content_digest(corpus.source)


# ----------------------------------------------------------------------------- params


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("sk-proj-0123456789abcdef", "***"),
        ("Bearer hf_0123456789abcdef", "Bearer ***"),
        ("postgresql://u:p4ss@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),  # host:port is not user:password
        ("https://h/x?token=abc&page=2", "https://h/x?token=***&page=2"),
    ],
)
def test_redact_masks_secrets_inside_values(value, shown):
    assert mlf.redact({"a.b": value}) == {"a.b": shown}


def test_redact_drops_secret_keys_but_keeps_env_names():
    out = mlf.redact({"p.api_key": "x", "p.token": "y", "h.Authorization": "z", "p.api_key_env": "OPENAI_API_KEY"})
    assert out == {"p.api_key": "***", "p.token": "***", "h.Authorization": "***", "p.api_key_env": "OPENAI_API_KEY"}


def test_param_keys_are_valid_and_unique():
    long_a, long_b = "k" * 300 + "a", "k" * 300 + "b"
    keys = [mlf.param_key(k) for k in (long_a, long_b, "a//b", "../up", "ok.key/x-1:2")]
    assert all(len(k) <= 250 for k in keys) and keys[0] != keys[1]
    assert keys[2:] == ["a__b", "_.._up", "ok.key/x-1:2"]
    batches = mlf.param_batches({f"p{i}": i for i in range(250)})
    assert [len(b) for b in batches] == [100, 100, 50]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """datasets writes its Arrow cache here instead of ~/.cache; offline, so nothing can reach the hub."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_setup_leaves_the_users_tracking_uri_variable_alone(tmp_path, monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; a second run dir in this process must not read it."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with mlflow_store(f"sqlite:///{tmp_path}/a.db", "a"):
        assert "MLFLOW_TRACKING_URI" not in os.environ
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
        mlf.setup(f"sqlite:///{tmp_path}/b.db", "b")
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://tracking.example:5000"
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/b.db"
