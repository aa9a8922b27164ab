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

from envs.base import Task
from envs.qa import prompts, scoring
from envs.qa.actions import Call, Invalid, parse_action
from envs.qa.generator import ENV_ID, generate_task, payload_problems
from envs.textenv import Opening, TextEnv

MAX_TURNS = 10
MAX_SIMILAR = 5


class MultiHopQAEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    truncated_info = {"success": False, "em": False, "f1": 0.0}

    def _start(self, task: Task) -> Opening:
        self._titles = {_title_key(title): title for title in task.payload["docs"]}  # normalised title -> title
        self._page: str | None = None  # the open page's title
        self._lookup: tuple[str, int] | None = None  # (keyword, results shown) of the last Lookup
        question = task.payload["question"]
        return Opening(
            prompts.first_observation(question, self.max_turns),
            instruction=prompts.INSTRUCTION.format(max_turns=self.max_turns),
            acknowledgement=prompts.ACKNOWLEDGEMENT,
            question=prompts.question_turn(question),
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        parsed = parse_action(action) if isinstance(action, str) else Invalid("the action must be text.")
        if isinstance(parsed, Invalid):
            info["invalid_action"] = True
            return prompts.invalid_action(parsed.reason), 0.0, False
        if parsed.kind == "search":
            return self._search(parsed.argument, info), 0.0, False
        if parsed.kind == "lookup":
            return self._lookup_keyword(parsed.argument), 0.0, False
        return prompts.EPISODE_OVER, self._grade(parsed, info), True

    def _search(self, query: str, info: dict[str, Any]) -> str:
        assert self._task is not None  # set by reset
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
        assert self._task is not None  # set by reset
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
        assert self._task is not None  # set by reset
        gold = self._task.payload["answer"]
        em = scoring.exact_match(call.argument, gold)
        info.update(answer=call.argument, gold_answer=gold, em=em, f1=scoring.f1_score(call.argument, gold))
        info["success"] = em
        return 1.0 if em else 0.0


def _title_key(text: str) -> str:
    words = text.lower().split()
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)
