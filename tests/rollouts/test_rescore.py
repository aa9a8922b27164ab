"""Re-scoring: recorded episodes replayed in today's envs (``rollouts.rescore``), without Ray.

The originals are played the way a rollout actor plays them (``RolloutActor.run``, here in-process), so the
replay's seeds and tasks are checked against the rollout's, not against a copy of its arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.config import EnvSelection
from rollouts.config import FilterConfig
from rollouts.errors import RolloutError
from rollouts.records import JsonlWriter, read_jsonl
from rollouts.rescore import recorded_actions, rescored_path, run_rescore_stage
from rollouts.stage import run_filter_stage
from tests.rollouts import graded_env
from tests.rollouts.graded_env import ENV_ID, PAYLOADS, registered, roll_out, use_grader


@pytest.fixture
def graded(tmp_path):
    """Trajectories of every case of the graded test env under grader 1, plus two that cannot be replayed."""
    sel = EnvSelection(id=ENV_ID, num_tasks=len(PAYLOADS))
    path = tmp_path / "rollout" / "trajectories.jsonl"
    with registered():
        records = roll_out([sel], path, samples_per_task=1)
        lost = dict(records[0], id="gone-task-s0", task_id="graded-train-9999")  # no longer generated
        renamed = dict(records[1], id="renamed-s0", env="agenttune-test/Graded-v9")  # the env id went away
        with JsonlWriter(path) as writer:
            writer.write(lost)
            writer.write(renamed)
        yield sel, path


def rescore(sel: EnvSelection, path: Path, **kwargs) -> tuple[dict, list[dict]]:
    out = rescored_path(path)
    report = run_rescore_stage([sel], trajectories=path, out=out, sandbox="none", progress=False, **kwargs).report
    return report, list(read_jsonl(out))


def test_the_same_grader_gives_the_same_episodes(graded):
    sel, path = graded
    original = list(read_jsonl(path))
    report, rescored = rescore(sel, path, concurrency=4)
    assert report["unchanged"] == 9 and report["changed"] == 0 and report["diverged"] == 0
    assert report["carried"] == 1 and report["reasons"]["carried"] == {"env_error": 1}
    assert report["skipped"] == 2 and report["reasons"]["skipped"] == {"task_not_found": 1, "unknown_env": 1}
    assert report["skipped_ids"] == {"task_not_found": ["gone-task-s0"], "unknown_env": ["renamed-s0"]}
    replayable = [r for r in original if r["id"] not in ("gone-task-s0", "renamed-s0")]
    assert [r["id"] for r in rescored] == [r["id"] for r in replayable]  # the rest, in input order
    assert report["written"] == len(rescored) == 10
    for old, new in zip(replayable, rescored, strict=True):
        # The first observation names the reset seed: the replay reset the env as the rollout did.
        assert new["conversations"] == old["conversations"], old["id"]
        assert (new["reward"], new["status"], new["success"]) == (old["reward"], old["status"], old["success"])


def test_each_sample_is_reset_with_the_seed_the_rollout_gave_it(tmp_path):
    sel = EnvSelection(id=ENV_ID, num_tasks=2)
    path = tmp_path / "trajectories.jsonl"
    with registered():
        original = roll_out([sel], path, samples_per_task=3)
        report, rescored = rescore(sel, path)
    assert report["unchanged"] == 6
    seeds = [new["conversations"][0]["value"].rsplit("seed ", 1)[1] for new in rescored]
    assert len(set(seeds)) == 6  # the graded env's first observation names its reset seed
    assert [new["conversations"] for new in rescored] == [old["conversations"] for old in original]


def test_a_changed_grader_regrades_without_rolling_out_again(graded):
    sel, path = graded
    before = path.read_bytes()
    original = {r["id"]: r for r in read_jsonl(path)}
    with use_grader(2):
        report, rescored = rescore(sel, path, concurrency=3)
    assert path.read_bytes() == before  # never in place
    assert {k: report[k] for k in ("total", "up", "down", "unchanged", "diverged", "carried", "skipped")} == {
        "total": 12,
        "up": 2,  # a fixed gold (0 -> 1), partial credit (0 -> 0.5)
        "down": 1,  # a fixed gold (1 -> 0)
        "unchanged": 4,
        "diverged": 2,
        "carried": 1,
        "skipped": 2,
    }
    assert report["changed"] == 3
    assert report["reasons"]["diverged"] == {"ended_early": 1, "ran_longer": 1}
    env = report["per_env"][ENV_ID]
    assert (env["up"], env["down"], env["skipped"], env["episodes"]) == (2, 1, 1, 11)  # "renamed" is another env's
    assert env["success_rate_before"] == pytest.approx(6 / 11) and env["success_rate_after"] == pytest.approx(4 / 11)

    by_id = {r["id"]: r for r in rescored}
    outcome = {i: by_id[f"graded-train-{i:04d}-s0"]["rescore"]["outcome"] for i in range(len(PAYLOADS))}
    assert outcome == {
        0: "unchanged",
        1: "unchanged",
        2: "down",
        3: "up",
        4: "up",
        5: "diverged",
        6: "diverged",
        7: "unchanged",
        8: "carried",
        9: "unchanged",
    }
    partial = by_id["graded-train-0004-s0"]
    assert partial["reward"] == 0.5 and partial["rescore"]["from"]["reward"] == 0.0
    assert "[grader 2]" in partial["conversations"][0]["value"]  # today's observations ...
    assert recorded_actions(partial) == recorded_actions(original["graded-train-0004-s0"])  # ... the same actions
    early = by_id["graded-train-0005-s0"]  # grader 2 ends it at the second look: what it made of the actions
    assert (early["status"], early["reward"], early["turns"]) == ("completed", 0.0, 2)
    longer = by_id["graded-train-0006-s0"]  # grader 2 waits for a confirmation the agent never sent
    assert (longer["status"], longer["rescore"]["from"]["status"]) == ("task_limit_reached", "completed")
    assert by_id["graded-train-0008-s0"] == original["graded-train-0008-s0"] | {
        "rescore": {
            "outcome": "carried",
            "reason": "env_error",
            "from": {"reward": 0.0, "success": False, "status": "env_error", "turns": 1},
        }
    }
    assert "gone-task-s0" not in by_id and "renamed-s0" not in by_id  # skipped: counted, not written

    # The filter runs on the re-graded file: grader 2's successes are kept.
    kept = path.with_name("kept.json")
    out = run_filter_stage(
        FilterConfig(), trajectories=rescored_path(path), kept=kept, token_budget=4096, count_tokens=None
    ).report
    kept_ids = {r["id"] for r in json.loads(kept.read_text())}
    assert kept_ids == {f"graded-train-{i:04d}-s0" for i in (0, 1, 3)}
    assert out["total"] == 10 and out["dropped"]["reward_threshold"] == 7


@pytest.mark.parametrize("broken", ["step", "__init__"])
def test_an_env_that_fails_in_the_replay_is_counted_as_diverged(graded, broken, monkeypatch):
    sel, path = graded

    def fail(*args, **kwargs):
        raise RuntimeError(f"injected failure in {broken}")

    monkeypatch.setattr(graded_env.GradedEnv, broken, fail)
    report, rescored = rescore(sel, path)
    assert report["reasons"]["diverged"] == {"env_error": 9} and report["carried"] == 1
    assert all(r["status"] == "env_error" and r["reward"] == 0.0 for r in rescored)  # the filter drops them
    replayed = [r for r in rescored if r["rescore"]["outcome"] == "diverged"]
    assert len(replayed) == 9 and all(f"injected failure in {broken}" in r["error"] for r in replayed)


def test_opening_turns_are_not_actions():
    rec = {
        "conversations": [
            {"from": "human", "value": "instruction", "loss": None},
            {"from": "gpt", "value": "Ok.", "loss": False},
            {"from": "human", "value": "example question", "loss": None},
            {"from": "gpt", "value": "example answer", "loss": False},
            {"from": "human", "value": "the task", "loss": None},
            {"from": "gpt", "value": "Action: one", "loss": True},
            {"from": "human", "value": "observation", "loss": None},
            {"from": "gpt", "value": "Action: two", "loss": True},
        ]
    }
    assert recorded_actions(rec) == ["Action: one", "Action: two"]


@pytest.mark.parametrize("env_id", ["agenttune/DB-v0", "agenttune/KG-v0", "agenttune/WebShop-v0"])
def test_real_envs_replay_their_episodes_exactly(env_id, tmp_path):
    sel = EnvSelection(id=env_id, num_tasks=4)
    path = tmp_path / "trajectories.jsonl"
    original = roll_out([sel], path, samples_per_task=2)
    report, rescored = rescore(sel, path, concurrency=4)
    assert report["unchanged"] == len(original) == 8, report
    for old, new in zip(original, rescored, strict=True):
        assert new["conversations"] == old["conversations"]
        assert new["reward"] == old["reward"] and new["success"] == old["success"]


def test_generated_tasks_are_rebuilt_from_their_split_and_seed(tmp_path):
    played = EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=3, start=40)  # an eval's, say
    path = tmp_path / "trajectories.jsonl"
    roll_out([played], path)
    report, _ = rescore(EnvSelection(id="agenttune/DB-v0", num_tasks=1), path)  # the config names other tasks
    assert report["unchanged"] == 3


def test_a_task_files_tasks_are_found_through_the_selection(tmp_path):
    from tests.conftest import shared_file

    tasks_file = shared_file("agentbench/dbbench_dev.jsonl")
    sel = EnvSelection(id="agenttune/DB-v0", tasks_file=str(tasks_file), num_tasks=3, start=2)
    path = tmp_path / "trajectories.jsonl"
    original = roll_out([sel], path)
    assert all(r["split"] == "external" for r in original)
    report, _ = rescore(sel, path)
    assert report["unchanged"] == 3 and report["skipped"] == 0
    other = EnvSelection(id="agenttune/DB-v0", tasks_file=str(tasks_file), num_tasks=2, start=10)
    report, _ = rescore(other, path)  # a config that no longer names those records
    assert report["reasons"]["skipped"] == {"task_not_found": 3}


def test_bad_inputs_say_where(tmp_path):
    sel = EnvSelection(id="agenttune/DB-v0", num_tasks=1)
    path = tmp_path / "trajectories.jsonl"
    with pytest.raises(RolloutError, match="does not exist"):
        rescore(sel, path)
    roll_out([sel], path)
    with pytest.raises(RolloutError, match="never in place"):
        run_rescore_stage([sel], trajectories=path, out=path, sandbox="none")
    with path.open("a") as f:
        f.write('{"id": "x"}\n')
    with pytest.raises(RolloutError, match=r"trajectories.jsonl:2: not a trajectory record \(it has no env"):
        rescore(sel, path)
    assert not rescored_path(path).exists()  # nothing half-written
    assert [p.name for p in tmp_path.iterdir()] == ["trajectories.jsonl"]


def test_grader_switch_is_restored():
    assert graded_env.GRADER["version"] == 1
