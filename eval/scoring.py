"""Scores the way the AgentTuning paper reports them.

Every task has one headline score. For an env it is what ``EnvSpec.headline`` names, over its episodes: the
success rate, or the mean reward where the reward is the task's graded score (WebShop's attribute match,
KG's answer F1). For a general benchmark it is the benchmark's main metric. A role's score (``held_in``,
``held_out``, ``general``) is the unweighted mean of its tasks' headline scores, so one run's numbers do not
depend on what it is compared with; the paper's normalised overall score, which divides each task's score
by a set of baseline models' mean first, belongs to a comparison (``eval.compare``).

``ModelScores`` is what one evaluated model scored, by role and task. The eval stage saves it as
``scores.json`` beside the model's trajectories and on its MLflow run; ``agenttune compare`` reads it back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rollouts.records import env_metric_key, write_json_atomic

ROLES = ("held_in", "held_out", "general")
SCORES_FILE = "scores.json"


def episode_metrics(
    records: Iterable[dict[str, Any]], headlines: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-env metrics (``eval/<env>/success_rate``, ``reward``, ``episodes``, ``invalid_action_rate`` and
    ``score``, the headline) and each env's headline score. ``headlines`` maps env id -> "success_rate" | "reward"."""
    per_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        per_env[r["env"]].append(r)
    metrics: dict[str, float] = {}
    scores: dict[str, float] = {}
    for env, recs in sorted(per_env.items()):
        n = len(recs)
        values = {
            "success_rate": sum(bool(r["success"]) for r in recs) / n,
            "reward": sum(float(r["reward"]) for r in recs) / n,
            "episodes": float(n),
            "invalid_action_rate": sum(r.get("invalid_actions", 0) > 0 for r in recs) / n,
        }
        values["score"] = scores[env] = values[headlines.get(env, "success_rate")]
        metrics |= {f"eval/{env_metric_key(env)}/{name}": v for name, v in values.items()}
    return metrics, scores


@dataclass
class ModelScores:
    """One evaluated model's headline score per task, by role; and where the model came from."""

    model: str  # its label in the run: "tuned", "base", or a name given on the command line
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> task -> headline score
    checkpoint: str | None = None
    digest: str | None = None  # sha256 of the checkpoint's files (train.formats.content_digest)
    run: str | None = None  # the run it belongs to (run.name), for tables that show many runs

    def role_scores(self) -> dict[str, float]:
        """The mean headline score of each role that has tasks."""
        return {role: sum(t.values()) / len(t) for role in ROLES if (t := self.tasks.get(role))}

    def metrics(self) -> dict[str, float]:
        """``eval/<role>/score`` for every role with tasks."""
        return {f"eval/{role}/score": score for role, score in self.role_scores().items()}

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, asdict(self) | {"role_scores": self.role_scores()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelScores:
        tasks = {role: {task: float(v) for task, v in scores.items()} for role, scores in data["tasks"].items()}
        return cls(data["model"], tasks, data.get("checkpoint"), data.get("digest"), data.get("run"))

    @classmethod
    def load(cls, path: str | Path) -> ModelScores:
        return cls.from_dict(json.loads(Path(path).read_text()))
