"""agenttune's text environments. Importing this package registers every built-in env with gymnasium.

import envs
print([spec.id for spec in envs.list_specs()])      # ['agenttune/DB-v0', ...]
env = envs.make_env("DB")
"""

from __future__ import annotations

from envs import adventure, db, household, kg, qa, webnav, webshop
from envs import os as os_env
from envs.base import BadTask, EnvSpec, LoadedTasks, Oracle, Task
from envs.errors import EnvError, EnvsError, TaskFormatError, UnknownEnvError
from envs.registry import (
    generate_tasks,
    get_spec,
    list_specs,
    load_tasks,
    make_env,
    oracle_action,
    register_env,
    unregister_env,
)

for _module in (db, os_env, kg, household, webshop, webnav, qa, adventure):
    register_env(_module.SPEC)

__all__ = [
    "BadTask",
    "EnvError",
    "EnvSpec",
    "EnvsError",
    "LoadedTasks",
    "Oracle",
    "Task",
    "TaskFormatError",
    "UnknownEnvError",
    "generate_tasks",
    "get_spec",
    "list_specs",
    "load_tasks",
    "make_env",
    "oracle_action",
    "register_env",
    "unregister_env",
]
