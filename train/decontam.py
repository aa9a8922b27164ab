"""Keep evaluation tasks out of the training data.

    index = DecontamIndex.build(eval_task_ids, eval_prompts_by_env)
    kept, removed = index.filter(records)        # removed: {"task_id": n, "ngram": m}

A training record is removed when it comes from an evaluation task (same task id) or,
for external corpora, shares a long word n-gram (13 words, the GPT-3 paper's choice)
with an evaluation prompt. N-grams that occur in many prompts of one env are that env's
instruction boilerplate and are not counted. Trajectories rolled out here on train seeds
are checked by task id only: tasks of one generator share table headers and phrasings by
design, and the seed split already keeps their instances apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envs.config import EnvSelection, select_tasks

N = 13
BOILERPLATE_SHARE = 0.2  # an n-gram in more than this share of an env's eval prompts is instruction text
_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass
class DecontamIndex:
    task_ids: set[str] = field(default_factory=set)
    grams: set[tuple[str, ...]] = field(default_factory=set)
    n: int = N

    @classmethod
    def build(cls, task_ids: Iterable[str], prompts_by_env: Mapping[str, list[str]], n: int = N) -> DecontamIndex:
        grams: set[tuple[str, ...]] = set()
        for prompts in prompts_by_env.values():
            per_prompt = [ngrams(p, n) for p in prompts]
            seen = Counter(g for gs in per_prompt for g in gs)
            limit = max(1.0, BOILERPLATE_SHARE * len(prompts))
            grams |= {g for g, c in seen.items() if c <= limit}
        return cls(set(task_ids), grams, n)

    @classmethod
    def from_envs(cls, selections: list[EnvSelection], kwargs: Mapping[str, dict[str, Any]]) -> DecontamIndex:
        """The index of every task ``selections`` name (the eval tasks): their ids and first prompts.

        ``kwargs`` are the envs' constructor kwargs by id (``envs.config.env_kwargs``).
        """
        import envs

        ids: list[str] = []
        prompts: dict[str, list[str]] = {}
        for sel in selections:
            tasks = select_tasks(sel)
            ids += [t.task_id for t in tasks]
            with envs.make_env(sel.id, **kwargs[envs.get_spec(sel.id).id]) as env:
                prompts.setdefault(sel.id, []).extend(env.reset(options={"task": t})[0] for t in tasks)
        return cls.build(ids, prompts)

    def reason(self, record: Mapping[str, Any], *, check_ngrams: bool = True) -> str | None:
        """Why ``record`` must not be trained on, or None."""
        task_id = (record.get("meta") or {}).get("task_id") or record.get("task_id")
        if task_id and task_id in self.task_ids:
            return "task_id"
        text = " ".join(t["value"] for t in record["conversations"])
        if check_ngrams and self.grams and not ngrams(text, self.n).isdisjoint(self.grams):
            return "ngram"
        return None

    def filter(
        self, records: Iterable[dict[str, Any]], *, check_ngrams: bool = True
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        kept, removed = [], Counter()
        for r in records:
            why = self.reason(r, check_ngrams=check_ngrams)
            if why:
                removed[why] += 1
            else:
                kept.append(r)
        return kept, {"task_id": removed["task_id"], "ngram": removed["ngram"]}
