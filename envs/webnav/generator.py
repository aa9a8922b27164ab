"""Seeded WebNav tasks: a task on a made-up site, its pages, and the recorded step-by-step actions.

Task ``i`` of "train" uses seed ``i`` and task ``i`` of "test" seed ``10_000_000 + i`` (``0 <= i < 10_000_000``),
so the splits never share a seed; only ``random.Random(seed)`` is used, so the same seed gives the same task.
Each step shows the recorded element among up to 4 other elements of its page (Mind2Web's candidates), in page
order. The payload is plain JSON:

    {"kind": "flight", "website": "BlueJet", "domain": "Travel",
     "task": "Search for a one-way flight from Denver, CO to Austin, TX on June 14 for 2 adults.",
     "pages": [{"title": "Book a flight", "url": "https://www.bluejet.com/flights",
                "elements": [{"tag": "button", "text": "One-way", "attrs": "tab", "options": []}, ...]}, ...],
     "steps": [{"page": 0, "target": 8, "op": "CLICK", "value": "", "candidates": [3, 8, 12, 15, 17],
                "thought": "The trip is one way, ..."}, ...]}

    python -c "from envs.webnav.generator import generate_tasks; print(generate_tasks('test', 1)[0].payload['task'])"
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError
from envs.splits import split_seed, task_range
from envs.webnav.prompts import INTERACTIVE, OPS
from envs.webnav.sites import SITES

ENV_ID = "agenttune/WebNav-v0"
MAX_STEPS = 8  # the longest recorded task; the env's turn cap
MAX_CANDIDATES = 5  # choices B..F besides A, as AgentBench shows Mind2Web's candidates


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("WebNav", split, index)
    rng = random.Random(seed)
    kind = rng.choice(sorted(SITES))
    site = SITES[kind](rng)
    steps = []
    for step in site.steps:
        elements = site.pages[step["page"]]["elements"]
        others = [i for i, e in enumerate(elements) if e["tag"] in INTERACTIVE and i != step["target"]]
        negatives = rng.sample(others, min(MAX_CANDIDATES - 1, len(others)))
        steps.append({**step, "candidates": sorted([step["target"], *negatives])})
    payload = {"kind": kind, "website": site.name, "domain": site.domain, "task": site.task, "pages": site.pages,
               "steps": steps}  # fmt: skip
    if problems := payload_problems(payload):
        raise EnvsError(f"WebNav seed {seed} made a bad task ({'; '.join(problems)}); this is a generator bug")
    return Task(f"webnav-{split}-{index:07d}", ENV_ID, split, seed, payload)


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above, as 'key: what is wrong' lines (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected a string" for key in ("website", "domain", "task") if not isinstance(payload.get(key), str)
    ]
    pages, steps = payload.get("pages"), payload.get("steps")
    if not isinstance(pages, list) or not pages:
        return [*problems, "pages: expected a non-empty list of pages"]
    for p, page in enumerate(pages):
        problems += _page_problems(f"pages[{p}]", page)
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        return [*problems, f"steps: expected a list of 1 to {MAX_STEPS} steps"]
    if problems:
        return problems
    for s, step in enumerate(steps):
        problems += _step_problems(f"steps[{s}]", step, pages)
    return problems


def _page_problems(where: str, page: Any) -> list[str]:
    if not isinstance(page, dict) or not isinstance(page.get("elements"), list) or not page["elements"]:
        return [f"{where}: expected an object with a non-empty 'elements' list"]
    problems = [f"{where}.url: expected a string"] if not isinstance(page.get("url"), str) else []
    texts = []
    for e, element in enumerate(page["elements"]):
        ok = isinstance(element, dict) and all(isinstance(element.get(k), str) for k in ("tag", "text", "attrs"))
        if (
            not ok
            or not isinstance(element.get("options"), list)
            or not all(isinstance(o, str) for o in element["options"])
        ):
            problems.append(f"{where}.elements[{e}]: expected {{tag, text, attrs: strings, options: list of strings}}")
        elif element["tag"] in INTERACTIVE:
            texts.append(element["text"])
    if len(set(texts)) != len(texts):
        problems.append(f"{where}: two interactive elements have the same text")
    return problems


def _step_problems(where: str, step: Any, pages: list[dict[str, Any]]) -> list[str]:
    if not isinstance(step, dict):
        return [f"{where}: expected an object"]
    page = step.get("page")
    if not isinstance(page, int) or not 0 <= page < len(pages):
        return [f"{where}.page: expected an index into pages"]
    elements = pages[page]["elements"]
    target, candidates = step.get("target"), step.get("candidates")
    if not isinstance(target, int) or not 0 <= target < len(elements) or elements[target]["tag"] not in INTERACTIVE:
        return [f"{where}.target: expected the index of an interactive element of page {page}"]
    problems = []
    if (
        not isinstance(candidates, list)
        or not 1 <= len(candidates) <= MAX_CANDIDATES
        or target not in candidates
        or candidates != sorted(set(candidates))
        or not all(isinstance(c, int) and 0 <= c < len(elements) for c in candidates)
    ):
        problems.append(f"{where}.candidates: expected 1 to {MAX_CANDIDATES} sorted element indices holding target")
    op, value = step.get("op"), step.get("value")
    if op not in OPS or not isinstance(value, str):
        return [*problems, f"{where}: op must be one of {list(OPS)} and value a string"]
    if op == "CLICK" and value:
        problems.append(f"{where}.value: a CLICK has no value")
    if op != "CLICK" and not value.strip():
        problems.append(f"{where}.value: a {op} needs a value")
    if op == "SELECT" and value not in elements[target]["options"]:
        problems.append(f"{where}.value: {value!r} is not an option of the target element")
    if not isinstance(step.get("thought", ""), str):
        problems.append(f"{where}.thought: expected a string")
    return problems
