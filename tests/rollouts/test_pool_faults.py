"""Faults during a rollout never lose or repeat an episode: each case ends with every
(task_id, sample_index) in the output exactly once, with the status the fault deserves."""

from __future__ import annotations

import collections
import os
import re
import signal

import pytest

from rollouts.config import PolicyConfig, PoolConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl
from tests.openai_server import ScriptedChatServer
from tests.rollouts import fault_envs

pytestmark = pytest.mark.integration

FAULTY = {"env_modules": ["tests.rollouts.fault_envs_plugin"]}


def run(jobs, out, *, policy=None, pool=None, **kw):
    """A rollout on 2 actors with 4 episodes in flight each; ``pool`` changes PoolConfig fields."""
    pool_cfg = PoolConfig(**({"min_actors": 2, "max_actors": 2, "concurrency": 4} | (pool or {})))
    policy_cfg = PolicyConfig(**(policy or {"kind": "oracle"}))
    return run_rollouts(jobs, out_path=out, policy=policy_cfg, pool=pool_cfg, progress=False, **(FAULTY | kw))


def exactly_once(jobs, out) -> dict[str, dict]:
    recs = list(read_jsonl(out))
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), collections.Counter(ids).most_common(3)
    assert set(ids) == {f"{j['task']['task_id']}-s{j['sample_index']}" for j in jobs}
    return {r["id"]: r for r in recs}


def test_a_hanging_env_times_out_and_a_crashing_env_fails_only_its_episode(ray_2_cpus, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 10 + ["hang", "raise"] + ["ok"] * 10), samples_per_task=2)
    slow = {fault_envs.ENV_ID: {"step_delay_s": 0.05}}
    s = run(jobs, tmp_path / "t.jsonl", pool={"episode_timeout_s": 2.0}, env_kwargs=slow)
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    by_behaviour = collections.defaultdict(set)
    for r in recs.values():
        by_behaviour[r["task_id"].rsplit("-", 1)[1]].add(r["status"])
    assert by_behaviour == {"ok": {"completed"}, "hang": {"timeout"}, "raise": {"env_error"}}
    assert "injected env crash" in recs["faulty-0011-raise-s0"]["error"]
    assert s.status == {"completed": 40, "timeout": 2, "env_error": 2} and s.actor_deaths == 0


def test_envs_are_recycled_after_the_configured_number_of_episodes(ray_2_cpus, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 14))
    pool = {"min_actors": 1, "max_actors": 1, "concurrency": 1, "recycle_envs_after": 3}
    run(jobs, tmp_path / "t.jsonl", pool=pool)
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    served = collections.Counter()
    for r in recs.values():
        m = re.match(r"instance=(\S+) episode=(\d+)", r["conversations"][0]["value"])
        served[m[1]] = max(served[m[1]], int(m[2]))
    assert max(served.values()) == 3 and len(served) == 5  # 14 episodes: 3+3+3+3+2


def test_actors_close_their_envs_before_they_are_killed(ray_2_cpus, tmp_path):
    # An OS env's close is what closes its sandboxes; an actor killed with its envs open leaves them to die
    # with it, and one starting in the background then could outlive it.
    closed = tmp_path / "closed"
    closed.mkdir()
    jobs = make_jobs(fault_envs.tasks(["ok"] * 12))
    run(jobs, tmp_path / "t.jsonl", env_kwargs={fault_envs.ENV_ID: {"closed_dir": str(closed), "step_delay_s": 0.05}})
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    instances = {re.match(r"instance=(\S+)", r["conversations"][0]["value"])[1] for r in recs.values()}
    assert len(instances) >= 2  # two actors, four in flight each
    assert instances <= {p.name for p in closed.iterdir()}  # (and envs made ahead that served no episode)


def test_a_killed_actor_s_episodes_run_again_and_finish(ray_2_cpus, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 40))
    killed = []

    def kill_one_actor(rec):
        if not killed and rec["task_id"] >= "faulty-0008":
            pid = int(re.match(r"instance=(\d+)\.", rec["conversations"][0]["value"])[1])  # the actor that ran it
            os.kill(pid, signal.SIGKILL)  # what the OOM killer does, while it holds more episodes
            killed.append(pid)

    slow = {fault_envs.ENV_ID: {"step_delay_s": 0.2}}
    s = run(jobs, tmp_path / "t.jsonl", on_record=kill_one_actor, env_kwargs=slow)
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    assert killed and s.actor_deaths == 1 and s.requeued >= 1
    assert {r["status"] for r in recs.values()} == {"completed"}  # its neighbours are not blamed


def test_an_episode_that_kills_its_actor_is_recorded_as_env_error_after_max_attempts(ray_2_cpus, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 6 + ["exit"] + ["ok"] * 6))
    slow = {fault_envs.ENV_ID: {"step_delay_s": 0.1}}
    s = run(jobs, tmp_path / "t.jsonl", pool={"max_attempts": 2}, env_kwargs=slow)
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    poison = recs.pop("faulty-0006-exit-s0")
    assert poison["status"] == "env_error" and "died 2 times" in poison["error"]
    assert {r["status"] for r in recs.values()} == {"completed"}
    assert s.actor_deaths == 3  # once among neighbours, then twice alone


@pytest.mark.parametrize("fault", ["retried", "unreachable", "refused"])
def test_endpoint_errors_are_retried_then_recorded_as_agent_error(ray_2_cpus, tmp_path, monkeypatch, fault):
    monkeypatch.setenv("FAULT_TEST_KEY", "sk-test-secret")
    jobs = make_jobs(fault_envs.tasks(["ok"] * 8))
    with ScriptedChatServer(responder=lambda req: "Action: done") as server:
        base_url = server.base_url
        if fault == "retried":  # every error kind once, then answers: all episodes complete
            server.fail_next([429, 500, 502, 503])
        elif fault == "unreachable":  # more 503s than retries for every call
            server.fail_next([503] * 200)
        policy = {
            "kind": "openai",
            "model": "scripted-model",
            "base_url": base_url,
            "api_key_env": "FAULT_TEST_KEY",
            "max_retries": 2,
            "timeout_s": 5.0,
        }
        if fault == "refused":
            server.stop()  # nothing listens on the port any more
        s = run(jobs, tmp_path / "t.jsonl", policy=policy)
    recs = exactly_once(jobs, tmp_path / "t.jsonl")
    statuses = {r["status"] for r in recs.values()}
    if fault == "retried":
        assert statuses == {"completed"}
        # the key reached the actors (through their runtime_env), as it must on other nodes
        assert {r.authorization for r in server.requests} == {"Bearer sk-test-secret"}
    else:
        assert statuses == {"agent_error"} and s.errors == 8
        assert all("sk-test-secret" not in str(r) for r in recs.values())
    assert "sk-test-secret" not in (tmp_path / "t.jsonl").read_text()


def test_rerunning_completes_an_interrupted_rollout(ray_2_cpus, tmp_path):
    jobs = make_jobs(fault_envs.tasks(["ok"] * 12), samples_per_task=2)
    out = tmp_path / "t.jsonl"
    run(jobs[:9], out)  # as if the driver had been stopped after 9 episodes
    s = run(jobs, out)
    exactly_once(jobs, out)
    assert (s.skipped_existing, s.finished) == (9, 15)


def test_an_actor_the_cluster_can_never_place_is_a_clear_error(ray_2_cpus, tmp_path):
    from rollouts.errors import RolloutError

    with pytest.raises(RolloutError, match="needs 4 CPUs but the Ray cluster has 2"):
        run(make_jobs(fault_envs.tasks(["ok"])), tmp_path / "t.jsonl", pool={"actor_cpus": 4})


def test_a_policy_config_error_stops_the_rollout_with_its_cause(ray_2_cpus, tmp_path):
    from rollouts.errors import RolloutError

    with pytest.raises(RolloutError) as e:
        run(make_jobs(fault_envs.tasks(["ok"] * 3)), tmp_path / "t.jsonl", policy={"kind": "openai"})
    assert str(e.value) == (
        "rollout actors fail to start (3 in a row): rollouts.errors.PolicyConfigError: "
        "rollout.policy.model: the openai policy needs the served model's name"
    )
    assert not list(read_jsonl(tmp_path / "t.jsonl"))  # nothing half-written
