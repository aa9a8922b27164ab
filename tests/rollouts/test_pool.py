"""The Ray actor pool: parallel episodes, one record per (task, sample), resume after a partial run."""

import json

import pytest

import envs
from rollouts.config import PolicyConfig, PoolConfig
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl

pytestmark = pytest.mark.integration

ORACLE = PolicyConfig(kind="oracle")
TWO_ACTORS = PoolConfig(min_actors=2, max_actors=2)


def test_every_episode_is_written_exactly_once_and_resume_skips_finished(ray_2_cpus, tmp_path):
    tasks = envs.generate_tasks("agenttune/DB-v0", "train", 10)
    jobs = make_jobs(tasks, samples_per_task=2)
    out = tmp_path / "traj.jsonl"
    s = run_rollouts(jobs, policy=ORACLE, pool=TWO_ACTORS, out_path=out, progress=False)
    recs = list(read_jsonl(out))
    assert s.finished == 20 and s.success_rate == 1.0 and s.status == {"completed": 20}
    assert sorted(r["id"] for r in recs) == sorted(f"{t.task_id}-s{i}" for t in tasks for i in range(2))
    assert {r["sample_index"] for r in recs} == {0, 1}

    # A crash mid-write leaves a partial line and loses the last three records: a rerun repairs and completes.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:17]) + "\n" + lines[17][:25])
    s2 = run_rollouts(jobs, policy=ORACLE, pool=TWO_ACTORS, out_path=out, progress=False)
    assert (s2.skipped_existing, s2.finished) == (17, 3)
    ids = [r["id"] for r in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 20

    s3 = run_rollouts(jobs, policy=ORACLE, pool=TWO_ACTORS, out_path=out, progress=False)
    assert (s3.skipped_existing, s3.finished) == (20, 0)


def test_summary_counts_per_env_and_status(ray_2_cpus, tmp_path):
    jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "test", 4), max_turns=1)
    # With a one-turn cap the oracle's SQL turn is its last: every episode hits the limit.
    s = run_rollouts(
        jobs, policy=ORACLE, pool=PoolConfig(min_actors=1, max_actors=1), out_path=tmp_path / "t.jsonl", progress=False
    )
    d = s.to_dict()
    assert d["status"] == {"task_limit_reached": 4}
    assert d["per_env"]["agenttune/DB-v0"]["success_rate"] == 0.0
    rec = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert rec["turns"] == 1 and rec["status"] == "task_limit_reached"
