from rollouts.config import FilterConfig
from rollouts.filters import conversation_digest, filter_records, to_agentinstruct


def rec(i, *, reward=1.0, status="completed", invalid=0, env="agenttune/DB-v0", reply="Action: Answer", turns=None):
    conv = turns or [
        {"from": "human", "value": f"question {i}", "loss": None},
        {"from": "gpt", "value": reply, "loss": True},
    ]
    return {
        "id": f"t{i}-s0",
        "env": env,
        "reward": reward,
        "status": status,
        "invalid_actions": invalid,
        "conversations": conv,
        "task_id": f"t{i}",
        "split": "train",
        "seed": i,
        "policy": {"kind": "oracle"},
    }


def test_each_drop_is_charged_to_its_first_failing_rule():
    records = [
        rec(0),  # kept
        rec(1, reward=0.0),  # reward_threshold
        rec(2, reward=0.0, status="agent_error"),  # reward_threshold (first rule wins)
        rec(3, status="task_limit_reached"),  # completed_status
        rec(4, invalid=1),  # well_formed
        rec(5, turns=[{"from": "gpt", "value": "x", "loss": True}]),  # well_formed: no human turn first
        rec(6, reply="word " * 50),  # token_budget
        rec(0),  # dedupe (same conversation as record 0)
        rec(7, env="agenttune/WebShop-v0", reward=0.7),  # kept: per-env threshold 0.667
    ]
    kept, report = filter_records(
        records,
        FilterConfig(min_reward_per_env={"agenttune/WebShop-v0": 0.667}, max_tokens=20),
        count_tokens=lambda r: sum(len(t["value"].split()) for t in r["conversations"]),
    )
    assert [r["id"] for r in kept] == ["t0-s0", "t7-s0"]
    d = report.to_dict()
    assert d["dropped"] == {
        "reward_threshold": 2,
        "completed_status": 1,
        "well_formed": 2,
        "token_budget": 1,
        "dedupe": 1,
    }
    assert d["total"] == 9 and d["kept"] == 2 and sum(d["dropped"].values()) + d["kept"] == d["total"]
    assert d["kept_per_env"] == {"agenttune/DB-v0": 1, "agenttune/WebShop-v0": 1}


def test_rules_can_be_switched_off():
    records = [rec(1, status="timeout"), rec(1, status="timeout"), rec(2, invalid=3)]
    kept, report = filter_records(
        records, FilterConfig(require_completed=False, require_well_formed=False, dedupe=False)
    )
    assert len(kept) == 3 and report.dropped.total() == 0


def test_dedupe_ignores_whitespace_only_differences():
    a = rec(1, reply="Action:  Answer")["conversations"]
    b = rec(1, reply="Action: Answer")["conversations"]
    assert conversation_digest(a) == conversation_digest(b)


def test_agentinstruct_shape():
    out = to_agentinstruct(rec(3))
    assert set(out) == {"id", "conversations", "meta"}
    assert out["conversations"][1] == {"from": "gpt", "value": "Action: Answer", "loss": True}
    assert out["meta"]["task_id"] == "t3"
