from __future__ import annotations

import gymnasium
import pytest

import envs
from envs.db.env import DBEnv


def test_importing_envs_registers_db_with_gymnasium() -> None:
    ids = [spec.id for spec in envs.list_specs()]
    assert ids[0] == "agenttune/DB-v0" and len(ids) == len(set(ids))
    assert "agenttune/DB-v0" in gymnasium.registry
    spec = envs.get_spec("agenttune/DB-v0")
    assert (spec.role, spec.max_turns, spec.entry_point) == ("held_in", 15, "envs.db.env:DBEnv")


@pytest.mark.parametrize("name", ["agenttune/DB-v0", "DB", "db", "DB-v0", "agenttune/db-v0", "Db"])
def test_short_names_resolve(name: str) -> None:
    assert envs.get_spec(name).id == "agenttune/DB-v0"


@pytest.mark.parametrize(("name", "suggestion"), [("agenttune/DB-v1", "agenttune/DB-v0"), ("DBB", "DB")])
def test_unknown_env_suggests_a_close_name(name: str, suggestion: str) -> None:
    with pytest.raises(envs.UnknownEnvError) as raised:
        envs.get_spec(name)
    message = str(raised.value)
    assert f"Did you mean {suggestion!r}?" in message
    assert "agenttune/DB-v0" in message  # the known ids are listed


def test_register_env_is_idempotent() -> None:
    spec = envs.get_spec("DB")
    before = envs.list_specs()
    envs.register_env(spec)
    envs.register_env(spec)
    assert envs.list_specs() == before and before.count(spec) == 1


def test_make_env_returns_a_closable_wrapped_env() -> None:
    env = envs.make_env("DB", split="test", max_turns=3)
    assert isinstance(env.unwrapped, DBEnv)
    assert (env.unwrapped.split, env.unwrapped.max_turns) == ("test", 3)
    env.reset(seed=0)
    env.close()
    env.close()
    with envs.make_env("db") as env:
        observation, _ = env.reset(seed=1)
        assert observation


def test_generate_tasks_validates_its_arguments() -> None:
    assert [task.task_id for task in envs.generate_tasks("DB", "test", 2, start=5)] == [
        "db-test-000005",
        "db-test-000006",
    ]
    with pytest.raises(envs.EnvsError, match="external"):
        envs.generate_tasks("DB", "external", 1)
    with pytest.raises(envs.EnvsError, match="must be >= 0"):
        envs.generate_tasks("DB", "train", -1)
    with pytest.raises(envs.EnvsError, match="runs past the end"):
        envs.generate_tasks("DB", "train", 2, start=9_999_999)


def test_oracle_action_dispatches_on_the_task_env() -> None:
    task = envs.generate_tasks("DB", "train", 1)[0]
    assert "Action: Operation" in envs.oracle_action(task, [])


def test_an_env_registered_for_a_while_can_be_unregistered():
    import dataclasses

    spec = dataclasses.replace(envs.get_spec("DB"), id="agenttune-test/Copy-v0")
    envs.register_env(spec)
    assert envs.get_spec("agenttune-test/Copy-v0") is spec and "agenttune-test/Copy-v0" in gymnasium.registry
    envs.unregister_env("agenttune-test/Copy-v0")
    assert spec not in envs.list_specs() and "agenttune-test/Copy-v0" not in gymnasium.registry
    envs.unregister_env("agenttune-test/Copy-v0")  # unknown ids are ignored
