"""Mind2Web's step-level metrics, as AgentBench computes them for its Mind2Web task.

    op_f1("TYPE New York", "TYPE New York")   # 1.0
    op_f1("TYPE New", "TYPE New York")        # 0.8
    op_f1("CLICK", "CLICK")                   # 1.0

- element accuracy: the chosen element is the recorded one;
- operation F1: F1 between the sets of whitespace tokens of the predicted and the recorded "OP value"
  strings (case-sensitive, as released; "CLICK" has no value);
- step success: the element is right and the operation F1 is 1.

An episode's reward is the fraction of its steps that succeeded, rounded to 3 decimals, so that the paper's
filter rule "reward >= 2/3", written 0.667 in configs, keeps an episode with 2 of 3 steps right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class StepScore:
    step: int
    answer: str | None  # the letter chosen; None when the reply could not be read
    element_correct: bool
    op_f1: float
    step_success: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def action_string(op: str, value: str) -> str:
    """The "OP value" string the F1 compares ("CLICK", "TYPE Denver"); a value given with CLICK counts against it,
    as in AgentBench."""
    return f"{op} {value}".strip()


def op_f1(predicted: str, gold: str) -> float:
    pred, label = set(predicted.split()), set(gold.split())
    if not pred and not label:
        return 1.0
    if not pred or not label:
        return 0.0
    common = len(pred & label)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(label)
    return 2 * precision * recall / (precision + recall)


def score_step(step: int, answer: str | None, element_correct: bool, predicted: str, gold: str) -> StepScore:
    f1 = op_f1(predicted, gold) if answer is not None else 0.0
    return StepScore(step, answer, element_correct, round(f1, 4), element_correct and f1 >= 1.0)


def missed(step: int) -> StepScore:
    """A step the agent did not answer readably, or never reached: it scores nothing."""
    return StepScore(step, None, False, 0.0, False)


def episode_metrics(scores: list[StepScore], num_steps: int) -> dict[str, Any]:
    """The episode's metrics over all its ``num_steps`` steps (a step not reached counts as failed)."""
    steps = scores + [missed(i) for i in range(len(scores), num_steps)]
    n = max(1, num_steps)
    succeeded = sum(s.step_success for s in steps)
    return {
        "element_accuracy": round(sum(s.element_correct for s in steps) / n, 4),
        "op_f1": round(sum(s.op_f1 for s in steps) / n, 4),
        "step_success_rate": round(succeeded / n, 4),
        "steps_succeeded": succeeded,
        "num_steps": num_steps,
        "step_scores": [s.to_dict() for s in scores],
    }


def episode_reward(scores: list[StepScore], num_steps: int) -> float:
    return round(sum(s.step_success for s in scores) / max(1, num_steps), 3)
