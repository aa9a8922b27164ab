"""The shared pieces every env is built on: the seeded splits and ``TextEnv``'s episode bookkeeping, on a toy env."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.splits import SPLIT_SIZE, split_seed, task_range
from envs.textenv import Opening, TextEnv, after_opening, fixed_replies

ENV_ID = "agenttune/Toy-v0"


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("Toy", split, index)
    return Task(f"toy-{split}-{index}", ENV_ID, split, seed, {"target": seed % 7})


def payload_problems(payload: Any) -> list[str]:
    return [] if isinstance(payload.get("target"), int) else ["target: expected int"]


class ToyEnv(TextEnv):
    """Guess the target number; each episode holds a 'resource' so that releases can be counted."""

    env_id, default_max_turns = ENV_ID, 3
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    example_key = "demo"
    truncated_info = {"success": False, "guessed": False}

    def __init__(self, split: Split = "train", max_turns: int | None = None, release_at_end: bool = False) -> None:
        super().__init__(split, max_turns)
        self.release_at_end = release_at_end
        self.released = 0
        self.holding = False

    def _check_task(self, task: Task) -> None:
        if task.payload["target"] < 0:
            raise TaskFormatError("toy", "negative target")

    def _start(self, task: Task) -> Opening:
        self.holding = True
        return Opening("Guess.", instruction="Guess a number.", example="Action: 3", extra={"hint": "below 7"})

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        if not isinstance(action, str) or not action.isdigit():
            info["invalid_action"] = True
            return "Say a number.", 0.0, False
        hit = int(action) == self.task.payload["target"]
        if hit:
            info["success"] = True
        return ("Yes." if hit else "No."), float(hit), hit

    def _state_info(self) -> dict[str, Any]:
        return {"holding": self.holding}

    def _release(self) -> None:
        self.released += self.holding
        self.holding = False


def test_split_seeds_are_disjoint_and_checked():
    assert split_seed("Toy", "train", 5) == 5
    assert split_seed("Toy", "test", 5) == SPLIT_SIZE + 5
    with pytest.raises(EnvsError, match=r"Toy tasks are generated for splits \['test', 'train'\], not 'dev'"):
        split_seed("Toy", "dev", 0)
    with pytest.raises(EnvsError, match=f"Toy task index {SPLIT_SIZE} is outside 0..{SPLIT_SIZE - 1}"):
        split_seed("Toy", "train", SPLIT_SIZE)
    generate_tasks = partial(task_range, generate_task)
    assert [t.task_id for t in generate_tasks("test", 2, start=4)] == ["toy-test-4", "toy-test-5"]
    assert generate_tasks("train", 0) == []


def test_constructor_checks_split_and_max_turns():
    assert ToyEnv().max_turns == 3 and ToyEnv(max_turns=5).max_turns == 5
    with pytest.raises(EnvsError, match="split must be one of"):
        ToyEnv(split="dev")
    with pytest.raises(EnvsError, match="max_turns must be positive, got 0"):
        ToyEnv(max_turns=0)


def test_reset_info_carries_the_opening_parts_and_the_state():
    env = ToyEnv()
    obs, info = env.reset(seed=10)
    assert obs == "Guess."
    assert info == {
        "task_id": "toy-train-10",
        "task": env.task,
        "turn": 0,
        "invalid_action": False,
        "instruction": "Guess a number.",
        "demo": "Action: 3",
        "hint": "below 7",
        "holding": True,
        "opening_turns": [{"role": "user", "content": "Guess."}],  # no question part: the opening is one turn
    }
    assert env.reset(seed=10 + SPLIT_SIZE)[1]["task_id"] == "toy-train-10"  # the seed wraps around the split


def test_the_opening_as_turns_follows_agentinstruct() -> None:
    example = [
        {"role": "user", "content": "ex question"},
        {"role": "assistant", "content": "ex act"},
        {"role": "user", "content": "ex output"},
        {"role": "assistant", "content": "ex answer"},
    ]
    with_ack = Opening("flat", instruction="rules", acknowledgement="Ok.", example=example, question="task")
    assert [(t["role"], t["content"]) for t in with_ack.turns()] == [
        ("user", "rules"),
        ("assistant", "Ok."),
        ("user", "ex question"),
        ("assistant", "ex act"),
        ("user", "ex output"),
        ("assistant", "ex answer"),
        ("user", "task"),
    ]
    # OS has no acknowledgement: the instruction and the example's first question share a user turn
    without = Opening("flat", instruction="rules", example=example, question="task")
    assert [t["role"] for t in without.turns()] == ["user", "assistant", "user", "assistant", "user"]
    assert without.turns()[0]["content"] == "rules\n\nex question"
    # a text example joins the instruction; no parts at all: the flat text is the one turn
    text = Opening("flat", instruction="rules", acknowledgement="OK", example="an example", question="task")
    assert text.turns() == [
        {"role": "user", "content": "rules"},
        {"role": "assistant", "content": "OK"},
        {"role": "user", "content": "an example\n\ntask"},
    ]
    assert Opening("flat", instruction="rules").turns() == [{"role": "user", "content": "flat"}]


def test_after_opening_drops_the_fixed_replies_only() -> None:
    replies = fixed_replies("Ok.", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "ex"}])
    assert replies == ("Ok.", "ex")
    opened = [
        {"role": "user", "content": "rules"},
        {"role": "assistant", "content": "Ok."},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "ex"},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "mine"},
    ]
    assert after_opening(opened, replies) == opened[4:]
    flat = [{"role": "user", "content": "everything"}, {"role": "assistant", "content": "mine"}]
    assert after_opening(flat, replies) == flat
    # the match is by text, in order: a flat conversation whose agent first replies exactly the fixed text
    # looks opened (the oracles, the only users, never say it); a reply that differs stops the match
    echo = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "Ok."}]
    assert after_opening(echo, ("Ok.",)) == []
    assert after_opening(opened, ("Ok.", "other")) == opened[2:]


def test_step_guards_turn_cap_and_success():
    env = ToyEnv()
    with pytest.raises(EnvsError, match="call reset"):
        env.step("1")
    env.reset(seed=3)
    assert env.step("x")[1:4] == (0.0, False, False)
    assert env.step("1")[4] == {"task_id": "toy-train-3", "turn": 2, "invalid_action": False, "holding": True}
    _, reward, terminated, truncated, info = env.step("2")
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info == {
        "task_id": "toy-train-3",
        "turn": 3,
        "invalid_action": False,
        "success": False,
        "guessed": False,
        "holding": True,
    }
    with pytest.raises(EnvsError, match="the episode of task toy-train-3 is over"):
        env.step("3")
    env.reset(seed=3)
    assert env.step("3")[1:4] == (1.0, True, False)


def test_a_bad_given_task_leaves_the_last_episode_playing():
    env = ToyEnv()
    env.reset(seed=1)
    good = generate_task("test", 2)
    for bad, problem in [
        ({"task_id": "t"}, "expected a Task or a task dict"),
        (Task("t", "agenttune/Other-v0", "test", None, {"target": 1}), "belongs to 'agenttune/Other-v0'"),
        (Task("t", ENV_ID, "test", None, {}), "malformed payload: target: expected int"),
        (Task("t", ENV_ID, "test", None, {"target": -1}), "negative target"),
    ]:
        with pytest.raises(TaskFormatError, match=problem):
            env.reset(options={"task": bad})
    assert env.task.task_id == "toy-train-1" and env.released == 0
    assert env.step("9")[4]["turn"] == 1
    assert env.reset(options={"task": good.to_dict()})[1]["task_id"] == good.task_id


def test_resources_are_released_at_reset_close_and_optionally_at_the_end():
    env = ToyEnv()
    env.reset(seed=1)
    env.reset(seed=2)
    assert env.released == 1
    env.close()
    env.close()
    assert env.released == 2
    with pytest.raises(EnvsError, match="call reset"):
        env.step("1")

    eager = ToyEnv(max_turns=1, release_at_end=True)
    eager.reset(seed=1)
    eager.step("9")
    assert eager.released == 1
    with pytest.raises(EnvsError, match="call reset"):  # its resources are gone, as OS's sandbox is
        eager.step("9")
