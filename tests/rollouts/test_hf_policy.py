"""A local Hugging Face checkpoint as the policy, through the real episode loop."""

import pytest

import envs
from rollouts.episode import run_episode
from rollouts.errors import PolicyConfigError
from rollouts.policies import make_policy


def test_hf_policy_plays_a_db_episode(tiny_checkpoint):
    policy = make_policy({"kind": "hf", "model": str(tiny_checkpoint), "max_tokens": 16})
    task = envs.generate_tasks("agenttune/DB-v0", "test", 1)[0]
    with envs.make_env("agenttune/DB-v0") as env:
        rec = run_episode(env, policy, task, max_turns=2)
    assert rec["policy"] == {"kind": "hf", "model": str(tiny_checkpoint)}
    assert rec["error"] is None and rec["status"] not in {"agent_error", "env_error", "context_limit_exceeded"}
    replies = [t["value"] for t in rec["conversations"] if t["from"] == "gpt" and t["loss"]]  # not the "Ok."
    assert rec["turns"] == len(replies) >= 1
    # The replies are the model's, greedily decoded: replaying the episode's opening (instruction, the fixed
    # acknowledgement, the task) gives its first reply.
    roles = {"human": "user", "gpt": "assistant"}
    opening = [{"role": roles[t["from"]], "content": t["value"]} for t in rec["conversations"][:3]]
    assert [m["role"] for m in opening] == ["user", "assistant", "user"]
    assert policy.act(opening, task=task) == replies[0]


def test_context_limit_is_detected(tiny_checkpoint):
    from rollouts.episode import ContextLimitError

    policy = make_policy({"kind": "hf", "model": str(tiny_checkpoint), "max_tokens": 16})
    policy.max_context = 64
    task = envs.generate_tasks("agenttune/DB-v0", "test", 1)[0]
    with pytest.raises(ContextLimitError, match="exceeds the 64-token context"):
        policy.act([{"role": "user", "content": "word " * 200}], task=task)


def test_hf_policy_needs_a_model():
    with pytest.raises(PolicyConfigError, match="rollout.policy.model"):
        make_policy({"kind": "hf", "model": None})


@pytest.mark.gpu
def test_on_a_gpu_the_hf_policy_runs_in_bf16(tiny_checkpoint):
    import torch

    policy = make_policy({"kind": "hf", "model": str(tiny_checkpoint), "max_tokens": 8})
    assert policy.device == "cuda" and next(policy.lm.parameters()).dtype == torch.bfloat16
    task = envs.generate_tasks("agenttune/DB-v0", "test", 1)[0]
    with envs.make_env("agenttune/DB-v0") as env:
        assert run_episode(env, policy, task, max_turns=1)["error"] is None
