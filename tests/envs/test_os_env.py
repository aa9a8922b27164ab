"""The OS env: contract, generator, oracle, AgentBench task loading and grading."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.base import Task
from envs.os import SPEC, checkers, load_os_tasks, oracle
from envs.os.env import OSEnv
from envs.os.generator import BUILDERS
from envs.os.prompts import Answer, Bash, Invalid, parse_action
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE
from tests.envs.conftest import run_episode

OS_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "agentbench" / "os_dev.json"
envs.register_env(SPEC)


@pytest.fixture(scope="module")
def os_env():
    env = envs.make_env("agenttune/OS-v0", command_timeout_s=3)
    yield env
    env.close()


@pytest.fixture(scope="module")
def os_dev_tasks() -> list[Task]:
    if not OS_DEV.is_file():
        pytest.skip(reason=f"AgentBench OS data not found at {OS_DEV} (the shared data folder is absent)")
    return load_os_tasks(OS_DEV)


def test_check_env_passes(os_env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(os_env.unwrapped, skip_render_check=True)


def test_first_observation_and_determinism() -> None:
    runs = []
    for _ in range(2):
        with envs.make_env("OS", command_timeout_s=3) as env:
            observation, info = env.reset(seed=11)
            step = env.step("Think: look.\n\nAct: bash\n\n```bash\nls -a /root /home; hostname\n```")
            runs.append((info["task"], observation, step[0]))
    assert runs[0] == runs[1]
    assert runs[0][0] == envs.generate_tasks("OS", "train", 1, start=11)[0]
    observation = runs[0][1]
    assert observation.endswith(runs[0][0].payload["description"]) and "Act: answer(" in observation


def test_train_and_test_seeds_never_overlap() -> None:
    assert SPLIT_SEED_BASE["test"] - SPLIT_SEED_BASE["train"] >= SPLIT_SIZE
    train, test = envs.generate_tasks("OS", "train", 300), envs.generate_tasks("OS", "test", 300)
    assert {t.seed for t in train}.isdisjoint({t.seed for t in test})
    assert {t.payload["labels"][0] for t in train} == set(BUILDERS)  # every kind of task is generated


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_solves_every_generated_task(os_env: gymnasium.Env, split: str) -> None:
    tasks = envs.generate_tasks("OS", split, 22)
    for task in tasks:
        reward, info, messages = run_episode(os_env, task, oracle)
        assert reward == 1.0 and info["success"], (task.task_id, messages[1:])


def test_wrong_answers_and_an_idle_finish_fail(os_env: gymnasium.Env) -> None:
    for task in envs.generate_tasks("OS", "test", 22, start=100):
        os_env.reset(options={"task": task})
        act = "Act: finish" if None not in task.payload["check"] else "Act: answer(999999-wrong)"
        _, reward, terminated, _, info = os_env.step(f"Think: guess.\n\n{act}")
        assert (reward, terminated, info["success"]) == (0.0, True, False), task.task_id


def test_os_dev_examples_solve_and_wrong_answers_fail(os_env: gymnasium.Env, os_dev_tasks: list[Task]) -> None:
    runnable = [t for t in os_dev_tasks if not t.payload["missing_scripts"]]
    assert len(os_dev_tasks) == 26 and len(runnable) == 23  # 3 need AgentBench's calc / stock-log scripts
    for task in runnable:
        reward, _, messages = run_episode(os_env, task, oracle)
        assert reward == 1.0, (task.task_id, messages[1:])
        os_env.reset(options={"task": task})
        assert os_env.step("Think: guess.\n\nAct: answer(wrong-999999)")[1] == 0.0, task.task_id


def test_tasks_needing_scripts_say_so(os_env: gymnasium.Env, os_dev_tasks: list[Task], tmp_path: Path) -> None:
    task = next(t for t in os_dev_tasks if t.payload["missing_scripts"] == ["init/stock-log.sh"])
    with pytest.raises(envs.TaskFormatError, match="scripts_dir"):
        os_env.reset(options={"task": task})
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "stock-log.sh").write_text("echo 'Bob | Sell | 1 | 2' > /usr/stock.log\n")
    loaded = load_os_tasks(OS_DEV, scripts_dir=tmp_path)[int(task.task_id.rsplit("-", 1)[1])]
    assert loaded.payload["missing_scripts"] == [] and run_episode(os_env, loaded, oracle)[0] == 1.0


def test_agentbench_json_shapes(tmp_path: Path, os_env: gymnasium.Env) -> None:
    raw = {
        "description": "Say hi.",
        "create": {"init": ["echo hi > /root/h", {"language": "python", "code": "open('/root/p','w').write('p')"}]},
        "evaluation": {"match": {"regex": "^h.$"}},
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(raw) + "\n")
    (task,) = load_os_tasks(path)
    assert task.split == "external" and len(task.payload["init"]) == 2
    os_env.reset(options={"task": task})
    assert os_env.step("Act: bash\n\n```bash\ncat /root/h /root/p\n```")[0] == "The output of the OS:\n\nhi\np"
    assert os_env.step("Think: ok\nAct: answer(hi)")[1] == 1.0
    with pytest.raises(envs.TaskFormatError, match="match' or 'check"):
        path.write_text(json.dumps({"description": "x", "evaluation": {}}))
        load_os_tasks(path)


@pytest.mark.parametrize(
    ("name", "answer", "expected", "ok"),
    [
        ("integer-match", "6", "6\n", True), ("integer-match", "six", "6", False),
        ("string-match", " log\r\n", "log\n", True), ("string-match", "Log", "log", False),
        ("size-match", "8.0K", "8192", True), ("size-match", "8K", "4.0K", False), ("size-match", "big", "1K", False),
        ("containing", "the answer is 42", "42", True), ("in", "42", "41 42 43", True), ("in", "44", "41", False),
    ],
)  # fmt: skip
def test_builtin_checkers(name: str, answer: str, expected: str, ok: bool) -> None:
    assert checkers.CHECKERS[name](answer, expected) is ok


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ("Think: x\n\nAct: bash\n\n```bash\nls\n```", Bash("ls")),
        ("Act: bash\n```bash\na\n```\n```bash\nb\n```", Bash("a\n\nb")),
        ("Think: done\nAct: answer(f(x) = 2)", Answer("f(x) = 2")),
        ("Act: finish", Answer(None)),
        ("Act: answer(1)\nAct: finish", Answer(None)),  # the last Act line decides
        ("I think it is 3", Invalid("no 'Act:' line was found.")),
    ],
)
def test_action_parsing(reply: str, parsed: object) -> None:
    assert parse_action(reply) == parsed


def test_malformed_actions_and_turn_cap(os_env: gymnasium.Env) -> None:
    os_env.reset(seed=0)
    for reply in ("no action", "Act: bash\nls", "Act: dance"):
        observation, reward, terminated, truncated, info = os_env.step(reply)
        assert info["invalid_action"] and "Invalid action" in observation and not terminated
    with envs.make_env("OS", max_turns=2) as env:
        env.reset(seed=0)
        env.step("thinking")
        *_, truncated, info = env.step("thinking")
        assert truncated and info["success"] is False
        with pytest.raises(envs.EnvsError, match="call reset"):
            env.step("Act: finish")


def test_timeouts_and_long_outputs_are_observations(os_env: gymnasium.Env) -> None:
    os_env.reset(seed=0)
    observation, _, terminated, _, info = os_env.step("Act: bash\n\n```bash\nwhile :; do :; done\n```")
    assert info["timed_out"] and "interrupted" in observation and not terminated
    observation, *_ = os_env.step("Act: bash\n\n```bash\nseq 1 1000\n```")
    assert observation.endswith("[truncated because the output is too long]")
    assert len(observation) == len("The output of the OS:\n\n") + 780 + len(
        "\n[truncated because the output is too long]"
    )


def test_bad_kwargs_and_tasks() -> None:
    with pytest.raises(envs.EnvsError, match="sandbox"):
        OSEnv(sandbox="docker")
    with pytest.raises(envs.EnvsError, match="split"):
        OSEnv(split="dev")
    task = envs.generate_tasks("OS", "train", 1)[0]
    with OSEnv() as env, pytest.raises(envs.TaskFormatError, match="belongs to"):
        env.reset(options={"task": task.to_dict() | {"env_id": "agenttune/DB-v0"}})


def test_no_sandbox_mode_runs_the_same_episode() -> None:
    task = next(t for t in envs.generate_tasks("OS", "train", 30) if t.payload["labels"] == ["sum_numbers"])
    with envs.make_env("OS", sandbox="none") as env:
        assert run_episode(env, task, oracle)[0] == 1.0
