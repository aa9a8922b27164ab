"""GPU-aware resources: the capacity check names the GPUs a stage needs and a cluster lacks, and rollout/eval
actors and model servers reserve GPUs exactly when their policy computes on one (logical GPUs on a CPU machine:
Ray schedules on the resource numbers it is given)."""

from __future__ import annotations

import pytest
import ray

from cluster.checks import capacity_problems
from cluster.config import load_config
from rollouts.config import PolicyConfig
from rollouts.pool import actor_gpus
from rollouts.serving import server_resources
from tests.conftest import REPO

PAPER = REPO / "cluster" / "configs" / "agenttuning-7b.yaml"


def test_the_paper_recipe_on_a_cluster_without_gpus_is_told_what_is_missing():
    cfg = load_config(PAPER)
    problems = capacity_problems(cfg, cfg.stages, {"CPU": 512.0, "GPU": 0.0}, "this cluster")
    text = "\n".join(problems)
    assert f"each of the {cfg.train.num_workers} workers on a GPU" in text and "0 GPUs" in text
    assert f"{cfg.eval.policy.replicas} vllm replicas" in text
    enough = {"CPU": 512.0, "GPU": float(cfg.train.num_workers)}
    assert capacity_problems(cfg, cfg.stages, enough, "this cluster") == []
    # Only the stages asked for are checked: eval alone on 4 GPUs is fine, training on them is not.
    four = {"CPU": 512.0, "GPU": 4.0}
    assert capacity_problems(cfg, ["eval"], four, "this cluster") == []
    assert any("train.use_gpu" in p for p in capacity_problems(cfg, ["train"], four, "this cluster"))


def test_an_hf_policy_pinned_to_more_gpus_than_the_cluster_has_is_refused():
    cfg = load_config(REPO / "cluster" / "configs" / "demo.yaml", ["eval.policy.gpus=2"])
    (problem,) = capacity_problems(cfg, ["eval"], {"CPU": 8.0, "GPU": 1.0}, "this cluster")
    assert problem.startswith("eval.policy.gpus: each actor reserves 2 GPUs and this cluster has 1")


@pytest.fixture
def ray_with(request):
    ray.init(num_cpus=2, num_gpus=request.param, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield request.param
    finally:
        ray.shutdown()


@pytest.mark.integration
@pytest.mark.parametrize("ray_with", [0, 1], indirect=True, ids=["cpu-cluster", "gpu-cluster"])
def test_actors_and_servers_reserve_gpus_when_their_policy_runs_on_one(ray_with):
    has_gpu = float(ray_with > 0)
    assert actor_gpus(PolicyConfig(kind="hf", model="m")) == has_gpu  # the in-actor model takes the GPU if any
    assert actor_gpus(PolicyConfig(kind="hf", model="m", gpus=0.5)) == 0.5  # as pinned
    assert actor_gpus(PolicyConfig(kind="oracle")) == 0.0  # computes nothing
    assert actor_gpus(PolicyConfig(kind="served", model="m")) == 0.0  # the replicas hold the model
    transformers_server = server_resources(PolicyConfig(kind="served", model="m", engine="transformers"))
    assert transformers_server["num_gpus"] == has_gpu
    assert server_resources(PolicyConfig(kind="served", model="m", engine="vllm"))["num_gpus"] == 1.0
