"""The shipped pipelines roll out only held-in train tasks and evaluate held-in test tasks plus held-out envs."""

from pathlib import Path

import pytest

import envs
from cluster.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "cluster" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_rollouts_use_held_in_train_tasks_and_eval_covers_both_roles(path):
    cfg = load_config(path)
    held_in = {s.id for s in envs.list_specs() if s.role == "held_in"}
    held_out = {s.id for s in envs.list_specs() if s.role == "held_out"}
    rolled = {sel.id for sel in cfg.rollout.envs}
    assert rolled == held_in and all(sel.split == "train" for sel in cfg.rollout.envs)
    evaluated = {sel.id for sel in cfg.eval.envs}
    assert evaluated == held_in | held_out and all(sel.split == "test" for sel in cfg.eval.envs)
