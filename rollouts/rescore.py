"""Re-grade recorded episodes with today's envs, without asking the policy again: ``agenttune rescore``.

    out = run_rescore_stage(cfg.rollout.envs, trajectories=run / "rollout/trajectories.jsonl",
                            out=run / "rollout/trajectories.rescored.jsonl", sandbox="bwrap")

Each recorded episode is played again in an env of today's code: its task is rebuilt (a generated task from its
split and seed, a task file's task through the config's env selections), the env is reset with the seed the rollout
gave it, and the record's actions are stepped in order. The actions are the ``gpt`` turns the policy wrote
(``loss: true``); an opening's acknowledgement and one-shot turns (``loss: false``) are the env's, not actions. A
policy that only repeats those actions plays them through the rollout's own episode loop (``arun_episode``), so a
re-graded record has today's observations, reward, success, status and conversation shape, and keeps the agent's
turns word for word.

Every input record is counted by its outcome, and written to the output, in input order, with a ``rescore``
field ``{"outcome", "reason", "from": {reward, success, status, turns}}``, unless it was skipped:

- ``up`` / ``down`` / ``unchanged``: replayed as recorded (every action stepped, the episode ended as it did);
  the reward went up, down, or stayed.
- ``diverged``: today's env ended before the recorded actions ran out (``ended_early``), did not end where the
  recorded episode ended (``ran_longer``), or faulted (``env_error``, ``timeout``). The record holds what today's
  env made of the actions, so the filter judges it like any other (an unfinished or faulted one is dropped).
- ``carried``: the recorded episode did not end by the env's verdict (agent_error, env_error, timeout,
  context_limit_exceeded: the reason is the status); there is nothing to re-grade, the record is copied as it was.
- ``skipped``: it cannot be replayed (``unknown_env``: its env id is no longer registered, or its module is not
  in ``env_modules``; ``task_not_found``: its task can no longer be rebuilt; ``no_actions``). It is left out of
  the output, whose rewards are all today's (its recorded reward would pass the filter unchecked); the report
  counts it by reason and names the first few ids of each reason.

The input is never touched; the output is written to a temp file and renamed into place when every record is in.
Replays run ``concurrency`` at a time on one event loop of this process, each env on a thread of its own (the
rollout actor's ``EnvPool``): env steps are I/O (SQLite, a sandboxed shell), not the policy's compute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from envs import registry
from envs.base import Task
from envs.config import EnvSelection, SandboxChoice, env_kwargs, prepare_sandbox, select_tasks
from envs.errors import EnvsError
from envs.splits import SPLIT_SEED_BASE
from rollouts.envpool import EnvPool
from rollouts.episode import arun_episode
from rollouts.errors import RolloutError
from rollouts.policies.base import Message, Policy
from rollouts.pool import import_env_modules
from rollouts.records import atomic_text_file, env_metric_key
from rollouts.stage import StageOutput

log = logging.getLogger(__name__)

OUTCOMES = ("up", "down", "unchanged", "diverged", "carried", "skipped")
CARRIED_STATUSES = ("agent_error", "env_error", "timeout", "context_limit_exceeded")  # no env verdict to redo
REQUIRED_KEYS = ("id", "env", "task_id", "split", "conversations", "reward", "status")
REWARD_TOLERANCE = 1e-9
SKIPPED_IDS_SHOWN = 10  # per reason, in the report


def rescored_path(trajectories: Path) -> Path:
    """Where the re-graded copy of ``trajectories`` goes: beside it, ``<stem>.rescored.jsonl``."""
    return trajectories.with_name(f"{trajectories.stem}.rescored.jsonl")


def run_rescore_stage(
    envs: list[EnvSelection],
    *,
    trajectories: Path,
    out: Path,
    sandbox: SandboxChoice,
    env_modules: list[str] | tuple[str, ...] = (),
    concurrency: int = 8,
    episode_timeout_s: float = 300.0,
    recycle_envs_after: int = 256,
    progress: bool = True,
) -> StageOutput:
    """Replay every record of ``trajectories`` in today's envs; write the re-graded records to ``out``.

    ``envs`` are the selections the records' tasks came from (a pipeline's rollout envs, then its eval envs):
    a task file's tasks are looked up among theirs, and an env is built with the ``env_kwargs`` of its first
    selection. The report counts every record by outcome, in all and per env (see the module docstring).
    """
    trajectories, out = Path(trajectories), Path(out)
    if not trajectories.is_file():
        raise RolloutError(f"rescore: {trajectories} does not exist; roll out first, or name the trajectories file")
    if out.resolve() == trajectories.resolve():
        raise RolloutError(f"rescore: the output {out} is the input; re-graded records go beside it, never in place")
    import_env_modules(env_modules)
    known = [sel for sel in envs if _registered(sel.id)]
    params = prepare_sandbox(known, sandbox)
    # The first selection of an env gives its kwargs (env_kwargs lets a later one win).
    rescorer = Rescorer(TaskResolver(known), sandbox, episode_timeout_s)
    envpool = EnvPool(env_kwargs(known[::-1], sandbox), recycle_after=recycle_envs_after)
    counts = RescoreCounts()
    started = time.monotonic()
    total = _count_lines(trajectories)
    with _atomic_jsonl(out) as write, tqdm(total=total, desc="rescore", unit="ep", disable=not progress) as bar:

        def emit(rec: dict[str, Any]) -> None:
            counts.add(rec)
            if rec["rescore"]["outcome"] != "skipped":
                write(rec)
            bar.update()

        asyncio.run(rescore_all(read_trajectories(trajectories), rescorer, envpool, emit, concurrency=concurrency))
    counts.wall_s = time.monotonic() - started
    report = counts.to_dict() | {"input": str(trajectories), "output": str(out)}
    for reason, n in report["reasons"].get("skipped", {}).items():
        log.warning(
            "rescore: %d record(s) not re-graded (%s), left out of %s: %s ...",
            n,
            reason,
            out.name,
            ", ".join(report["skipped_ids"][reason]),
        )
    params |= {"rescore.input": str(trajectories), "rescore.concurrency": concurrency}
    return StageOutput(report, rescore_metrics(report), params)


async def rescore_all(
    records: Iterator[dict[str, Any]],
    rescorer: Rescorer,
    envpool: EnvPool,
    emit: Callable[[dict[str, Any]], None],
    *,
    concurrency: int,
) -> None:
    """Re-grade ``records`` with ``concurrency`` replays in flight; ``emit`` each result in input order."""
    gate = asyncio.Semaphore(concurrency)
    pending: deque[asyncio.Task[dict[str, Any]]] = deque()

    async def one(rec: dict[str, Any]) -> dict[str, Any]:
        try:
            return await rescorer.rescore(rec, envpool)
        finally:
            gate.release()

    try:
        for rec in records:
            await gate.acquire()
            pending.append(asyncio.create_task(one(rec)))
            while pending and pending[0].done():
                emit(pending.popleft().result())
        while pending:
            emit(await pending.popleft())
    finally:
        for task in pending:
            task.cancel()
        envpool.close()


# ----------------------------------------------------------------------------- one record


class ReplayPolicy(Policy):
    """Answers each turn with the next recorded action; the episode loop never asks past the last one."""

    kind = "replay"

    def __init__(self, actions: list[str]):
        self.actions = actions
        self.used = 0

    def act(self, messages: list[Message], *, task: Task) -> str:
        self.used += 1
        return self.actions[self.used - 1]

    async def aact(self, messages: list[Message], *, task: Task) -> str:
        return self.act(messages, task=task)


def recorded_actions(rec: dict[str, Any]) -> list[str]:
    """The policy's turns of a record: its ``gpt`` turns, less an opening's fixed ones (``loss: false``)."""
    return [t["value"] for t in rec["conversations"] if t.get("from") == "gpt" and t.get("loss") is not False]


def episode_seed(task: Task, sample_index: int) -> int:
    """The seed the rollout reset the env with (as ``rollouts.pool.RolloutActor.run`` computes it)."""
    return (task.seed or 0) * 1009 + sample_index


@dataclass
class Rescorer:
    """Re-grades one record at a time: carries or skips what cannot be replayed, replays the rest."""

    tasks: TaskResolver
    sandbox: SandboxChoice
    timeout_s: float

    async def rescore(self, rec: dict[str, Any], envpool: EnvPool) -> dict[str, Any]:
        if rec["status"] in CARRIED_STATUSES:
            return _marked(rec, rec, "carried", rec["status"])
        actions = recorded_actions(rec)
        if not actions:
            return _marked(rec, rec, "skipped", "no_actions")
        task, problem = self.tasks.resolve(rec)
        if task is None:
            return _marked(rec, rec, "skipped", problem)
        if task.env_id not in envpool.env_kwargs:  # an env no selection names: built as the rollout would build it
            envpool.env_kwargs |= env_kwargs([EnvSelection(id=task.env_id)], self.sandbox)
        new, outcome, reason = await self.replay(rec, task, actions, envpool)
        return _marked(new, rec, outcome, reason)

    async def replay(
        self, rec: dict[str, Any], task: Task, actions: list[str], envpool: EnvPool
    ) -> tuple[dict[str, Any], str, str | None]:
        """Step ``actions`` on ``task`` in an env of ``envpool``: (the re-graded record, outcome, reason)."""
        sample_index = int(rec.get("sample_index") or 0)
        policy = ReplayPolicy(actions)
        try:
            slot = await envpool.acquire(task.env_id)
        except Exception as e:  # noqa: BLE001 - an env that cannot be built fails its records, not the stage
            error = f"cannot create {task.env_id}: {type(e).__name__}: {e}"
            new = rec | {"status": "env_error", "reward": 0.0, "success": False, "error": error}
            return new, "diverged", "env_error"
        played: dict[str, Any] = {}
        try:
            played = await arun_episode(
                slot.env,
                policy,
                task,
                sample_index=sample_index,
                max_turns=len(actions),  # the loop stops where the record stopped, unless the env ends first
                timeout_s=self.timeout_s,
                seed=episode_seed(task, sample_index),
                env_executor=slot.executor,
            )
        finally:
            envpool.release(slot, reusable=played.get("status") not in (None, "env_error", "timeout"))
        # The record stays the one it was (its id, its policy, fields a later tool added); the replay says the rest.
        new = rec | {k: v for k, v in played.items() if k not in ("id", "policy", "sample_index")}
        if new["status"] in ("env_error", "timeout"):
            return new, "diverged", new["status"]
        if policy.used < len(actions):
            return new, "diverged", "ended_early"
        if rec["status"] == "completed" and new["status"] != "completed":
            return new, "diverged", "ran_longer"
        delta = float(new["reward"]) - float(rec["reward"])
        return new, "up" if delta > REWARD_TOLERANCE else "down" if delta < -REWARD_TOLERANCE else "unchanged", None


def _marked(new: dict[str, Any], old: dict[str, Any], outcome: str, reason: str | None) -> dict[str, Any]:
    before = {k: old.get(k) for k in ("reward", "success", "status", "turns")}
    return new | {"rescore": {"outcome": outcome, "reason": reason, "from": before}}


class TaskResolver:
    """Rebuilds a record's task: a generated one from its split and seed, a task file's through the selections."""

    def __init__(self, selections: list[EnvSelection]):
        self.selections = selections
        self._selected: dict[str, dict[str, Task]] = {}  # env id -> the selections' tasks by id

    def resolve(self, rec: dict[str, Any]) -> tuple[Task | None, str | None]:
        """(the task, None), or (None, why not: ``unknown_env`` or ``task_not_found``)."""
        env_id = rec["env"]
        if not _registered(env_id) or registry.get_spec(env_id).id != env_id:
            return None, "unknown_env"
        task = self._generated(env_id, rec) or self._of_selections(env_id).get(rec["task_id"])
        return (task, None) if task is not None else (None, "task_not_found")

    def _generated(self, env_id: str, rec: dict[str, Any]) -> Task | None:
        """Task ``seed - base`` of a generated split (``envs.splits``), if that is the record's task."""
        split, seed = rec["split"], rec.get("seed")
        if split not in SPLIT_SEED_BASE or not isinstance(seed, int) or seed < SPLIT_SEED_BASE[split]:
            return None
        try:
            [task] = registry.generate_tasks(env_id, split, 1, start=seed - SPLIT_SEED_BASE[split])
        except (EnvsError, ValueError):  # not a split it generates, or past its end
            return None
        return task if task.task_id == rec["task_id"] else None

    def _of_selections(self, env_id: str) -> dict[str, Task]:
        if env_id not in self._selected:
            by_id: dict[str, Task] = {}
            for sel in self.selections:
                if registry.get_spec(sel.id).id == env_id:
                    for task in select_tasks(sel):
                        by_id.setdefault(task.task_id, task)
            self._selected[env_id] = by_id
        return self._selected[env_id]


def _registered(env_id: str) -> bool:
    try:
        registry.get_spec(env_id)
    except EnvsError:
        return False
    return True


# ----------------------------------------------------------------------------- counts and files


@dataclass
class RescoreCounts:
    """Every record by outcome (and reason), in all and per env, with rewards and successes before and after."""

    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_env: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    sums: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    skipped_ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> first ids
    wall_s: float = 0.0

    def add(self, rec: dict[str, Any]) -> None:
        mark, env = rec["rescore"], rec["env"]
        self.outcomes[mark["outcome"]] += 1
        if mark["reason"]:
            self.reasons[mark["outcome"]][mark["reason"]] += 1
        if mark["outcome"] == "skipped" and len(self.skipped_ids[mark["reason"]]) < SKIPPED_IDS_SHOWN:
            self.skipped_ids[mark["reason"]].append(rec["id"])
        self.per_env[env][mark["outcome"]] += 1
        s = self.sums[env]
        s["episodes"] += 1
        s["reward_before"] += float(mark["from"]["reward"] or 0.0)
        s["reward_after"] += float(rec["reward"] or 0.0)
        s["success_before"] += bool(mark["from"]["success"])
        s["success_after"] += bool(rec["success"])

    def to_dict(self) -> dict[str, Any]:
        total = sum(self.outcomes.values())
        per_env = {}
        for env in sorted(self.per_env):
            s, n = self.sums[env], max(1, self.sums[env]["episodes"])
            per_env[env] = {o: self.per_env[env][o] for o in OUTCOMES} | {
                "episodes": s["episodes"],
                "changed": self.per_env[env]["up"] + self.per_env[env]["down"],
                "mean_reward_before": s["reward_before"] / n,
                "mean_reward_after": s["reward_after"] / n,
                "success_rate_before": s["success_before"] / n,
                "success_rate_after": s["success_after"] / n,
            }
        return {
            "total": total,
            "changed": self.outcomes["up"] + self.outcomes["down"],
            **{o: self.outcomes[o] for o in OUTCOMES},
            "reasons": {o: dict(self.reasons[o]) for o in ("diverged", "carried", "skipped") if self.reasons[o]},
            "skipped_ids": dict(self.skipped_ids),
            "written": total - self.outcomes["skipped"],
            "per_env": per_env,
            "wall_s": round(self.wall_s, 3),
            "episodes_per_s": round(total / self.wall_s, 3) if self.wall_s else 0.0,
        }


def rescore_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The stage's MLflow metrics: ``rescore/<outcome>``, ``rescore/<outcome>/<reason>``, ``rescore/<env>/...``."""
    metrics: dict[str, float] = {f"rescore/{k}": report[k] for k in ("total", "changed", *OUTCOMES, "episodes_per_s")}
    for outcome, reasons in report["reasons"].items():
        metrics |= {f"rescore/{outcome}/{reason}": n for reason, n in reasons.items()}
    for env, c in report["per_env"].items():
        key = env_metric_key(env)
        metrics |= {f"rescore/{key}/{k}": v for k, v in c.items()}
    return metrics


def read_trajectories(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a trajectories file; a line that is not one is an error naming the file and line."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RolloutError(f"{path}:{lineno}: not a JSON record ({e.msg}); fix or delete that line") from e
            missing = [k for k in REQUIRED_KEYS if k not in rec] if isinstance(rec, dict) else ["any key"]
            if missing:
                raise RolloutError(
                    f"{path}:{lineno}: not a trajectory record (it has no {', '.join(missing)}); rescore reads "
                    "the files `agenttune rollout` and `agenttune eval` write"
                )
            yield rec


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


@contextlib.contextmanager
def _atomic_jsonl(path: Path) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A writer of JSON lines into a temp file beside ``path``, renamed into place only if the block succeeds."""
    with atomic_text_file(path) as f:
        yield lambda rec: f.write(json.dumps(rec, ensure_ascii=False) + "\n")
