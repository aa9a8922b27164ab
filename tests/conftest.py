"""Shared fixtures. Services start in fixtures named for what they start, module-scoped."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Ray's test clusters run `ray start` by name, and `make test` calls .venv/bin/pytest without activating the
# venv: put the interpreter's own bin folder first on PATH so `ray` is the one installed beside it.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def shared_file(rel: str) -> Path:
    """A file of the read-only shared data set beside the checkout; skip the test when it is absent."""
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(reason=f"shared data not found at {path} (the ../shared/data folder beside the checkout)")
    return path


@pytest.fixture(scope="module")
def ray_2_cpus():
    """A local Ray instance with 2 CPUs, for the tests of one module."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny random Llama-architecture model + BPE tokenizer, saved in Hugging Face format."""
    import envs
    from train.corpus import generate_general_records
    from train.tiny import build_tiny_checkpoint

    texts = [t["value"] for r in generate_general_records(300, 0) for t in r["conversations"]]
    texts += [str(t.payload) for t in envs.generate_tasks("agenttune/DB-v0", "train", 30, start=50_000)]
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model", corpus=texts, seed=0)


@contextlib.contextmanager
def mlflow_store(uri: str, experiment: str) -> Iterator[str]:
    """MLflow pointed at ``uri`` for a block; afterwards the tracking URI and MLFLOW_TRACKING_URI are as they
    were (``mlflow.set_tracking_uri`` exports the variable, which later tests would read as the user's)."""
    import mlflow

    from train import mlflow_utils as mlf

    previous, variable = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    mlf.setup(uri, experiment)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)
        if variable is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = variable


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests need a CUDA GPU: skipped, with the reason, where none is present (CI has none)."""
    import shutil

    if shutil.which("nvidia-smi") and _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marker gpu); none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False
