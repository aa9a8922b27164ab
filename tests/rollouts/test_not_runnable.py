"""A rollout over a task file whose tasks need the network plays the others and reports those, by reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.config import EnvSelection
from rollouts.config import PolicyConfig, RolloutConfig
from rollouts.records import read_jsonl
from rollouts.stage import run_rollout_stage

pytestmark = pytest.mark.integration

TASKS = [
    {"description": "Install sudo.", "create": {"init": "apt-get update && apt-get install -y sudo"},
     "evaluation": {"check": [{"language": "bash", "code": "command -v sudo"}]}},
    {"description": "How many lines are in /root/f?", "create": {"init": "printf 'a\\nb\\nc\\n' > /root/f"},
     "evaluation": {"match": "3"}},
    {"description": "Fetch it.", "network": True, "evaluation": {"match": "x"}},
    {"description": "And this.", "create": {"init": "pip install requests"}, "evaluation": {"match": "x"}},
]  # fmt: skip


def test_the_stage_reports_tasks_that_cannot_run_offline_and_plays_the_rest(ray_2_cpus, tmp_path: Path) -> None:
    path = tmp_path / "os_net.json"
    path.write_text(json.dumps(TASKS))
    cfg = RolloutConfig(
        envs=[EnvSelection(id="agenttune/OS-v0", tasks_file=str(path), num_tasks=4)],
        policy=PolicyConfig(kind="oracle"),
        min_actors=1,
        max_actors=1,
    )
    trajectories = tmp_path / "rollout" / "trajectories.jsonl"
    out = run_rollout_stage(cfg, trajectories=trajectories, sandbox="bwrap", progress=False)
    records = list(read_jsonl(trajectories))
    assert [r["task_id"] for r in records] == ["os-os_net-00001"] and records[0]["success"]
    assert out.report["not_runnable_count"] == 3 and out.metrics["rollout/not_runnable"] == 3
    assert out.report["not_runnable_by_reason"] == {
        "needs the network: apt": 1,
        "needs the network: marked in the task file": 1,
        "needs the network: pip install": 1,
    }
    assert [e["task_id"] for e in out.report["not_runnable"]] == [f"os-os_net-0000{i}" for i in (0, 2, 3)]
