"""Run many episodes in parallel on a pool of Ray actors.

    summary = run_rollouts(jobs, policy_spec={"kind": "oracle"}, num_actors=2, out_path="runs/x/trajectories.jsonl")

Each actor holds one policy and one env per env id (recycled after a number of
episodes) and calls the plain ``run_episode`` function. The driver keeps every
actor busy, writes each record the moment it arrives, and skips episodes that a
previous run already wrote to the same file (resume).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from tqdm.auto import tqdm

from envs.base import Task
from rollouts.records import JsonlWriter, read_jsonl, record_id

# A job is one (task, sample_index) episode. Plain dicts: they cross process boundaries.
Job = dict[str, Any]

IN_FLIGHT_PER_ACTOR = 2  # one running, one queued, so an actor never waits on the driver
MAX_ATTEMPTS = 3  # an episode whose actor died is retried on a fresh actor this many times in all


def make_jobs(tasks: Iterable[Task], *, samples_per_task: int = 1, max_turns: int | None = None) -> list[Job]:
    return [
        {"task": t.to_dict(), "sample_index": s, "max_turns": max_turns}
        for t in tasks
        for s in range(samples_per_task)
    ]


class RolloutActor:
    """Holds a policy and envs; ``run`` plays one episode. Kept thin on purpose."""

    def __init__(
        self,
        policy_spec: dict[str, Any],
        episode_timeout_s: float,
        env_kwargs: dict[str, dict[str, Any]] | None = None,
        recycle_envs_after: int = 256,
    ):
        from rollouts.policies import make_policy

        self.policy = make_policy(policy_spec)
        self.timeout_s = episode_timeout_s
        self.recycle_after = recycle_envs_after
        self.env_kwargs = env_kwargs or {}
        self._envs: dict[str, Any] = {}
        self._uses: Counter[str] = Counter()

    def run(self, job: Job) -> dict[str, Any]:
        from rollouts.episode import run_episode

        task = Task.from_dict(job["task"])
        env = self._env(task.env_id)
        seed = (task.seed or 0) * 1009 + job["sample_index"]
        return run_episode(
            env,
            self.policy,
            task,
            sample_index=job["sample_index"],
            max_turns=job.get("max_turns"),
            timeout_s=self.timeout_s,
            seed=seed,
        )

    def _env(self, env_id: str) -> Any:
        import envs

        if self._uses[env_id] >= self.recycle_after and env_id in self._envs:
            self._envs.pop(env_id).close()  # a long-lived env can leak state or memory
            self._uses[env_id] = 0
        if env_id not in self._envs:
            self._envs[env_id] = envs.make_env(env_id, **self.env_kwargs.get(env_id, {}))
        self._uses[env_id] += 1
        return self._envs[env_id]


@dataclass
class RolloutSummary:
    total: int = 0
    skipped_existing: int = 0
    repaired_lines: int = 0
    finished: int = 0
    actor_restarts: int = 0
    wall_s: float = 0.0
    status: Counter[str] = field(default_factory=Counter)
    per_env: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, rec: dict[str, Any]) -> None:
        self.finished += 1
        self.status[rec["status"]] += 1
        env = self.per_env[rec["env"]]
        env["episodes"] += 1
        env["success"] += bool(rec["success"])
        env[f"status_{rec['status']}"] += 1

    @property
    def success_rate(self) -> float:
        return sum(c["success"] for c in self.per_env.values()) / max(1, self.finished)

    @property
    def episodes_per_s(self) -> float:
        return self.finished / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "skipped_existing": self.skipped_existing,
            "repaired_lines": self.repaired_lines,
            "finished": self.finished,
            "actor_restarts": self.actor_restarts,
            "wall_s": round(self.wall_s, 3),
            "episodes_per_s": round(self.episodes_per_s, 3),
            "success_rate": self.success_rate,
            "status": dict(self.status),
            "per_env": {
                env: {**c, "success_rate": c["success"] / max(1, c["episodes"])} for env, c in self.per_env.items()
            },
        }


def run_rollouts(
    jobs: list[Job],
    *,
    policy_spec: dict[str, Any],
    num_actors: int,
    out_path: str | Path,
    episode_timeout_s: float = 300.0,
    actor_options: dict[str, Any] | None = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    env_kwargs: dict[str, dict[str, Any]] | None = None,
) -> RolloutSummary:
    """Run ``jobs`` on ``num_actors`` actors, appending each record to ``out_path`` (JSONL)."""
    writer = JsonlWriter(out_path)  # repairs a line cut by a crash before we read what is done
    done = {r["id"] for r in read_jsonl(out_path)}
    todo = [j for j in jobs if record_id(j["task"]["task_id"], j["sample_index"]) not in done]
    summary = RolloutSummary(
        total=len(jobs), skipped_existing=len(jobs) - len(todo), repaired_lines=writer.repaired_lines
    )
    if not todo:
        writer.close()
        return summary
    opts = {"num_cpus": 1, **(actor_options or {})}
    actor_cls = ray.remote(**opts)(RolloutActor)
    n = min(num_actors, len(todo))
    actors = [actor_cls.remote(policy_spec, episode_timeout_s, env_kwargs) for _ in range(n)]
    queue = list(reversed(todo))
    attempts: Counter[str] = Counter()
    in_flight: dict[ray.ObjectRef, tuple[int, Job, Any]] = {}
    started = time.monotonic()
    bar = tqdm(total=len(todo), desc="rollout", unit="ep", disable=not progress, dynamic_ncols=True)

    def submit(slot: int) -> None:
        job = queue.pop()
        in_flight[actors[slot].run.remote(job)] = (slot, job, actors[slot])

    with writer:
        for slot in range(n):
            for _ in range(IN_FLIGHT_PER_ACTOR):
                if queue:
                    submit(slot)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            slot, job, actor = in_flight.pop(ref)
            try:
                rec = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                rec = _on_actor_death(job, e, attempts, queue, policy_spec)
                if actors[slot] is actor:  # the first failed episode of that actor replaces it
                    actors[slot] = actor_cls.remote(policy_spec, episode_timeout_s, env_kwargs)
                    summary.actor_restarts += 1
            if rec is not None:
                writer.write(rec)
                summary.add(rec)
                if on_record:
                    on_record(rec)
                bar.update(1)
                bar.set_postfix(success=f"{summary.success_rate:.2f}", in_flight=len(in_flight), refresh=False)
            if queue:
                submit(slot)
    bar.close()
    for a in actors:
        ray.kill(a)
    summary.wall_s = time.monotonic() - started
    return summary


def _on_actor_death(
    job: Job, err: Exception, attempts: Counter[str], queue: list[Job], policy_spec: dict[str, Any]
) -> dict[str, Any] | None:
    """Requeue the episode of a dead actor; after MAX_ATTEMPTS record it as an env_error instead of losing it."""
    from rollouts.records import SCHEMA_VERSION

    rid = record_id(job["task"]["task_id"], job["sample_index"])
    attempts[rid] += 1
    if attempts[rid] < MAX_ATTEMPTS:
        queue.append(job)
        return None
    t = job["task"]
    return {
        "id": rid,
        "conversations": [],
        "env": t["env_id"],
        "task_id": t["task_id"],
        "split": t["split"],
        "seed": t.get("seed"),
        "sample_index": job["sample_index"],
        "reward": 0.0,
        "success": False,
        "status": "env_error",
        "turns": 0,
        "invalid_actions": 0,
        "error": f"rollout actor died {attempts[rid]} times: {type(err).__name__}",
        "duration_s": 0.0,
        "policy": {"kind": policy_spec.get("kind"), "model": policy_spec.get("model")},
        "schema_version": SCHEMA_VERSION,
    }
