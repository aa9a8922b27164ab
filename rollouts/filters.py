"""Keep the good trajectories: named rules, each drop counted by the rule that made it.

    kept, report = filter_records(records, FilterConfig(min_reward=1.0), max_tokens=4096, count_tokens=n_tokens)

Rules run in a fixed order and a record is charged to the first rule it fails, so
the drop counts add up exactly to ``len(records) - len(kept)``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rollouts.config import FilterConfig

RULES = ("reward_threshold", "completed_status", "well_formed", "token_budget", "dedupe")


@dataclass
class FilterReport:
    total: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    kept_per_env: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": {rule: self.dropped.get(rule, 0) for rule in RULES},
            "kept_per_env": dict(self.kept_per_env),
        }


def filter_records(
    records: Iterable[dict[str, Any]],
    rules: FilterConfig,
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[dict[str, Any]], int] | None = None,
) -> tuple[list[dict[str, Any]], FilterReport]:
    """Apply ``rules``; ``max_tokens`` (default ``rules.max_tokens``) is the token budget that ``count_tokens``
    checks, and the ``token_budget`` rule is off without either."""
    report = FilterReport()
    seen: set[str] = set()
    kept = []
    budget = max_tokens if max_tokens is not None else rules.max_tokens
    count = count_tokens if budget is not None else None
    for rec in records:
        report.total += 1
        rule = _first_failed_rule(rec, rules, budget, count, seen)
        if rule:
            report.dropped[rule] += 1
            continue
        kept.append(rec)
        report.kept += 1
        report.kept_per_env[rec.get("env", "?")] += 1
    return kept, report


def _first_failed_rule(
    rec: dict[str, Any],
    rules: FilterConfig,
    max_tokens: int | None,
    count_tokens: Callable[[dict[str, Any]], int] | None,
    seen: set[str],
) -> str | None:
    threshold = rules.min_reward_per_env.get(rec.get("env", ""), rules.min_reward)
    if float(rec.get("reward", 0.0)) < threshold:
        return "reward_threshold"
    if rules.require_completed and rec.get("status") != "completed":
        return "completed_status"
    if rules.require_well_formed and (rec.get("invalid_actions", 0) > 0 or not _alternates(rec["conversations"])):
        return "well_formed"
    if count_tokens is not None and count_tokens(rec) > max_tokens:
        return "token_budget"
    if rules.dedupe:
        key = conversation_digest(rec["conversations"])
        if key in seen:
            return "dedupe"
        seen.add(key)
    return None


def _alternates(turns: list[dict[str, Any]]) -> bool:
    """A trainable trajectory starts with a human turn, alternates, and has at least one gpt turn."""
    roles = [t["from"] for t in turns if t["from"] != "system"]
    if not roles or roles[0] != "human" or "gpt" not in roles:
        return False
    return all(a != b for a, b in zip(roles, roles[1:], strict=False)) and all(t["value"].strip() for t in turns)


def conversation_digest(turns: list[dict[str, Any]]) -> str:
    text = json.dumps([(t["from"], " ".join(t["value"].split())) for t in turns], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def to_agentinstruct(rec: dict[str, Any]) -> dict[str, Any]:
    """The AgentInstruct shape (``id`` + ``conversations``); provenance kept under ``meta``."""
    meta = {k: rec.get(k) for k in ("env", "task_id", "split", "seed", "reward", "policy")}
    return {"id": rec["id"], "conversations": rec["conversations"], "meta": meta}
