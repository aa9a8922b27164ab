"""Seeded generator of KG tasks: a world, a multi-hop question about it, its gold program and answer set.

Splits use disjoint seeds: task ``i`` of "train" is seed ``i`` and task ``i`` of "test"
is seed ``10_000_000 + i``, for ``0 <= i < 10_000_000``. Each seed builds its own world
(``graph.world``), so test questions are about facts no training task has seen.

The categories mirror AgentBench's KG questions (GrailQA / GraphQuestions style):
1-3 hop relation paths, the intersection of two paths, counts, and argmax / argmin
over an attribute. The gold program is run through the same ``Session`` the agent
uses, so the gold answer is right by construction; questions with empty or oversized
answers, ties, or intersections that one branch alone would answer are redrawn.

    python -c "from envs.kg.generator import generate_tasks; print(generate_tasks('train', 1)[0])"
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError
from envs.kg.graph import WORLD_VERSION, Graph, world
from envs.kg.payload import ENV_ID, MAX_TURNS, KGPayload, Step
from envs.kg.schema import ATTRIBUTES, RELATIONS, TYPES
from envs.kg.tools import Session, ToolCall
from envs.splits import split_seed, task_range

CATEGORIES: dict[str, float] = {  # category -> share of tasks
    "one_hop": 0.10, "two_hop": 0.20, "three_hop": 0.15, "intersection": 0.20, "count": 0.15,
    "argmax": 0.10, "argmin": 0.10,
}  # fmt: skip
MAX_ANSWERS = 8  # entity answers; longer lists make poor questions
MAX_SET = 40  # intermediate sets and counts
MAX_PROGRAM = MAX_TURNS - 1  # gold calls, leaving the last turn for the final answer
_ATTEMPTS = 500


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("KG", split, index)
    rng = random.Random(f"kg-question/{seed}")
    graph = world(seed)
    category = rng.choices(list(CATEGORIES), weights=list(CATEGORIES.values()))[0]
    for _ in range(_ATTEMPTS):
        plan = _BUILDERS[category](rng, graph)
        if plan is not None and len(plan.steps) <= MAX_PROGRAM:
            payload = plan.payload(category, {"world": WORLD_VERSION, "seed": seed})
            return Task(f"kg-{split}-{index:07d}", ENV_ID, split, seed, dict(payload))
    raise EnvsError(f"could not generate a {category} task from seed {seed}; this is a generator bug")


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


class _Plan:
    """A gold program under construction: each call runs at once, so every answer is exact."""

    def __init__(self, graph: Graph, question: str, entities: list[str]) -> None:
        self.session = Session(graph)
        self.question, self.entities = question, entities
        self.steps: list[Step] = []

    def call(self, thought: str, tool: str, *args: str) -> str:
        """Run one gold call; returns the name of the variable it made ("" for listings)."""
        made = len(self.session.variables)
        self.session.run(ToolCall(tool, args))  # a ToolError here is a generator bug and should surface
        self.steps.append({"thought": thought, "action": str(ToolCall(tool, args))})
        return f"#{made}" if len(self.session.variables) > made else ""

    def path(self, start: str, relations: list[str]) -> str:
        """get_relations + get_neighbors for each hop from ``start``; returns the last variable."""
        ref, described = start, start
        for relation in relations:
            target = RELATIONS[relation].phrase.format(described)
            self.call(f"I need {target}. First I will see which relations {ref} has.", "get_relations", ref)
            thought = f"The relation {relation} leads from {ref} to {target}, so I will follow it."
            ref, described = self.call(thought, "get_neighbors", ref, relation), target
        return ref

    def payload(self, category: str, graph: dict[str, Any]) -> KGPayload:
        last = len(self.session.variables) - 1
        return {
            "question": self.question,
            "entities": self.entities,
            "category": category,
            "graph": graph,
            "program": self.steps,
            "answer_variable": last,
            "answer": sorted(self.session.variables[last].answer()),
            "source": "generated",
        }


# ---------------------------------------------------------------------------------------------- walks


def _walk(rng: random.Random, graph: Graph, hops: int, *, plural_end: bool = False) -> tuple[str, list[str]] | None:
    """A random start entity and relation path of ``hops`` hops whose sets stay non-empty and small."""
    start = rng.choice(list(graph.types))
    current, path = {start}, []
    for hop in range(hops):
        # Stepping straight back along the inverse relation makes a pointless question.
        options = [r for r in graph.relations(current) if not path or r != RELATIONS[path[-1]].inverse]
        if hop == hops - 1 and plural_end:
            options = [r for r in options if RELATIONS[r].plural]
        if not options:
            return None
        path.append(rng.choice(options))
        current = graph.neighbors(current, path[-1])
        if len(current) > MAX_SET:
            return None
    return start, path


def _backward(rng: random.Random, graph: Graph, target: str, hops: int) -> tuple[str, list[str]] | None:
    """A start entity and a path of ``hops`` hops from it that reaches ``target``; the last hop is plural."""
    current, path = target, []
    for _ in range(hops):
        options = [r for r in graph.relations([current]) if not path or r != path[0]]
        if not path:
            options = [r for r in options if RELATIONS[RELATIONS[r].inverse].plural]
        if not options:
            return None
        relation = rng.choice(options)
        current = rng.choice(sorted(graph.neighbors([current], relation)))
        path.insert(0, RELATIONS[relation].inverse)
    return current, path


def _follow(graph: Graph, start: str, path: list[str]) -> set[str]:
    current = {start}
    for relation in path:
        current = graph.neighbors(current, relation)
    return current


def _phrase(start: str, path: list[str]) -> str:
    phrase = start
    for relation in path:
        phrase = RELATIONS[relation].phrase.format(phrase)
    return phrase


def _bare(phrase: str) -> str:
    return phrase.removeprefix("the ")


# ---------------------------------------------------------------------------------------------- questions


def _hops(hops: int) -> Callable[[random.Random, Graph], _Plan | None]:
    def build(rng: random.Random, graph: Graph) -> _Plan | None:
        walk = _walk(rng, graph, hops)
        if walk is None or not 1 <= len(answer := _follow(graph, *walk)) <= MAX_ANSWERS:
            return None
        start, path = walk
        phrase, kind = _phrase(start, path), TYPES[RELATIONS[path[-1]].range]
        templates = [f"Find {phrase}.", f"Name {phrase}."]
        if len(answer) > 1 or any(RELATIONS[r].plural for r in path):
            templates.append(f"What are {phrase}?")
            if not RELATIONS[path[-1]].plural:  # "Which films are the films ..." would repeat the noun
                templates.append(f"Which {kind.plural} are {phrase}?")
        else:
            templates += [f"What is {phrase}?", f"Which {kind.noun} is {phrase}?"]
        plan = _Plan(graph, rng.choice(templates), [start])
        plan.path(start, path)
        return plan

    return build


def _intersection(rng: random.Random, graph: Graph) -> _Plan | None:
    target = rng.choice(list(graph.types))
    branches = [_backward(rng, graph, target, 1), _backward(rng, graph, target, rng.choice((1, 1, 2)))]
    if branches[0] is None or branches[1] is None or branches[0][0] == branches[1][0]:
        return None
    sets = [_follow(graph, start, path) for start, path in branches]
    answer = sets[0] & sets[1]
    # Both conditions must matter, or the question is a plain path question in disguise.
    if answer in (sets[0], sets[1]) or len(answer) > MAX_ANSWERS or max(map(len, sets)) > MAX_SET:
        return None
    (first, first_path), (second, second_path) = branches
    one, two = _phrase(first, first_path), _phrase(second, second_path)
    nouns = TYPES[graph.types[target]].plural
    question = rng.choice(
        (f"Which {nouns} are among both {one} and {two}?", f"Find the {nouns} that are {_bare(one)} and also "
         f"{_bare(two)}.", f"What do {one} and {two} have in common?")
    )  # fmt: skip
    plan = _Plan(graph, question, [first, second])
    a, b = plan.path(first, first_path), plan.path(second, second_path)
    plan.call(
        f"The answer must be in both {a} ({one}) and {b} ({two}), so I will intersect them.", "intersection", a, b
    )
    return plan


def _count(rng: random.Random, graph: Graph) -> _Plan | None:
    walk = _walk(rng, graph, rng.choice((1, 2, 2)), plural_end=True)
    # A count of one is what count(entity) gives for free, so it would reward a blind guess.
    if walk is None or not 2 <= len(_follow(graph, *walk)) <= MAX_SET:
        return None
    start, path = walk
    phrase = _phrase(start, path)
    question = rng.choice(
        (f"How many {_bare(phrase)} are there?", f"What is the number of {_bare(phrase)}?", f"Count {phrase}.")
    )
    plan = _Plan(graph, question, [start])
    ref = plan.path(start, path)
    plan.call(f"{ref} holds {phrase}; the question asks how many there are, so I will count them.", "count", ref)
    return plan


def _superlative(tool: str) -> Callable[[random.Random, Graph], _Plan | None]:
    def build(rng: random.Random, graph: Graph) -> _Plan | None:
        walk = _walk(rng, graph, rng.choice((1, 2)), plural_end=True)
        if walk is None:
            return None
        start, path = walk
        entities = _follow(graph, start, path)
        if not 2 <= len(entities) <= MAX_SET:
            return None
        attribute = ATTRIBUTES[rng.choice(graph.attribute_names(entities))]
        values = sorted((graph.attributes[e][attribute.name] for e in entities), reverse=tool == "argmax")
        if values[0] == values[1]:  # a tie would make "the one with the most" ambiguous
            return None
        phrase = _phrase(start, path)
        word = attribute.most if tool == "argmax" else attribute.least
        question = rng.choice(
            (f"Among {phrase}, which one has the {word} {attribute.noun}?",
             f"Which of {phrase} has the {word} {attribute.noun}?")
        )  # fmt: skip
        plan = _Plan(graph, question, [start])
        ref = plan.path(start, path)
        thought = f"{ref} holds {phrase}. To compare their {attribute.noun}, I will list their attributes."
        plan.call(thought, "get_attributes", ref)
        thought = f"{attribute.name} is the {attribute.noun}; the {word} one is the {tool} of {ref} over it."
        plan.call(thought, tool, ref, attribute.name)
        return plan

    return build


_BUILDERS: dict[str, Callable[[random.Random, Graph], _Plan | None]] = {
    "one_hop": _hops(1),
    "two_hop": _hops(2),
    "three_hop": _hops(3),
    "intersection": _intersection,
    "count": _count,
    "argmax": _superlative("argmax"),
    "argmin": _superlative("argmin"),
}
