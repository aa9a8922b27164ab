"""``TextEnv``: what every agenttune text env shares, so that an env says only what differs.

    class DBEnv(TextEnv):
        env_id, default_max_turns = ENV_ID, 15
        generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)

        @abc.abstractmethod
    def _start(self, task: Task) -> Opening: ...      # set up the episode; how it opens
        def _act(self, action: str, info: dict) -> tuple[str, float, bool]: ...   # one turn

``TextEnv`` does the rest the same way for every env. ``__init__`` checks ``split`` and
``max_turns`` and gives the text spaces. ``reset`` picks the task (``seed % SPLIT_SIZE`` or a
random index into the split, or ``options["task"]``, refused with a ``TaskFormatError`` when it is
of another env or malformed) and reports ``task_id``, ``task``, ``turn``, ``invalid_action`` and
the opening's parts in its info, with ``opening_turns``: the opening as the chat turns AgentInstruct's
records open with (see ``Opening.turns``), which the episode runner sends instead of the flat
observation. ``step`` refuses to run before ``reset`` and after the episode
ended, counts turns and truncates at ``max_turns`` (``info["success"] = False``). Per-episode
resources (a database, a sandbox) are freed by ``_release`` at the next reset and at ``close``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.sandbox.warm import foreground
from envs.spaces import UnicodeText
from envs.splits import SPLIT_SEED_BASE, SPLIT_SIZE

WHERE = "reset(options={'task': ...})"
MAX_TEXT_CHARS = 100_000  # far above any prompt or reply; bounds space.sample() cost

Message = dict[str, str]


@dataclass(frozen=True)
class Opening:
    """How an episode opens: the first observation, and the parts it is made of.

    AgentInstruct sends the opening as separate user turns (the instruction, a worked example, then
    the task), so an env names those parts besides the whole ``text``; they go into reset's info
    under their own keys. A part an env does not expose stays None and is left out of the info.
    """

    text: str  # the first observation
    instruction: str | None = None
    acknowledgement: str | None = None  # the agent's fixed reply to the instruction (AgentInstruct's "Ok.")
    example: str | list[Message] | None = None  # a worked example: text, or a transcript (OS's one-shot)
    question: str | None = None  # the task itself
    extra: dict[str, Any] = field(default_factory=dict)  # more for reset's info (OS: which sandbox ran)

    def turns(self) -> list[Message]:
        """The opening as chat turns, in the order AgentInstruct's records open with.

        The instruction is a user turn, the agent's acknowledgement follows it, then the worked example's
        turns and last the task. Two user turns in a row are joined into one (OS has no acknowledgement:
        its instruction and the example's first question share a turn), so the turns alternate and end
        with the user. Every assistant turn here is fixed text, never the policy's: records mark them
        ``loss: false``. Without an instruction and a question the opening is one user turn, ``text``.
        """
        if self.instruction is None or self.question is None:
            return [{"role": "user", "content": self.text}]
        turns: list[Message] = []

        def add(role: str, content: str) -> None:
            if turns and turns[-1]["role"] == role == "user":
                turns[-1] = {"role": "user", "content": f"{turns[-1]['content']}\n\n{content}"}
            else:
                turns.append({"role": role, "content": content})

        add("user", self.instruction)
        if self.acknowledgement is not None:
            add("assistant", self.acknowledgement)
        if isinstance(self.example, str):
            add("user", self.example)
        else:
            for message in self.example or ():
                add(message["role"], message["content"])
        add("user", self.question)
        return turns


def fixed_replies(acknowledgement: str | None, example: list[Message] | None = None) -> tuple[str, ...]:
    """The assistant turns of an opening with this acknowledgement and example: fixed text, in order."""
    ack = () if acknowledgement is None else (acknowledgement,)
    return ack + tuple(m["content"] for m in example or () if m["role"] == "assistant")


def after_opening(messages: list[Message], replies: Sequence[str]) -> list[Message]:
    """The conversation after an env's opening turns: what the agent itself said and saw.

    ``replies`` are the opening's assistant turns (``fixed_replies``: the acknowledgement, the one-shot
    example's replies). Oracles count and replay the agent's own turns with this, whether the conversation
    opened with those turns (the episode runner) or with the flat first observation.
    """
    fixed = list(replies)
    start = 0
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        if not fixed or message.get("content") != fixed[0]:
            break
        fixed, start = fixed[1:], index + 1
    return messages[start:]


def parse_task(given: Any, env_id: str) -> Task:
    """The task passed to ``reset(options={"task": ...})``: a Task or its dict, of env ``env_id``.
    Anything else is a ``TaskFormatError`` that says what is wrong."""
    try:
        task = given if isinstance(given, Task) else Task.from_dict(given)
    except (KeyError, TypeError, AttributeError) as error:
        raise TaskFormatError(WHERE, f"expected a Task or a task dict ({error!r} missing or wrong)") from error
    if task.env_id != env_id:
        raise TaskFormatError(WHERE, f"task {task.task_id} belongs to {task.env_id!r}, not {env_id!r}")
    return task


class TextEnv(gymnasium.Env[str, str], abc.ABC):
    """A gymnasium env whose observations and actions are text and whose episode plays one ``Task``.

    Subclasses set the class attributes below and implement ``_start`` and ``_act``; the other
    hooks (``_check_task``, ``_state_info``, ``_release``) have defaults that most envs keep.
    After ``close``, or a reset that failed while setting the episode up, ``step`` asks for a reset.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    env_id: ClassVar[str]
    default_max_turns: ClassVar[int]
    generate_task: ClassVar[Callable[[Split, int], Task]]  # set with staticmethod(...), as payload_problems
    payload_problems: ClassVar[Callable[[Any], list[str]] | None] = None  # a given task's payload -> its problems
    example_key: ClassVar[str] = "example"  # the info key of the opening's example (OS says "one_shot")
    truncated_info: ClassVar[Mapping[str, Any]] = {"success": False}  # info when the turn cap ends an episode
    release_at_end: ClassVar[bool] = False  # free the episode's resources as soon as it ends, not at the next reset

    def __init__(self, split: Split = "train", max_turns: int | None = None) -> None:
        max_turns = self.default_max_turns if max_turns is None else max_turns
        splits = sorted(SPLIT_SEED_BASE)
        if split not in splits:
            raise EnvsError(f"{self.env_id}: split must be one of {splits}, got {split!r}")
        if max_turns < 1:
            raise EnvsError(f"{self.env_id}: max_turns must be positive, got {max_turns}")
        self.split = split
        self.max_turns = max_turns
        self.observation_space = UnicodeText(MAX_TEXT_CHARS, min_length=1)
        self.action_space = UnicodeText(MAX_TEXT_CHARS)
        self._task: Task | None = None
        self._turn = 0
        self._done = False
        self._live = False  # an episode is set up and holds its resources

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})  # a bad task raises here, while the last episode is intact
        self._release_episode()
        self._task, self._turn, self._done = task, 0, False
        with foreground():  # a warm sandbox pool's background work waits for it (envs.sandbox.warm)
            opening = self._start(task)
        self._live = True
        info: dict[str, Any] = {"task_id": task.task_id, "task": task, "turn": 0, "invalid_action": False}
        parts = {"instruction": opening.instruction, self.example_key: opening.example, "question": opening.question}
        info |= {key: part for key, part in parts.items() if part is not None}
        info["opening_turns"] = opening.turns()
        info |= opening.extra | self._state_info()
        return opening.text, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or not self._live:
            raise EnvsError(f"{self.env_id}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{self.env_id}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        with foreground():
            observation, reward, terminated = self._act(action, info)
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info.update(self.truncated_info)
        info.update(self._state_info())
        self._done = terminated or truncated
        if self._done and self.release_at_end:
            self._release_episode()
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._release_episode()
        super().close()

    # ------------------------------------------------------------------------------------------------ hooks

    @abc.abstractmethod
    def _start(self, task: Task) -> Opening:
        """Set up the episode of ``task`` (its database, sandbox or world) and say how it opens."""
        raise NotImplementedError

    @abc.abstractmethod
    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        """Play one turn: ``(observation, reward, terminated)``, with the turn's details added to ``info``.
        ``action`` comes from the agent unchecked, so it may not even be text."""
        raise NotImplementedError

    def _check_task(self, task: Task) -> None:
        """Raise ``TaskFormatError`` when a task passed to reset, its payload well-formed, still cannot be played."""

    def _state_info(self) -> dict[str, Any]:
        """What reset's info and every step's info end with (the household env's admissible actions)."""
        return {}

    def _release(self) -> None:
        """Free what the episode holds (a database, a sandbox); must be safe to call when it holds nothing."""

    # ------------------------------------------------------------------------------------------------ helpers

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return self.generate_task(self.split, index)
        task = parse_task(given, self.env_id)
        if self.payload_problems is not None and (problems := self.payload_problems(task.payload)):
            raise TaskFormatError(WHERE, f"task {task.task_id} has a malformed payload: " + "; ".join(problems))
        self._check_task(task)
        return task

    def _release_episode(self) -> None:
        self._live = False
        self._release()
