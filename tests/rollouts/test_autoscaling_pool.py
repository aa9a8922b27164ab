"""The rollout pool drives an autoscaler: on Ray's own autoscaling test cluster (fake nodes started by a real
autoscaler), worker nodes appear while episodes are queued, go once the pool is idle, and every
(task, sample) is written exactly once."""

from __future__ import annotations

import collections
import time

import pytest
import ray
from ray.cluster_utils import AutoscalingCluster

from rollouts.config import PolicyConfig, PoolConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl
from tests.rollouts import fault_envs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class LocalAutoscalingCluster(AutoscalingCluster):
    """``AutoscalingCluster`` with its fake-provider config written here: the wheel leaves out the example YAML
    it would start from (``autoscaler/_private/fake_multi_node/example.yaml``)."""

    def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **config_kwargs):
        config = {
            "cluster_name": "fake_multinode",
            "max_workers": 8,
            "provider": {
                "type": "fake_multinode",
                "use_node_id_as_ip": True,
                "disable_node_updaters": True,
                "disable_launch_config_check": True,
            },
            "available_node_types": {
                **worker_node_types,
                "ray.head.default": {"resources": head_resources, "node_config": {}, "max_workers": 0},
            },
            "head_node_type": "ray.head.default",
            "auth": {},
            "upscaling_speed": 1.0,
            "idle_timeout_minutes": 0.1,
            "docker": {},
            "initialization_commands": [],
            "setup_commands": [],
            "head_setup_commands": [],
            "worker_setup_commands": [],
            "head_start_ray_commands": [],
            "worker_start_ray_commands": [],
            "file_mounts": {},
            "cluster_synced_files": [],
            "file_mounts_sync_continuously": False,
            "rsync_exclude": [],
            "rsync_filter": [],
        }
        return config | config_kwargs


def alive_nodes() -> int:
    return sum(n["Alive"] for n in ray.nodes())


@pytest.fixture
def autoscaling_cluster():
    cluster = LocalAutoscalingCluster(
        head_resources={"CPU": 1},
        worker_node_types={
            "cpu_node": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
    )
    cluster.start()
    ray.init(address="auto", log_to_driver=False, configure_logging=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_the_pool_asks_the_autoscaler_for_nodes_and_they_go_when_idle(autoscaling_cluster, tmp_path):
    assert alive_nodes() == 1  # the head alone: room for one 1-CPU actor
    jobs = make_jobs(fault_envs.tasks(["ok"] * 60))
    seen_nodes = []
    s = run_rollouts(
        jobs,
        policy=PolicyConfig(kind="oracle"),
        pool=PoolConfig(min_actors=1, max_actors=3, concurrency=2),
        out_path=tmp_path / "t.jsonl",
        env_kwargs={fault_envs.ENV_ID: {"step_delay_s": 0.5}},
        env_modules=["tests.rollouts.fault_envs_plugin"],
        scale_interval_s=0.5,
        on_record=lambda rec: seen_nodes.append(alive_nodes()),
        progress=False,
    )
    ids = [r["id"] for r in read_jsonl(tmp_path / "t.jsonl")]
    assert len(ids) == len(set(ids)) == 60, collections.Counter(ids).most_common(3)
    assert s.peak_requested == 3  # the queue wanted three actors; the head holds one
    assert max(seen_nodes) > 1 and s.peak_actors > 1 and len(s.per_node) > 1  # nodes came and played
    deadline = time.monotonic() + 120
    while alive_nodes() > 1 and time.monotonic() < deadline:  # idle: the request is withdrawn, nodes go
        time.sleep(1)
    assert alive_nodes() == 1
