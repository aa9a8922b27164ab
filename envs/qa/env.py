"""``agenttune/MultiHopQA-v0``: answer a two-hop question by searching a local encyclopedia (held out).

    import envs, gymnasium
    with gymnasium.make("agenttune/MultiHopQA-v0", split="test") as env:
        obs, info = env.reset(seed=3)                          # a generated test task
        obs, info = env.reset(options={"task": task})          # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: Search[Orvane Labs]")

``Search[entity]`` shows the page titled ``entity`` (matched ignoring case, spacing and a
leading "the") or similar titles; ``Lookup[keyword]`` walks through the open page's
sentences that contain the keyword; ``Finish[answer]`` ends the episode with reward 1.0
on an exact match after HotpotQA's normalisation, else 0.0, and reports ``info["em"]``,
``info["f1"]`` and ``info["success"]``. A malformed reply is an observation with
``info["invalid_action"] = True``; the episode is truncated after ``max_turns`` replies.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError
from envs.qa import prompts, scoring
from envs.qa.actions import Call, Invalid, parse_action
from envs.qa.generator import ENV_ID, SPLIT_SEED_BASE, SPLIT_SIZE, generate_task, payload_problems
from envs.textenv import given_task, init_text_env

MAX_TURNS = 10
MAX_SIMILAR = 5


class MultiHopQAEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: Split = "train", max_turns: int = MAX_TURNS) -> None:
        init_text_env(self, ENV_ID, split, max_turns, SPLIT_SEED_BASE)
        self._task: Task | None = None
        self._titles: dict[str, str] = {}  # normalised title -> title
        self._page: str | None = None  # the open page's title
        self._lookup: tuple[str, int] | None = None  # (keyword, results shown) of the last Lookup
        self._turn, self._done = 0, False

    @property
    def task(self) -> Task | None:
        """The current episode's task (None before the first reset)."""
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        self._task, self._turn, self._done = task, 0, False
        self._titles = {_title_key(title): title for title in task.payload["docs"]}
        self._page, self._lookup = None, None
        info = {"task_id": task.task_id, "task": task, "turn": 0, "invalid_action": False}
        info["question"] = task.payload["question"]
        return prompts.first_observation(task.payload["question"], self.max_turns), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        reward, terminated = 0.0, False
        if isinstance(parsed, Invalid):
            observation, info["invalid_action"] = prompts.invalid_action(parsed.reason), True
        elif parsed.kind == "search":
            observation = self._search(parsed.argument, info)
        elif parsed.kind == "lookup":
            observation = self._lookup_keyword(parsed.argument)
        else:
            observation, reward, terminated = prompts.EPISODE_OVER, self._grade(parsed, info), True
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info.update(success=False, em=False, f1=0.0)
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, info

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        task = given_task(given, ENV_ID, payload_problems)
        return task

    def _search(self, query: str, info: dict[str, Any]) -> str:
        assert self._task is not None  # checked by step()
        title = self._titles.get(_title_key(query))
        info["found"] = title is not None
        if title is None:
            return prompts.not_found(query, self._similar(query))
        self._page, self._lookup = title, None
        info["page"] = title
        return prompts.page(self._task.payload["docs"][title])

    def _similar(self, query: str) -> list[str]:
        key = _title_key(query)
        # Titles sharing a word with the query come first (a surname, "Labs"), then spelling neighbours.
        words = set(key.split())
        sharing = [title for k, title in self._titles.items() if words & set(k.split())]
        close = [self._titles[k] for k in difflib.get_close_matches(key, list(self._titles), n=MAX_SIMILAR)]
        return list(dict.fromkeys(sharing + close))[:MAX_SIMILAR]

    def _lookup_keyword(self, keyword: str) -> str:
        assert self._task is not None  # checked by step()
        if self._page is None:
            return prompts.NO_PAGE
        needle = keyword.lower()
        hits = [s for s in self._task.payload["docs"][self._page] if needle in s.lower()]
        shown = self._lookup[1] if self._lookup is not None and self._lookup[0] == needle else 0
        if shown >= len(hits):
            return prompts.lookup_exhausted(keyword, len(hits))
        self._lookup = (needle, shown + 1)
        return prompts.lookup_result(shown + 1, len(hits), hits[shown])

    def _grade(self, call: Call, info: dict[str, Any]) -> float:
        assert self._task is not None  # checked by step()
        gold = self._task.payload["answer"]
        em = scoring.exact_match(call.argument, gold)
        info.update(answer=call.argument, gold_answer=gold, em=em, f1=scoring.f1_score(call.argument, gold))
        info["success"] = em
        return 1.0 if em else 0.0


def _title_key(text: str) -> str:
    words = text.lower().split()
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)
