"""A task file with bad records stops neither `envs check` nor a rollout: good tasks run, bad ones are reported."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from envs.config import EnvSelection
from rollouts.config import PolicyConfig, RolloutConfig
from rollouts.envcheck import check_env_quality
from rollouts.records import read_jsonl
from rollouts.stage import run_rollout_stage
from tests.conftest import shared_file
from tests.envs.bad_task_files import DB_BAD_AT, DB_RECORDS, write_bad_dbbench, write_small_bad_os

pytestmark = pytest.mark.integration


def test_envs_check_runs_every_good_dbbench_task_and_reports_the_bad(tmp_path: Path) -> None:
    path = write_bad_dbbench(tmp_path)
    report = check_env_quality("agenttune/DB-v0", tasks_file=str(path))  # no num_tasks: the whole file
    assert report["checker_passed"], report["checker_error"]
    assert report["tasks"] == 60
    assert report["oracle_success_rate"] == 1.0, report["oracle_status"]  # every dev task carries its gold SQL
    assert report["bad_task_count"] == 2
    assert [(b["line"], b["reason"][:40]) for b in report["bad_tasks"]] == [
        (11, "table.rows[2]: expected a list of 6 valu"),
        (42, "table.rows[5]: expected a list of 6 valu"),
    ]
    assert check_env_quality("agenttune/DB-v0", tasks_file=str(path), num_tasks=12)["tasks"] == 11  # records 0..11
    assert report["oracle_failures"] == []


def test_envs_check_lists_the_tasks_the_env_grades_wrong_with_why(tmp_path: Path) -> None:
    lines = shared_file("agentbench/dbbench_dev.jsonl").read_text().splitlines()
    insert = json.loads(lines[20])  # an INSERT task: graded by the hash of the table its gold SQL leaves
    insert["answer_md5"] = "0" * 32  # a stored hash (or a grader) that disagrees with the gold solution
    (tmp_path / "wrong.jsonl").write_text(lines[0] + "\n" + json.dumps(insert) + "\n")
    report = check_env_quality("agenttune/DB-v0", tasks_file=str(tmp_path / "wrong.jsonl"))
    assert report["tasks"] == 2 and report["oracle_success_rate"] == 0.5
    (failed,) = report["oracle_failures"]
    assert (failed["task_id"][-4:], failed["status"], failed["reward"]) == ("0001", "completed", 0.0)
    assert failed["why"]  # the env's last words: what a reader checks first


def test_envs_check_runs_good_os_tasks_and_reports_the_bad(tmp_path: Path) -> None:
    path = write_small_bad_os(tmp_path)
    report = check_env_quality("agenttune/OS-v0", tasks_file=str(path))
    assert report["checker_passed"], report["checker_error"]
    assert report["tasks"] == 4
    assert report["oracle_success_rate"] == 1.0, report["oracle_status"]
    assert report["bad_task_count"] == 1
    (bad,) = report["bad_tasks"]
    assert (bad["env"], bad["file"], bad["record"]) == ("agenttune/OS-v0", str(path), 2)
    assert "needs 'match' or 'check'" in bad["reason"]


def test_rollout_stage_plays_every_good_task_once_and_counts_the_bad(
    ray_2_cpus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_bad_dbbench(tmp_path)
    cfg = RolloutConfig(
        envs=[EnvSelection(id="agenttune/DB-v0", tasks_file=str(path), num_tasks=DB_RECORDS)],
        policy=PolicyConfig(kind="oracle"),
        min_actors=1,
        max_actors=2,
    )
    trajectories = tmp_path / "rollout" / "trajectories.jsonl"
    with caplog.at_level(logging.WARNING):
        out = run_rollout_stage(cfg, trajectories=trajectories, sandbox="none", progress=False)
    good_ids = [f"dbbench-bad-{i:04d}" for i in range(DB_RECORDS) if i not in DB_BAD_AT]
    assert sorted(r["task_id"] for r in read_jsonl(trajectories)) == good_ids
    assert out.report["finished"] == 60 and out.report["success_rate"] == 1.0
    assert out.report["bad_task_count"] == 2 and out.metrics["rollout/bad_tasks"] == 2
    assert [(b["env"], b["file"], b["line"]) for b in out.report["bad_tasks"]] == [
        ("agenttune/DB-v0", str(path), 11),
        ("agenttune/DB-v0", str(path), 42),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].startswith("skipped a bad agenttune/DB-v0 task at dbbench_bad.jsonl line 11: table.rows[2]")
