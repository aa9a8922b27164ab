"""The rollout pool follows the cluster: it grows onto a node that joins mid-run and
reruns elsewhere the episodes of a node that leaves mid-run, losing and repeating none.

A real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: one raylet
per node), so these take a while."""

from __future__ import annotations

import collections

import pytest
import ray
from ray.cluster_utils import Cluster

from rollouts.config import PolicyConfig, PoolConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl
from tests.rollouts import fault_envs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_STEPS = {fault_envs.ENV_ID: {"step_delay_s": 0.25}}


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    ray.init(address=c.address, log_to_driver=False, configure_logging=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def elastic_rollout(jobs, out, *, concurrency, on_record):
    """1 to 3 actors, on the slow fault env; returns the summary and the records, each id checked once."""
    s = run_rollouts(
        jobs,
        policy=PolicyConfig(kind="oracle"),
        pool=PoolConfig(min_actors=1, max_actors=3, concurrency=concurrency),
        out_path=out,
        env_kwargs=SLOW_STEPS,
        env_modules=["tests.rollouts.fault_envs_plugin"],
        scale_interval_s=0.25,
        on_record=on_record,
        progress=False,
    )
    return s, ids_exactly_once(jobs, out)


def ids_exactly_once(jobs, out) -> list[dict]:
    recs = list(read_jsonl(out))
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), collections.Counter(ids).most_common(3)
    assert set(ids) == {f"{j['task']['task_id']}-s0" for j in jobs}
    return recs


def test_the_pool_grows_onto_a_node_that_joins_mid_run(cluster, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 80 + ["slow"]))  # the slow last one leaves the others idle
    joined = []

    def add_node_after_a_few(rec):
        if not joined and rec["task_id"] >= "faulty-0005":
            joined.append(cluster.add_node(num_cpus=2).node_id)

    s, recs = elastic_rollout(jobs, tmp_path / "t.jsonl", concurrency=2, on_record=add_node_after_a_few)
    assert {r["status"] for r in recs} == {"completed"}
    assert s.peak_actors == 3 and s.actors_started == 3
    assert s.actors_retired == 2  # the tail: idle actors are let go, down to min_actors
    assert s.per_node[joined[0]] > 0, s.per_node  # the new node ran episodes


def test_episodes_of_a_node_that_leaves_mid_run_finish_elsewhere(cluster, tmp_path):
    cluster.add_node(num_cpus=1)
    leaving = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    jobs = make_jobs(fault_envs.tasks(["ok"] * 48))
    ran_there = []

    def remove_the_node_once_it_has_work(rec):
        if node_of(rec) == leaving.node_id:
            ran_there.append(rec["id"])
            if len(ran_there) == 3:  # results already on their way may still arrive after this
                cluster.remove_node(leaving)  # its actor dies with the episodes it holds

    s, recs = elastic_rollout(jobs, tmp_path / "t.jsonl", concurrency=3, on_record=remove_the_node_once_it_has_work)
    assert {r["status"] for r in recs} == {"completed"}
    assert s.actor_deaths == 1 and s.lost_with_node >= 1 and s.requeued == s.lost_with_node
    assert sum(s.per_node.values()) == 48 and s.per_node[leaving.node_id] == len(ran_there) >= 3


def node_of(rec: dict) -> str:
    return rec["conversations"][0]["value"].split("node=")[1].split()[0]
