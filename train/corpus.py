"""Generate a small general instruction corpus for the offline demo (ShareGPT format, answers always correct).

The paper mixes agent trajectories with general chat data so the model keeps its general abilities; offline we
cannot download ShareGPT, so this writes simple tasks whose answers the generator computes itself.

Usage::

    python -c "from train.corpus import write_general_corpus; write_general_corpus('runs/general.json', 2000, 0)"
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Turns = list[tuple[str, str]]  # (question, answer) pairs of one conversation

WORDS = (
    "apple banana cherry garden window planet river castle pencil rocket silver orange yellow purple "
    "database table query python kernel shell ladder summer winter forest mountain ocean bridge market"
).split()
CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Italy": "Rome",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Spain": "Madrid",
    "Kenya": "Nairobi",
    "Brazil": "Brasilia",
    "Germany": "Berlin",
    "Australia": "Canberra",
    "India": "New Delhi",
    "Norway": "Oslo",
}
PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
# (from unit, to unit, factor): integer factors keep every answer exact.
CONVERSIONS = (
    ("kilometers", "meters", 1000),
    ("meters", "centimeters", 100),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("liters", "milliliters", 1000),
    ("feet", "inches", 12),
)


def generate_general_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Return ``n`` ShareGPT records; the same (n, seed) always gives the same records."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        turns = rng.choice(TASKS)(rng)
        conversations = [{"from": who, "value": text} for q, a in turns for who, text in (("human", q), ("gpt", a))]
        records.append({"id": f"general_{seed}_{i}", "conversations": conversations})
    return records


def write_general_corpus(path: str | Path, n: int, seed: int) -> Path:
    """Write ``n`` generated records as a ShareGPT JSON list at ``path`` (atomically) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(generate_general_records(n, seed), ensure_ascii=False, indent=1)
    # Write beside the target and rename, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _arithmetic(rng: random.Random) -> Turns:
    a, b = rng.randint(2, 999), rng.randint(2, 99)
    op, sign, value = rng.choice([("add", "+", a + b), ("subtract", "-", a - b), ("multiply", "*", a * b)])
    first = rng.choice(
        [(f"What is {a} {sign} {b}?", f"{a} {sign} {b} = {value}."), (_op_question(op, a, b), f"{value}")]
    )
    if rng.random() < 0.3:  # a follow-up that needs the previous answer: multi-turn data
        c = rng.randint(2, 9)
        return [first, (f"Now multiply that by {c}.", f"{value} * {c} = {value * c}.")]
    return [first]


def _op_question(op: str, a: int, b: int) -> str:
    if op == "subtract":
        return f"Subtract {b} from {a}."
    return f"{op.capitalize()} {a} and {b}."


def _conversion(rng: random.Random) -> Turns:
    src, dst, factor = rng.choice(CONVERSIONS)
    amount = rng.randint(2, 60)  # from 2: the unit names are plural
    return [(f"How many {dst} are in {amount} {src}?", f"{amount} {src} is {amount * factor} {dst}.")]


def _word(rng: random.Random) -> Turns:
    word = rng.choice(WORDS)
    kind = rng.randrange(4)
    if kind == 0:
        return [(f"Reverse the word '{word}'.", word[::-1])]
    if kind == 1:
        return [(f"Write '{word}' in uppercase.", word.upper())]
    if kind == 2:
        letter = rng.choice(word)
        count = word.count(letter)
        return [(f"How many times does the letter '{letter}' appear in '{word}'?", f"{count}")]
    return [(f"How many letters are in the word '{word}'?", f"'{word}' has {len(word)} letters.")]


def _sorting(rng: random.Random) -> Turns:
    numbers = [rng.randint(-50, 99) for _ in range(rng.randint(3, 7))]
    descending = rng.random() < 0.4
    order = "descending" if descending else "ascending"
    question = f"Sort these numbers in {order} order: {', '.join(map(str, numbers))}"
    first = (question, ", ".join(map(str, sorted(numbers, reverse=descending))))
    if rng.random() < 0.3:
        return [first, ("Which one is the largest?", f"{max(numbers)}")]
    return [first]


def _fact(rng: random.Random) -> Turns:
    kind = rng.randrange(3)
    if kind == 0:
        country = rng.choice(sorted(CAPITALS))
        return [(f"What is the capital of {country}?", f"The capital of {country} is {CAPITALS[country]}.")]
    if kind == 1:
        i = rng.randrange(len(PLANETS))
        return [(f"Which planet is {ORDINALS[i]} from the Sun?", f"{PLANETS[i]} is the {ORDINALS[i]} planet.")]
    i, k = rng.randrange(7), rng.randint(1, 10)
    return [(f"If today is {DAYS[i]}, what day will it be in {k} days?", f"It will be {DAYS[(i + k) % 7]}.")]


TASKS: tuple[Callable[[random.Random], Turns], ...] = (_arithmetic, _conversion, _word, _sorting, _fact)
