"""A baseline that answers with random well-formed-looking guesses.

It is the floor an env's tasks must sit above: a task set a random agent solves is
not measuring anything. Deterministic per (seed, task, turn).
"""

from __future__ import annotations

import random
import zlib

from envs.base import Task
from rollouts.policies.base import Message, Policy

_WORDS = ("1", "0", "none", "yes", "no", "2", "10", "unknown", "a", "the")


class RandomPolicy(Policy):
    kind = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    async def aact(self, messages: list[Message], *, task: Task) -> str:
        return self.act(messages, task=task)  # microseconds of work: a thread hop would cost more

    def act(self, messages: list[Message], *, task: Task) -> str:
        turn = sum(m["role"] == "assistant" for m in messages)
        rng = random.Random(zlib.crc32(f"{self.seed}:{task.task_id}:{turn}".encode()))
        guess = rng.choice(_WORDS)
        # Half the time a free-form reply (malformed for every env), half an answer-shaped guess.
        if rng.random() < 0.5:
            return f"I think the answer is {guess}."
        return f'Thought: guessing.\nAction: Answer\nFinal Answer: ["{guess}"]\nAct: answer({guess})\nACTION: {guess}'
