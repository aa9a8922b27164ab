"""Seeded generator of MultiHopQA tasks: a fictional world, its encyclopedia, and one two-hop question.

Task ``i`` of "train" uses seed ``i`` and task ``i`` of "test" seed ``10_000_000 + i``
(``0 <= i < 10_000_000``), so the splits never share a seed; only ``random.Random(seed)``
is used, so the same seed always gives the same task. Each task carries its own
document store (about 30 short pages), which keeps tasks self-contained JSON:

    {
      "question": "In which city was the founder of Orvane Labs born?",
      "answer": "Talford",
      "type": "bridge",                          # bridge | comparison (HotpotQA's two kinds)
      "template": "founder_birthplace",
      "supporting_docs": ["Orvane Labs", "Ilsa Dorwick"],   # in the order an agent needs them
      "docs": {"Orvane Labs": ["Orvane Labs is a research laboratory founded in 1931 by ...", ...], ...},
    }

    python -c "from envs.qa.generator import generate_tasks; print(generate_tasks('test', 1)[0].payload['question'])"
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError
from envs.qa.world import World, build_world
from envs.splits import split_seed, task_range

ENV_ID = "agenttune/MultiHopQA-v0"
_ATTEMPTS = 100

# A question: (question, answer, supporting docs in hop order), or None when this world cannot ask it.
Question = tuple[str, str, list[str]]


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("MultiHopQA", split, index)
    rng = random.Random(seed)
    template = rng.choice(list(TEMPLATES))
    kind, ask = TEMPLATES[template]
    for _ in range(_ATTEMPTS):
        world = build_world(rng)
        question, answer, supporting = ask(world, rng)
        # A bridge answer that is already on the first page (a founder who works in their home town) is one hop.
        if kind == "comparison" or answer not in " ".join(world.docs[supporting[0]]):
            break
    else:
        raise EnvsError(f"could not generate a {template} question from seed {seed}; this is a generator bug")
    payload: dict[str, Any] = {
        "question": question,
        "answer": answer,
        "type": kind,
        "template": template,
        "supporting_docs": supporting,
        "docs": world.docs,
    }
    return Task(f"qa-{split}-{index:06d}", ENV_ID, split, seed, payload)


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected a string"
        for key in ("question", "answer", "type", "template")
        if not isinstance(payload.get(key), str)
    ]
    docs = payload.get("docs")
    if not isinstance(docs, dict) or not all(
        isinstance(title, str) and isinstance(page, list) and all(isinstance(s, str) for s in page)
        for title, page in docs.items()
    ):
        problems.append("docs: expected an object mapping titles to lists of sentences")
    supporting = payload.get("supporting_docs")
    if not isinstance(supporting, list) or not all(isinstance(docs, dict) and t in docs for t in supporting):
        problems.append("supporting_docs: expected a list of titles found in docs")
    return problems


# ------------------------------------------------------------------------------------------- questions


def _founder_birthplace(world: World, rng: random.Random) -> Question:
    org = world.orgs[rng.choice(list(world.orgs))]
    founder = world.people[org.founder]
    return f"In which city was the founder of {org.name} born?", founder.birth_city, [org.name, founder.name]


def _founder_birth_year(world: World, rng: random.Random) -> Question:
    org = world.orgs[rng.choice(list(world.orgs))]
    founder = world.people[org.founder]
    return f"In what year was the founder of {org.name} born?", str(founder.born), [org.name, founder.name]


def _employer_city(world: World, rng: random.Random) -> Question:
    person = world.people[rng.choice(list(world.people))]
    org = world.orgs[person.employer]
    question = f"In which city is the organisation that {person.name} works for based?"
    return question, org.city, [person.name, org.name]


def _organiser_founder(world: World, rng: random.Random) -> Question:
    event = world.events[rng.choice(list(world.events))]
    org = world.orgs[event.organiser]
    return f"Who founded the organisation that runs the {event.name}?", org.founder, [event.name, org.name]


def _org_country(world: World, rng: random.Random) -> Question:
    org = world.orgs[rng.choice(list(world.orgs))]
    city = world.cities[org.city]
    return f"In which country does {org.name} have its headquarters?", city.country, [org.name, city.name]


def _born_first(world: World, rng: random.Random) -> Question:
    while True:
        first, second = (world.people[name] for name in rng.sample(list(world.people), 2))
        if first.born != second.born:  # a tie has no single answer
            break
    answer = min(first, second, key=lambda person: person.born).name
    return f"Who was born first, {first.name} or {second.name}?", answer, [first.name, second.name]


def _founded_first(world: World, rng: random.Random) -> Question:
    while True:
        first, second = (world.orgs[name] for name in rng.sample(list(world.orgs), 2))
        if first.founded != second.founded:
            break
    answer = min(first, second, key=lambda org: org.founded).name
    return f"Which was founded earlier, {first.name} or {second.name}?", answer, [first.name, second.name]


TEMPLATES: dict[str, tuple[str, Callable[[World, random.Random], Question]]] = {
    "founder_birthplace": ("bridge", _founder_birthplace),
    "founder_birth_year": ("bridge", _founder_birth_year),
    "employer_city": ("bridge", _employer_city),
    "organiser_founder": ("bridge", _organiser_founder),
    "org_country": ("bridge", _org_country),
    "born_first": ("comparison", _born_first),
    "founded_first": ("comparison", _founded_first),
}
