"""The registry of agenttune environments.

Each environment is described by an ``EnvSpec`` (see ``envs.base``) and registered with
gymnasium under its versioned id, so both of these work once ``envs`` is imported:

    import envs
    env = envs.make_env("DB")                      # short names resolve: "DB", "db", "DB-v0"
    env = gymnasium.make("agenttune/DB-v0")        # plain gymnasium
    tasks = envs.generate_tasks("DB", "train", n=100)
    loaded = envs.load_tasks("DB", "standard.jsonl", on_bad_task="skip")   # loaded.tasks; loaded.bad: skipped records
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium

from envs.base import EnvSpec, LoadedTasks, OnBadTask, Split, Task
from envs.errors import EnvsError, UnknownEnvError

_SPECS: dict[str, EnvSpec] = {}
_ID_PATTERN = re.compile(r"^(?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.:-]+?)(?:-v(?P<version>\d+))?$")


def register_env(spec: EnvSpec) -> None:
    """Add ``spec`` to the registry and to gymnasium's; registering the same id again replaces the spec."""
    _SPECS[spec.id] = spec
    # gymnasium warns when an id is registered twice; re-imports and reloads must stay quiet.
    if spec.id not in gymnasium.registry:
        gymnasium.register(id=spec.id, entry_point=spec.entry_point)


def unregister_env(env_id: str) -> None:
    """Remove a registered env (from gymnasium's registry too); unknown ids are ignored."""
    if _SPECS.pop(env_id, None) is not None:
        gymnasium.registry.pop(env_id, None)


def list_specs() -> list[EnvSpec]:
    """Every registered spec, sorted by id."""
    return [_SPECS[env_id] for env_id in sorted(_SPECS)]


def get_spec(env_id: str) -> EnvSpec:
    """The spec for ``env_id``: an exact id, or a short name ("DB", "db", "DB-v0") that names one env.

    A short name without a version picks the highest registered version.
    """
    if env_id in _SPECS:
        return _SPECS[env_id]
    wanted = _parse_id(env_id)
    matches = [spec for spec in _SPECS.values() if wanted is not None and _answers_to(spec.id, wanted)]
    if matches:
        return max(matches, key=lambda spec: _version(spec.id))
    raise UnknownEnvError(env_id, _SPECS, aliases=_short_names())


def make_env(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Build the environment through ``gymnasium.make`` (``env.unwrapped`` is the env itself)."""
    spec = get_spec(env_id)
    # Our envs are checked by their own tests; the passive checker only adds warnings on text spaces.
    return gymnasium.make(spec.id, disable_env_checker=True, **kwargs)


def generate_tasks(env_id: str, split: Split, n: int, start: int = 0) -> list[Task]:
    """Generated tasks ``start`` .. ``start + n - 1`` of ``split`` (same arguments, same tasks)."""
    spec = get_spec(env_id)
    if n < 0 or start < 0:
        raise EnvsError(f"generate_tasks({spec.id!r}, {split!r}, n={n}, start={start}): n and start must be >= 0")
    if split not in spec.task_counts:
        raise EnvsError(
            f"{spec.id} cannot generate split {split!r}; generated splits are {sorted(spec.task_counts)}. "
            "Load external tasks with load_tasks(env_id, path) instead."
        )
    size = spec.task_counts[split]
    if size is not None and start + n > size:
        raise EnvsError(f"{spec.id} split {split!r} has {size} tasks; start={start} + n={n} runs past the end")
    return spec.generate_tasks(split, n, start)


def load_tasks(env_id: str, path: str, *, on_bad_task: OnBadTask = "error") -> LoadedTasks:
    """Tasks read from a file in the env's external format (for DB: AgentBench dbbench JSONL).

    With ``on_bad_task="skip"`` malformed records are left out and listed in the result's ``bad`` (file, line or
    record, reason); with "error" the first raises ``TaskFormatError``. The result reads as its list of tasks.
    """
    spec = get_spec(env_id)
    if spec.load_tasks is None:
        raise EnvsError(f"{spec.id} has no task loader; it only generates tasks (generate_tasks)")
    return spec.load_tasks(path, on_bad_task=on_bad_task)


def oracle_action(task: Task, messages: list[dict[str, str]]) -> str:
    """The scripted oracle's next assistant message for ``task`` given the conversation so far."""
    return get_spec(task.env_id).oracle(task, messages)


def _parse_id(env_id: str) -> tuple[str | None, str, int | None] | None:
    match = _ID_PATTERN.match(env_id.strip())
    if match is None:
        return None
    namespace = match["namespace"].lower() if match["namespace"] else None
    version = int(match["version"]) if match["version"] is not None else None
    return namespace, match["name"], version


def _answers_to(spec_id: str, wanted: tuple[str | None, str, int | None]) -> bool:
    parsed = _parse_id(spec_id)
    if parsed is None:
        return False
    namespace, name, version = wanted
    spec_namespace, spec_name, spec_version = parsed
    return (
        name.lower() == spec_name.lower() and namespace in (None, spec_namespace) and version in (None, spec_version)
    )


def _version(spec_id: str) -> int:
    parsed = _parse_id(spec_id)
    return (parsed[2] or 0) if parsed is not None else 0


def _short_names() -> list[str]:
    names = []
    for env_id in _SPECS:
        short = env_id.split("/", 1)[-1]
        names += [short, short.rsplit("-v", 1)[0]]
    return names
