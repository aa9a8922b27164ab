"""Run many episodes on an elastic pool of asyncio Ray actors.

    summary = run_rollouts(jobs, policy=PolicyConfig(kind="oracle"), out_path="runs/x/trajectories.jsonl",
                           pool=PoolConfig(min_actors=1, max_actors=8, concurrency=64))

Each actor runs up to ``concurrency`` episodes at once on its event loop: policy calls
are awaited (the async OpenAI client for HTTP policies), env steps run on one thread per
env (``rollouts.envpool``). The driver

- keeps every actor's slots full and writes each record the moment it arrives, exactly
  once per (task, sample); a rerun with the same output file skips what is written (resume);
- grows the pool while work is queued and the cluster has free CPUs (up to
  ``max_actors``) and lets idle actors go once the queue is empty (down to ``min_actors``);
- reruns the episodes of an actor that died. When its node went away they run again
  anywhere. When the actor process itself died, one of its episodes may be the cause, so
  each reruns alone on an actor ("solo"): an episode that kills its actor ``max_attempts``
  times alone is recorded as ``env_error``, and its neighbours are not blamed.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from tqdm.auto import tqdm

from envs.base import Task
from rollouts.config import PolicyConfig, PoolConfig
from rollouts.errors import RolloutError
from rollouts.records import JsonlWriter, episode_record, read_jsonl, record_id

log = logging.getLogger(__name__)

# A job is one (task, sample_index) episode. Plain dicts: they cross process boundaries.
Job = dict[str, Any]

ERROR_STATUSES = ("agent_error", "env_error", "timeout")
CLOSE_TIMEOUT_S = 10.0  # how long a finished actor may take to close its envs before it is killed
MAX_NODE_LOSSES = 10  # an episode whose node died this many times is recorded as env_error
START_FAILURES_BEFORE_GIVING_UP = 3  # actors that die in __init__ this many times in a row: a config error


def make_jobs(tasks: Iterable[Task], *, samples_per_task: int = 1, max_turns: int | None = None) -> list[Job]:
    return [
        {"task": t.to_dict(), "sample_index": s, "max_turns": max_turns}
        for t in tasks
        for s in range(samples_per_task)
    ]


def import_env_modules(modules: Iterable[str]) -> None:
    """Import modules that register extra environments (``envs.register_env``) in this process."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise RolloutError(f"rollout.env_modules: cannot import {name!r}: {e}") from e


class RolloutActor:
    """Plays episodes concurrently on its event loop. Kept thin: the work is in ``arun_episode``."""

    def __init__(
        self,
        policy: PolicyConfig,
        episode_timeout_s: float,
        env_kwargs: dict[str, dict[str, Any]] | None,
        recycle_envs_after: int,
        env_modules: tuple[str, ...] = (),
        endpoints: list[str] | None = None,
        prewarm: dict[str, int] | None = None,
    ):
        from rollouts.envpool import EnvPool
        from rollouts.policies import make_policy

        import_env_modules(env_modules)
        self.policy = make_policy(policy, endpoints)
        self.timeout_s = episode_timeout_s
        self.envs = EnvPool(env_kwargs, recycle_after=recycle_envs_after)
        self.prewarm = prewarm or {}

    async def ready(self) -> str:
        """The id of the node this actor runs on, once its envs are made and warmed up (``prewarm``: how many of
        each id; the driver waits for this before sending work)."""
        if self.prewarm:
            await self.envs.prewarm(self.prewarm)
        return ray.get_runtime_context().get_node_id()

    async def run(self, job: Job) -> dict[str, Any]:
        from rollouts.episode import arun_episode

        task = Task.from_dict(job["task"])
        try:
            slot = await self.envs.acquire(task.env_id)
        except Exception as e:  # noqa: BLE001 - a bad env config fails its episodes, not the actor
            why = f"cannot create {task.env_id}: {type(e).__name__}: {e}"
            return error_record(job, "env_error", why, self.policy.describe())
        reusable = False
        try:
            rec = await arun_episode(
                slot.env,
                self.policy,
                task,
                sample_index=job["sample_index"],
                max_turns=job.get("max_turns"),
                timeout_s=self.timeout_s,
                seed=(task.seed or 0) * 1009 + job["sample_index"],
                env_executor=slot.executor,
            )
            reusable = rec["status"] not in ("env_error", "timeout")
            return rec
        finally:
            self.envs.release(slot, reusable=reusable)

    async def env_stats(self) -> dict[str, int]:
        return self.envs.stats()

    async def close(self, timeout_s: float) -> None:
        """Close this actor's envs (an OS env's sandboxes) before the driver kills it."""
        await asyncio.to_thread(self.envs.close, timeout_s)


def error_record(job: Job, status: str, error: str, policy: dict[str, Any]) -> dict[str, Any]:
    """The record of an episode that could not be played (so it is counted, never lost)."""
    return episode_record(job["task"], job["sample_index"], policy=policy, status=status, error=error)


@dataclass
class RolloutSummary:
    total: int = 0
    skipped_existing: int = 0
    repaired_lines: int = 0
    finished: int = 0
    actors_started: int = 0
    actors_retired: int = 0  # let go when idle with nothing left to queue
    peak_actors: int = 0
    peak_requested: int = 0  # the most actors the pool asked an autoscaler to make room for
    actor_deaths: int = 0
    requeued: int = 0  # episodes run again after their actor died ...
    lost_with_node: int = 0  # ... of which this many because the actor's node left the cluster
    duplicates_ignored: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0  # until the first actor was ready to play
    actor_ready_s: list[float] = field(default_factory=list)  # when each actor became ready, from the start
    status: Counter[str] = field(default_factory=Counter)
    per_env: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_node: Counter[str] = field(default_factory=Counter)  # episodes finished per Ray node id

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
    def errors(self) -> int:
        return sum(self.status[s] for s in ERROR_STATUSES)

    @property
    def episodes_per_s(self) -> float:
        return self.finished / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "skipped_existing": self.skipped_existing,
            "repaired_lines": self.repaired_lines,
            "finished": self.finished,
            "actors_started": self.actors_started,
            "actors_retired": self.actors_retired,
            "peak_actors": self.peak_actors,
            "peak_requested": self.peak_requested,
            "actor_deaths": self.actor_deaths,
            "requeued": self.requeued,
            "lost_with_node": self.lost_with_node,
            "duplicates_ignored": self.duplicates_ignored,
            "wall_s": round(self.wall_s, 3),
            "startup_s": round(self.startup_s, 3),
            "episodes_per_s": round(self.episodes_per_s, 3),
            "success_rate": self.success_rate,
            "status": dict(self.status),
            "per_env": {
                env: {**c, "success_rate": c["success"] / max(1, c["episodes"])} for env, c in self.per_env.items()
            },
            "per_node": dict(self.per_node),
        }


def run_rollouts(
    jobs: list[Job],
    *,
    policy: PolicyConfig,
    pool: PoolConfig,
    out_path: str | Path,
    env_kwargs: dict[str, dict[str, Any]] | None = None,
    env_modules: Iterable[str] = (),
    endpoints: list[str] | None = None,
    scale_interval_s: float = 1.0,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> RolloutSummary:
    """Run ``jobs`` with ``policy`` on an actor pool sized by ``pool``, appending each record to ``out_path``
    (JSONL); see the module docstring. ``env_kwargs`` are constructor kwargs per env id; ``endpoints`` the
    servers of a served policy (``rollouts.serving.serve``)."""
    from rollouts.policies import worker_env_vars

    actor_options: dict[str, Any] = {"num_cpus": pool.actor_cpus, "num_gpus": actor_gpus(policy)}
    if secrets := worker_env_vars(policy):  # e.g. the API key, for actors on other nodes
        actor_options["runtime_env"] = {"env_vars": secrets}
    driver = _Driver(
        policy=policy,
        pool=pool,
        actor_options=actor_options,
        actor_args=(
            policy,
            pool.episode_timeout_s,
            env_kwargs,
            pool.recycle_envs_after,
            tuple(env_modules),
            endpoints,
            prewarm_counts(jobs, pool.concurrency) if pool.prewarm_envs else None,
        ),
        scale_interval_s=scale_interval_s,
        on_record=on_record,
    )
    return driver.run(jobs, Path(out_path), progress=progress)


def prewarm_counts(jobs: list[Job], concurrency: int) -> dict[str, int]:
    """How many envs of each id an actor makes before it takes work: its ``concurrency`` slots shared in
    proportion to the jobs' envs (rounded up), never more than that env's jobs."""
    counts = Counter(job["task"]["env_id"] for job in jobs)
    total = sum(counts.values()) or 1
    return {env_id: min(n, math.ceil(concurrency * n / total)) for env_id, n in counts.items()}


def actor_gpus(policy: PolicyConfig) -> float:
    """GPUs a rollout actor reserves: an in-actor hf model takes ``policy.gpus``, or one when the cluster has any
    (then it runs in bf16); every other policy computes elsewhere (an endpoint, the served replicas) or not at all."""
    if policy.kind != "hf":
        return 0.0
    if policy.gpus is not None:
        return policy.gpus
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


@dataclass(eq=False)
class _Actor:
    handle: Any
    ready_ref: ray.ObjectRef
    node_id: str | None = None  # set once the actor is up
    in_flight: set[ray.ObjectRef] = field(default_factory=set)
    # "normal"; "draining": gets no new work until empty, then turns "solo": runs suspects one at a time
    mode: str = "normal"


class _Driver:
    def __init__(
        self,
        *,
        policy: PolicyConfig,
        pool: PoolConfig,
        actor_options: dict[str, Any],
        actor_args: tuple[Any, ...],
        scale_interval_s: float,
        on_record: Callable[[dict[str, Any]], None] | None,
    ):
        # What a record says of a policy whose actor never came up: its kind and model, never a secret.
        self.policy_info = {"kind": policy.kind, "model": policy.model}
        self.min_actors, self.max_actors = pool.min_actors, pool.max_actors
        self.concurrency = pool.concurrency
        self.max_attempts = pool.max_attempts
        # What one actor reserves, by Ray resource name (GPUs only for an in-actor model on a GPU cluster).
        needs = {"CPU": float(actor_options.get("num_cpus", 0)), "GPU": float(actor_options.get("num_gpus", 0))}
        self.actor_needs = {name: n for name, n in needs.items() if n > 0}
        # Async actor: its methods share one event loop; the extra slots are for ready()/env_stats().
        self.actor_cls = ray.remote(**{**actor_options, "max_concurrency": self.concurrency + 4})(RolloutActor)
        self.actor_args = actor_args
        self.scale_interval_s = scale_interval_s
        self.on_record = on_record
        self.actors: list[_Actor] = []
        self.refs: dict[ray.ObjectRef, tuple[_Actor, Job | None]] = {}  # job None: the actor's ready() call
        self.queue: deque[Job] = deque()
        self.suspects: deque[Job] = deque()  # in flight when an actor process died; rerun one at a time
        self.solo_deaths: Counter[str] = Counter()
        self.node_losses: Counter[str] = Counter()
        self.start_failures = 0
        self.requested = 0  # actors asked of the autoscaler (request_resources)
        self.last_scale = -math.inf
        self.waiting_since: float | None = None

    # ------------------------------------------------------------------ main loop

    def run(self, jobs: list[Job], out_path: Path, *, progress: bool) -> RolloutSummary:
        writer = JsonlWriter(out_path)  # repairs a line cut by a crash before we read what is done
        self.written = {r["id"] for r in read_jsonl(out_path)}
        todo = [j for j in jobs if _rid(j) not in self.written]
        self.queue.extend(todo)
        s = self.summary = RolloutSummary(
            total=len(jobs), skipped_existing=len(jobs) - len(todo), repaired_lines=writer.repaired_lines
        )
        self.started = started = time.monotonic()
        self.bar = tqdm(total=len(todo), desc="rollout", unit="ep", disable=not progress, dynamic_ncols=True)
        try:
            with writer:
                self.writer = writer
                while self.queue or self.suspects or self._episodes_in_flight():
                    self._scale()
                    self._dispatch()
                    self._wait_and_collect()
        finally:
            self.bar.close()
            _close_and_kill(self.actors)
            self._ask_cluster(0)  # the autoscaler may remove the nodes once they are idle
        s.wall_s = time.monotonic() - started
        return s

    def _wait_and_collect(self) -> None:
        if not self.refs:
            time.sleep(min(self.scale_interval_s, 0.2))  # nothing to wait on until an actor can be placed
            return
        refs = list(self.refs)
        ready, _ = ray.wait(refs, num_returns=1, timeout=self.scale_interval_s)
        if ready:  # take everything else that is done too, without waiting
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            if ref not in self.refs:  # dropped when its actor died earlier in this batch
                continue
            actor, job = self.refs.pop(ref)
            if job is None:
                self._on_ready(actor, ref)
            else:
                self._on_result(actor, job, ref)

    def _episodes_in_flight(self) -> int:
        return sum(len(a.in_flight) for a in self.actors)

    # ------------------------------------------------------------------ work

    def _dispatch(self) -> None:
        up = [a for a in self.actors if a.node_id is not None]
        if self.suspects and up and all(a.mode == "normal" for a in up):
            min(up, key=lambda a: len(a.in_flight)).mode = "draining"  # one actor clears the suspects
        for a in up:
            if a.mode != "normal":
                if a.in_flight:
                    continue
                if self.suspects:
                    a.mode = "solo"
                    self._submit(a, self.suspects.popleft())
                    continue
                a.mode = "normal"
            while self.queue and len(a.in_flight) < self.concurrency:
                self._submit(a, self.queue.popleft())

    def _submit(self, a: _Actor, job: Job) -> None:
        ref = a.handle.run.remote(job)
        a.in_flight.add(ref)
        self.refs[ref] = (a, job)

    def _on_result(self, a: _Actor, job: Job, ref: ray.ObjectRef) -> None:
        try:
            rec = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            self._on_actor_death(a, e, job)
            return
        except ray.exceptions.RayTaskError as e:  # a bug outside arun_episode's guard: counted, not lost
            rec = error_record(job, "env_error", f"rollout actor raised: {e.cause!r}", self.policy_info)
        except ray.exceptions.RayError as e:  # the result itself was lost (object store, owner): play it again
            self._on_actor_death(a, e, job)
            return
        a.in_flight.discard(ref)
        self._write(rec, a.node_id)

    def _write(self, rec: dict[str, Any], node_id: str | None) -> None:
        s = self.summary
        if rec["id"] in self.written:  # cannot happen by construction; guarded so the file never repeats an id
            s.duplicates_ignored += 1
            return
        self.written.add(rec["id"])
        self.writer.write(rec)
        s.add(rec)
        if node_id:
            s.per_node[node_id] += 1
        if self.on_record:
            self.on_record(rec)
        self.bar.update(1)
        self._show()

    def _show(self) -> None:
        s = self.summary
        self.bar.set_postfix(
            success=f"{s.success_rate:.2f}",
            in_flight=self._episodes_in_flight(),
            errors=s.errors,
            actors=sum(a.node_id is not None for a in self.actors),
            refresh=False,
        )

    # ------------------------------------------------------------------ faults

    def _on_actor_death(self, a: _Actor, err: Exception, job: Job) -> None:
        """Requeue every episode the dead actor held; ``job`` is the one whose call reported the death."""
        s = self.summary
        if a in self.actors:
            self.actors.remove(a)
        s.actor_deaths += 1
        held = [job] + [self.refs.pop(r)[1] for r in list(a.in_flight) if r in self.refs]
        a.in_flight.clear()
        node_lost = a.node_id is not None and (not _node_alive(a.node_id) or "node has died" in str(err))
        alone = a.mode == "solo" and len(held) == 1
        log.warning(
            "rollout actor on node %s died (%s) with %d episodes in flight; %s",
            a.node_id,
            "node lost" if node_lost else type(err).__name__,
            len(held),
            "rerunning them" if node_lost else "rerunning each alone",
        )
        for j in held:
            rid = _rid(j)
            if node_lost:
                self.node_losses[rid] += 1
                if self.node_losses[rid] >= MAX_NODE_LOSSES:
                    self._give_up(j, f"its node died {self.node_losses[rid]} times")
                else:
                    self.queue.appendleft(j)
                    s.requeued += 1
                    s.lost_with_node += 1
                continue
            if alone:  # it ran alone, so it is what killed the actor
                self.solo_deaths[rid] += 1
                if self.solo_deaths[rid] >= self.max_attempts:
                    self._give_up(j, f"its rollout actor died {self.solo_deaths[rid]} times running it alone")
                    continue
            self.suspects.append(j)
            s.requeued += 1

    def _give_up(self, job: Job, why: str) -> None:
        self._write(error_record(job, "env_error", f"episode not finished: {why}", self.policy_info), None)

    # ------------------------------------------------------------------ pool size

    def _on_ready(self, a: _Actor, ref: ray.ObjectRef) -> None:
        try:
            a.node_id = ray.get(ref)
        except ray.exceptions.RayError as e:  # died in __init__ (bad policy config, lost node)
            if a in self.actors:
                self.actors.remove(a)
            self.start_failures += 1
            if self.start_failures >= START_FAILURES_BEFORE_GIVING_UP:
                raise RolloutError(
                    f"rollout actors fail to start ({self.start_failures} in a row): {_init_error(e)}"
                ) from e
            return
        self.start_failures = 0
        self.summary.actor_ready_s.append(time.monotonic() - self.started)
        if not self.summary.startup_s:
            self.summary.startup_s = self.summary.actor_ready_s[0]
        self.summary.peak_actors = max(self.summary.peak_actors, sum(x.node_id is not None for x in self.actors))
        self._show()

    def _scale(self) -> None:
        now = time.monotonic()
        if now - self.last_scale < self.scale_interval_s:
            return
        self.last_scale = now
        work = len(self.queue) + len(self.suspects)
        if not work:  # the tail: let idle actors go so the cluster can use their CPUs
            self._ask_cluster(0)
            for a in list(self.actors):
                if len(self.actors) <= self.min_actors:
                    break
                if a.node_id is not None and not a.in_flight:
                    self.actors.remove(a)
                    _close_and_kill([a])
                    self.summary.actors_retired += 1
            return
        if any(a.node_id is None for a in self.actors):  # one wave at a time: wait for the last to be placed
            self._check_not_stuck(now)
            return
        self.waiting_since = None
        free_slots = sum(self.concurrency - len(a.in_flight) for a in self.actors if a.mode == "normal")
        wanted = math.ceil(max(0, work - free_slots) / self.concurrency)
        room = self.max_actors - len(self.actors)
        self._ask_cluster(min(self.max_actors, len(self.actors) + wanted))
        available = ray.available_resources()
        fits = min((int(available.get(r, 0.0) // need) for r, need in self.actor_needs.items()), default=room)
        n = min(wanted, room, fits)
        n = max(n, self.min_actors - len(self.actors))  # the minimum is kept even when it must queue for CPUs
        for _ in range(n):
            handle = self.actor_cls.remote(*self.actor_args)
            a = _Actor(handle, handle.ready.remote())
            self.actors.append(a)
            self.refs[a.ready_ref] = (a, None)
            self.summary.actors_started += 1
        if not self.actors and not n:
            self._check_not_stuck(now)

    def _ask_cluster(self, actors: int) -> None:
        """Tell an autoscaler how many actors the queue wants, so that it adds nodes to fit them (and, with 0,
        that the pool needs none beyond what runs). Sent when the number changes; on a cluster without an
        autoscaler it changes nothing. The pool places actors as the new nodes' CPUs become free."""
        if actors == self.requested or not self.actor_needs:
            return
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[dict(self.actor_needs) for _ in range(actors)])
        self.requested = actors
        self.summary.peak_requested = max(self.summary.peak_requested, actors)

    def _check_not_stuck(self, now: float) -> None:
        """Fail loudly when no actor can ever be placed, instead of waiting forever."""
        if any(a.node_id is not None for a in self.actors):
            return
        if self.waiting_since is None:
            self.waiting_since = now
            return
        totals = ray.cluster_resources()
        fixes = {"CPU": "lower rollout.actor_cpus or add nodes", "GPU": "set policy.gpus: 0, or add GPU nodes"}
        for resource, need in self.actor_needs.items():
            if (have := totals.get(resource, 0.0)) < need:
                raise RolloutError(
                    f"a rollout actor needs {need:g} {resource}s but the Ray cluster has {have:g}: {fixes[resource]}"
                )
        if now - self.waiting_since > 600:
            raise RolloutError("no rollout actor could be placed for 10 minutes: the cluster's CPUs are all in use")


def _close_and_kill(actors: list[_Actor], timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Let each placed actor close its envs, then kill every one. Killed outright, an actor's sandboxes would
    only die with it, and one still starting on a background thread could outlive it (its pid 1 then ends
    itself once it finds its terminal gone). An actor not placed yet has nothing to close."""
    refs = [a.handle.close.remote(timeout_s) for a in actors if a.node_id is not None]
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout_s + 5)  # a dead or stuck actor is killed all the same
    for a in actors:
        ray.kill(a.handle)


def _rid(job: Job) -> str:
    return record_id(job["task"]["task_id"], job["sample_index"])


def _init_error(err: Exception) -> str:
    """The exception an actor's ``__init__`` raised (Ray wraps it in a traceback), else Ray's own message."""
    if getattr(err, "actor_init_failed", False):
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
        if lines:
            return lines[-1]  # "module.ErrorType: message", the last line of the creation task's traceback
    return str(err)


def _node_alive(node_id: str) -> bool:
    try:
        return any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes())
    except Exception:  # noqa: BLE001 - the GCS itself is unreachable: treat the node as gone
        return False
