"""``agenttune envs check ENV``: does an env hold up? Checker, oracle and random agent on N tasks.

The oracle must solve every task (the grader accepts the gold solution) and a random
agent almost none (the tasks are not trivial). With ``tasks_file`` the tasks come from
an external file (e.g. AgentBench's dbbench JSONL) and the oracle follows each task's
own gold solution, so its success rate measures whether the env grades them right; the
file's malformed records are reported (``bad_tasks``: file, line or record, reason), not run, and so are the
tasks that cannot run here (``not_runnable``: task id and reason, e.g. it needs the network).

It lives in ``rollouts`` because it plays episodes with the rollout policies; ``envs`` imports nothing of them.
"""

from __future__ import annotations

import warnings
from typing import Any

from gymnasium.utils.env_checker import check_env

from envs import registry
from envs.base import LoadedTasks
from envs.config import count_reasons, split_runnable
from rollouts.episode import run_episode
from rollouts.policies.oracle import OraclePolicy
from rollouts.policies.random_policy import RandomPolicy


def check_env_quality(env_id: str, *, num_tasks: int | None = None, tasks_file: str | None = None) -> dict[str, Any]:
    """Check ``num_tasks`` tasks: seeded test tasks (default 20), or the file's first records (default: all).

    A file's malformed records do not fail the check: they are skipped and listed under ``bad_tasks``.
    """
    spec = registry.get_spec(env_id)
    if tasks_file:
        loaded = registry.load_tasks(spec.id, tasks_file, on_bad_task="skip")
        tasks = loaded.window(0, num_tasks) if num_tasks is not None else loaded
    else:
        tasks = LoadedTasks(spec.id, "generated:test", registry.generate_tasks(spec.id, "test", num_tasks or 20))
    tasks, not_runnable = split_runnable(tasks)
    checker_error = None
    with registry.make_env(spec.id) as env:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check_env(env.unwrapped, skip_render_check=True)
        except Exception as e:  # noqa: BLE001 - reported as the check's result, not raised
            checker_error = f"{type(e).__name__}: {e}"
        rates = {}
        statuses: dict[str, dict[str, int]] = {}
        failed: list[dict[str, Any]] = []
        for name, policy in (("oracle", OraclePolicy()), ("random", RandomPolicy())):
            recs = [run_episode(env, policy, t, seed=i) for i, t in enumerate(tasks)]
            rates[name] = sum(r["success"] for r in recs) / max(1, len(recs))
            statuses[name] = {s: sum(r["status"] == s for r in recs) for s in {r["status"] for r in recs}}
            if name == "oracle":
                failed = [_why_failed(r) for r in recs if not r["success"]]
    return {
        "env": spec.id,
        "tasks": len(tasks),
        "source": tasks_file or "generated:test",
        "checker_passed": checker_error is None,
        "checker_error": checker_error,
        "oracle_success_rate": rates["oracle"],
        "random_success_rate": rates["random"],
        "oracle_status": statuses["oracle"],
        "oracle_failures": failed,  # each task the env did not grade right with its own gold solution, and why
        "random_status": statuses["random"],
        "bad_task_count": len(tasks.bad),
        "bad_tasks": tasks.bad_report(),
        "not_runnable_count": len(not_runnable),  # reported, not played: the oracle's rate is over the rest
        "not_runnable_by_reason": count_reasons(not_runnable),
        "not_runnable": not_runnable,
    }


def _why_failed(rec: dict[str, Any]) -> dict[str, Any]:
    """A task the oracle failed: its status, and the error or the env's last words (what a reader checks first)."""
    said = next((t["value"] for t in reversed(rec["conversations"]) if t["from"] == "human"), "")
    why = rec["error"] or " ".join(said.split())[:200]
    return {"task_id": rec["task_id"], "status": rec["status"], "reward": rec["reward"], "why": why}
