"""Shared fixtures. Services start in fixtures named for what they start, module-scoped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
