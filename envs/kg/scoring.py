"""Scoring a final answer as AgentBench's KnowledgeGraph task does: F1 and exact match of answer sets.

    f1_score({"a", "b"}, {"b", "c"})   # 0.5: precision 1/2, recall 1/2
    exact_match({"3"}, {"3"})          # True

The episode's reward is the F1 and its ``success`` the exact match. Counts are
compared as one-element sets of their decimal text.
"""

from __future__ import annotations

from collections.abc import Collection


def f1_score(predicted: Collection[str], gold: Collection[str]) -> float:
    """Harmonic mean of precision and recall of ``predicted`` against ``gold`` (1.0 when both are empty)."""
    predicted, gold = set(predicted), set(gold)
    if not predicted and not gold:
        return 1.0
    hits = len(predicted & gold)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(predicted: Collection[str], gold: Collection[str]) -> bool:
    return set(predicted) == set(gold)
