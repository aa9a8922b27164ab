"""The shipped pipelines roll out only train tasks and evaluate test tasks of both roles. The paper's pipelines
(demo, 7B) roll out every held-in env and evaluate all envs; the miniature ablation trains on one env, which its
eval then scores held-in, and keeps one held-out env."""

from pathlib import Path

import pytest

import envs
from cluster.config import load_config
from cluster.stages import trained_envs

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "cluster" / "configs").glob("*.yaml"))
MINIATURES = {"ablation-tiny.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_rollouts_use_train_tasks_and_eval_covers_both_roles(path):
    cfg = load_config(path)
    held_in = {s.id for s in envs.list_specs() if s.role == "held_in"}
    held_out = {s.id for s in envs.list_specs() if s.role == "held_out"}
    rolled = set(trained_envs(cfg))
    assert all(sel.split == "train" for sel in cfg.rollout.envs)
    evaluated = {sel.id for sel in cfg.eval.envs}
    assert all(sel.split == "test" for sel in cfg.eval.envs)
    if path.name in MINIATURES:
        assert rolled and rolled <= evaluated  # every env trained on is tested (and scored held-in)
        assert evaluated - rolled - held_in  # and one env that is held out for this run too
    else:
        assert rolled == held_in and evaluated == held_in | held_out


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates_without_a_cluster(path, capsys):
    from cluster.cli import main

    assert main(["validate", str(path), "--no-capacity", "--quiet"]) == 0, capsys.readouterr().err


def test_a_gpu_clusters_config_validates_on_a_machine_without_gpus(capsys, monkeypatch):
    # Its capacity says nothing about a laptop: not checked, and said so; a CPU-only config that does not fit
    # this machine still fails (tests/cluster/test_bad_inputs.py).
    from cluster import checks
    from cluster.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(checks, "local_resources", lambda cfg: {"CPU": 2.0, "GPU": 0.0})  # this machine, any host
    path = next(p for p in CONFIGS if p.name == "agenttuning-7b.yaml")
    assert main(["validate", str(path), "--quiet"]) == 0
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"# {path}: valid (capacity not checked: it needs GPUs and names no cluster; set RAY_ADDRESS to check it "
        "against one)"
    )
