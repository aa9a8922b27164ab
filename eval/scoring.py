"""Scores from trajectory records: per-env success rates and a per-role overall score.

The paper normalises each task's score by the average over the compared models
before averaging (so no single task dominates); with one env per role here, and to
keep one run's numbers independent of which models it is compared with, the overall
role score is the unweighted mean of per-env success rates. ``normalised_overall``
gives the paper's variant for a set of runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from rollouts.records import env_metric_key


def score_records(records: Iterable[dict[str, Any]], roles: Mapping[str, str]) -> dict[str, float]:
    """Metrics named ``eval/<env>/success_rate``, ``eval/<env>/reward``, ``eval/<role>/score``."""
    per_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        per_env[r["env"]].append(r)
    out: dict[str, float] = {}
    by_role: dict[str, list[float]] = defaultdict(list)
    for env, recs in sorted(per_env.items()):
        rate = sum(bool(r["success"]) for r in recs) / len(recs)
        name = env_metric_key(env)
        out[f"eval/{name}/success_rate"] = rate
        out[f"eval/{name}/reward"] = sum(float(r["reward"]) for r in recs) / len(recs)
        out[f"eval/{name}/episodes"] = float(len(recs))
        out[f"eval/{name}/invalid_action_rate"] = sum(r.get("invalid_actions", 0) > 0 for r in recs) / len(recs)
        by_role[roles.get(env, "held_in")].append(rate)
    for role, rates in by_role.items():
        out[f"eval/{role}/score"] = sum(rates) / len(rates)
    return out


def normalised_overall(runs: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The paper's overall score: each env's success rate divided by its mean over ``runs``, then averaged."""
    envs = sorted({k for m in runs.values() for k in m if k.endswith("/success_rate")})
    means = {e: sum(m.get(e, 0.0) for m in runs.values()) / len(runs) for e in envs}
    return {
        name: sum(m.get(e, 0.0) / means[e] for e in envs if means[e] > 0) / max(1, len(envs))
        for name, m in runs.items()
    }
