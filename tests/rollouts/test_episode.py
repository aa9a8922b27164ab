"""The episode loop on the real DB env: every way an episode ends becomes a record with a status."""

import time

import pytest

import envs
from rollouts.episode import ContextLimitError, run_episode
from rollouts.errors import PolicyError
from rollouts.policies.base import Policy
from rollouts.policies.oracle import OraclePolicy


class Scripted(Policy):
    """Replies from a list; an Exception item is raised instead."""

    kind = "scripted"

    def __init__(self, replies, delay_s=0.0):
        self.replies = list(replies)
        self.delay_s = delay_s

    def act(self, messages, *, task):
        time.sleep(self.delay_s)
        item = self.replies.pop(0) if self.replies else "no idea"
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def env():
    with envs.make_env("agenttune/DB-v0") as e:
        yield e


@pytest.fixture
def task():
    return envs.generate_tasks("agenttune/DB-v0", "train", 1, start=3)[0]


def test_oracle_episode_is_a_complete_agentinstruct_record(env, task):
    rec = run_episode(env, OraclePolicy(), task, sample_index=2, seed=7)
    assert rec["status"] == "completed" and rec["success"] is True and rec["reward"] == 1.0
    assert rec["id"] == f"{task.task_id}-s2" and rec["env"] == "agenttune/DB-v0" and rec["split"] == "train"
    assert rec["turns"] == 2 and rec["invalid_actions"] == 0 and rec["schema_version"] == 1
    # AgentInstruct's DB shape: instruction, the fixed "Ok." (not trained on), the task, then the agent's turns
    shape = [(t["from"], t["loss"]) for t in rec["conversations"]]
    assert shape == [("human", None), ("gpt", False), ("human", None), ("gpt", True), ("human", None), ("gpt", True)]
    assert rec["conversations"][1]["value"] == "Ok." and task.payload["question"] in rec["conversations"][2]["value"]
    assert "Action: Operation" in rec["conversations"][3]["value"]
    assert rec["policy"] == {"kind": "oracle", "model": None}


def test_malformed_actions_are_observations_and_the_turn_cap_ends_the_episode(env, task):
    rec = run_episode(env, Scripted(["hello", "SELECT 1", "still no action"]), task, max_turns=3)
    assert rec["status"] == "agent_invalid_action"  # the last action was malformed when the cap hit
    assert rec["invalid_actions"] == 3 and rec["turns"] == 3 and rec["success"] is False
    assert "Action" in rec["conversations"][4]["value"]  # the env explained the expected format


def test_wrong_answer_is_completed_but_unsuccessful(env, task):
    rec = run_episode(env, Scripted(['Thought: guess.\nAction: Answer\nFinal Answer: ["surely wrong"]']), task)
    assert rec["status"] == "completed" and rec["success"] is False and rec["reward"] == 0.0


def test_policy_failure_is_recorded_as_agent_error(env, task):
    rec = run_episode(env, Scripted([PolicyError("endpoint unreachable after 6 attempts")]), task)
    assert rec["status"] == "agent_error" and "unreachable" in rec["error"] and rec["turns"] == 0


def test_context_overflow_is_its_own_status(env, task):
    rec = run_episode(env, Scripted([ContextLimitError("prompt too long")]), task)
    assert rec["status"] == "context_limit_exceeded"


def test_episode_timeout_is_checked_between_turns(env, task):
    rec = run_episode(env, Scripted(["x"] * 10, delay_s=0.2), task, timeout_s=0.3)
    assert rec["status"] == "timeout" and 1 <= rec["turns"] < 10


def test_env_crash_ends_only_that_episode(env, task):
    broken = envs.Task(task.task_id, task.env_id, task.split, task.seed, {"question": "no table"})
    rec = run_episode(env, OraclePolicy(), broken)
    assert rec["status"] == "env_error" and rec["error"]
    # the same env object still serves the next episode
    assert run_episode(env, OraclePolicy(), task)["success"] is True
