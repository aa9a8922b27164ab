"""Which environments and tasks a stage plays: the ``envs`` part of a pipeline config.

    sel = EnvSelection(id="agenttune/DB-v0", split="test", num_tasks=40)
    selected = select_tasks(sel)                             # generated, or read from sel.tasks_file
    bad = report_bad_tasks([selected])                       # the file's skipped records, each logged
    kwargs = env_kwargs([sel], sandbox="bwrap")              # constructor kwargs per env id

``ConfigSection`` is the base of every typed config section in agenttune (rollouts, train, eval and
cluster build theirs on it): unknown keys are errors, and assignments are validated too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from envs import registry
from envs.base import LoadedTasks, OnBadTask
from envs.errors import EnvsError

log = logging.getLogger(__name__)

SandboxKind = Literal["bwrap", "none"]


class ConfigSection(BaseModel):
    """A config section: typed, every field documented, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SandboxSettings(ConfigSection):
    """How envs that run agent commands (OS) isolate them, and what machine the agent sees.

    ``sandbox: bwrap`` in a config is short for ``sandbox: {kind: bwrap}``.
    """

    kind: SandboxKind = Field(
        "bwrap",
        description="'bwrap' (bubblewrap sandbox) or 'none' (plain local shell, NO isolation: only for trusted "
        "agents; logged loudly and recorded in MLflow).",
    )
    image: str = Field(
        "auto",
        min_length=1,
        description="The root filesystem a bwrap sandbox shows: 'auto' (the task image `make os-image` builds, "
        "when present, else the host's /usr, /etc, /var, /opt with a warning), 'host', or the path of a built "
        "image. Its digest goes into every OS trajectory's lineage.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


SandboxChoice = SandboxSettings | SandboxKind  # what the stages take: the section, or just the kind


def sandbox_settings(sandbox: SandboxChoice) -> SandboxSettings:
    return sandbox if isinstance(sandbox, SandboxSettings) else SandboxSettings(kind=sandbox)


class EnvSelection(ConfigSection):
    """One env and the tasks of it a stage plays."""

    id: str = Field(description="Registered env id, e.g. agenttune/DB-v0 (`agenttune envs list` shows them).")
    split: Literal["train", "test"] = Field(
        "train", description="Generated split: 'train' for rollouts, 'test' for evaluation (their seeds never meet)."
    )
    num_tasks: int = Field(
        32,
        ge=1,
        description="How many tasks: seeded tasks of the split, or the file's first N records (bad ones count).",
    )
    start: int = Field(
        0, ge=0, description="Offset of the first task within the split, or the first record of the tasks file."
    )
    tasks_file: str | None = Field(
        None, description="Read tasks from this file in the env's external format (AgentBench JSON/JSONL) instead."
    )
    on_bad_task: OnBadTask = Field(
        "skip",
        description="A malformed record in tasks_file: 'skip' it (logged and counted in the stage report as "
        "bad_tasks) or 'error': stop at it, naming the file and its line or record.",
    )
    max_turns: int | None = Field(None, ge=1, description="Turn cap; None: the env's own default.")
    env_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the env's constructor, e.g. {scripts_dir: ...}."
    )


def select_tasks(sel: EnvSelection) -> LoadedTasks:
    """The tasks ``sel`` names: generated from its split, or read from its tasks file.

    The result reads as the list of tasks; its ``bad`` holds the file's malformed records within the selection
    (with ``on_bad_task: error`` the first of the file raises ``TaskFormatError`` instead).
    """
    if sel.tasks_file:
        loaded = registry.load_tasks(sel.id, sel.tasks_file, on_bad_task=sel.on_bad_task)
        return loaded.window(sel.start, sel.num_tasks)
    tasks = registry.generate_tasks(sel.id, sel.split, sel.num_tasks, start=sel.start)
    return LoadedTasks(registry.get_spec(sel.id).id, f"generated:{sel.split}", tasks)


def report_bad_tasks(selections: Iterable[LoadedTasks]) -> list[dict[str, Any]]:
    """Log a warning for each skipped bad task of ``selections``; return them as report entries
    ``{"env", "file", "line" | "record", "reason"}``."""
    entries = []
    for selected in selections:
        for bad in selected.bad:
            log.warning("skipped a bad %s task at %s: %s", selected.env_id, bad.where, bad.reason)
        entries += selected.bad_report()
    return entries


def split_runnable(selected: LoadedTasks) -> tuple[LoadedTasks, list[dict[str, Any]]]:
    """The tasks that can run here, and one entry ``{"env", "task_id", "reason"}`` per task whose payload says
    ``not_runnable`` (e.g. the OS env's tasks that need the network), each logged: they are reported, not played,
    so they are never graded as failures."""
    runnable, entries = [], []
    for task in selected:
        reason = task.payload.get("not_runnable") if isinstance(task.payload, dict) else None
        if reason:
            log.warning("not running %s task %s: %s", selected.env_id, task.task_id, reason)
            entries.append({"env": selected.env_id, "task_id": task.task_id, "reason": str(reason)})
        else:
            runnable.append(task)
    return LoadedTasks(selected.env_id, selected.source, runnable, selected.bad), entries


def count_reasons(entries: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["reason"]] = counts.get(entry["reason"], 0) + 1
    return counts


def env_kwargs(selections: list[EnvSelection], sandbox: SandboxChoice) -> dict[str, dict[str, Any]]:
    """Constructor kwargs per env id: each selection's own, plus the sandbox choice for envs that run commands
    (``sandbox`` and, when the config names an image other than 'auto', ``sandbox_image``)."""
    settings = sandbox_settings(sandbox)
    out: dict[str, dict[str, Any]] = {}
    for sel in selections:
        spec = registry.get_spec(sel.id)
        kwargs = dict(sel.env_kwargs)
        if spec.sandboxed:
            kwargs.setdefault("sandbox", settings.kind)
            if settings.image != "auto":
                kwargs.setdefault("sandbox_image", settings.image)
        out[spec.id] = kwargs
    return out


def uses_sandbox(selections: list[EnvSelection]) -> bool:
    return any(registry.get_spec(sel.id).sandboxed for sel in selections)


def prepare_sandbox(selections: list[EnvSelection], sandbox: SandboxChoice) -> dict[str, Any]:
    """Before any actor starts: prove sandboxes work here, or say loudly that there are none.

    Returns what applies, for the stage's params: ``{"sandbox.applied": "unused"}`` when no selected env runs
    commands, ``{"sandbox.applied": "none"}``, or ``{"sandbox.applied": "bwrap", "sandbox.image_applied":
    digest or "host", "sandbox.<probe key>": ...}``. (Not ``sandbox.kind`` / ``sandbox.image``: those are the
    configured choice, already params of the run a single stage logs to.) An image path that is not a built
    image is an ``EnvsError`` here, before any actor starts.
    """
    settings = sandbox_settings(sandbox)
    if not uses_sandbox(selections):
        return {"sandbox.applied": "unused"}
    if settings.kind == "none":
        log.warning(
            "!!! sandbox: none — agent commands run in a plain shell on this machine with NO isolation. "
            "Use it only for trusted agents; this run's MLflow params record it. !!!"
        )
        return {"sandbox.applied": "none"}
    from envs.sandbox import probe  # noqa: PLC0415 - only when a sandboxed env is selected
    from envs.sandbox.image import resolve_image  # noqa: PLC0415

    try:
        _, digest = resolve_image(settings.image)
    except EnvsError as error:
        raise EnvsError(f"sandbox.image={settings.image!r}: {error}") from error
    probed = {f"sandbox.{k}": v for k, v in probe().items()}
    return {"sandbox.applied": "bwrap", "sandbox.image_applied": digest, **probed}
