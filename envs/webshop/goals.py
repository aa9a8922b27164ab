"""Seeded WebShop goals: a gold product and the attributes, options and price limit to ask for.

Splits use disjoint generator seeds: task ``i`` of "train" is seed ``i`` and task ``i``
of "test" is seed ``10_000_000 + i``, for ``0 <= i < 10_000_000``. The same seed always
gives the same task. Train and test goals may name the same product (as in WebShop,
whose splits are of goals, not products) but with their own constraints.

The payload keeps WebShop's goal keys, plus the catalogue seed and the search query the
oracle uses, checked here to bring the gold product into the top 50 results:

    {"asin": "B0FN7WVQ66", "instruction_text": "i need a machine washable men's dress shirt ...",
     "query": "men's dress shirt", "name": "Bluebrook Men's Premium ...", "category": "fashion",
     "product_category": "Clothing, Shoes & Jewelry › Men › Dress Shirt",
     "attributes": ["machine washable"], "goal_options": {"size": "large", "color": "navy blue"},
     "price_upper": 40.0, "catalogue_seed": 0, "oracle_query": "machine washable men's dress shirt"}

    python -c "from envs.webshop.goals import generate_tasks; print(generate_tasks('train', 1)[0])"
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError
from envs.splits import split_seed, task_range
from envs.webshop.catalogue import DEFAULT_SEED, Catalogue, Product, get_catalogue

ENV_ID = "agenttune/WebShop-v0"
PRICE_STEPS = [10.0 * i for i in range(1, 100)]  # WebShop's PRICE_RANGE
_ATTEMPTS = 100
_ASKS = ("i need", "i am looking for", "i want", "i'm looking for", "find me", "i would like", "please find")
_PAYLOAD_TYPES: dict[str, type | tuple[type, ...]] = {
    "asin": str, "instruction_text": str, "query": str, "name": str, "category": str, "product_category": str,
    "attributes": list, "goal_options": dict, "price_upper": (int, float), "catalogue_seed": int, "oracle_query": str,
}  # fmt: skip


def generate_task(split: Split, index: int, catalogue_seed: int = DEFAULT_SEED) -> Task:
    seed = split_seed("WebShop", split, index)
    rng = random.Random(seed)
    catalogue = get_catalogue(catalogue_seed)
    asins = list(catalogue.products)
    for _ in range(_ATTEMPTS):
        payload = _draw_goal(rng, catalogue, catalogue.products[rng.choice(asins)])
        if payload is not None:
            return Task(f"webshop-{split}-{index:07d}", ENV_ID, split, seed, payload)
    raise EnvsError(f"could not generate a WebShop goal from seed {seed}; this is a generator bug")


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def _draw_goal(rng: random.Random, catalogue: Catalogue, product: Product) -> dict[str, Any] | None:
    """A goal for ``product``, or None when the oracle's search would not find it in the top 50."""
    attributes = rng.sample(product.attributes, min(rng.choice((1, 2, 2, 3)), len(product.attributes)))
    options = {name: rng.choice(values) for name, values in product.options.items()}
    # WebShop: of the first four $10 steps above the price, draw two and ask for "lower than" the larger.
    steps = [step for step in PRICE_STEPS if step > product.price][:4]
    price_upper = max(rng.sample(steps, 2))
    oracle_query = f"{' '.join(attributes)} {product.query}"
    if product.asin not in catalogue.search(oracle_query):
        return None
    return {
        "asin": product.asin,
        "instruction_text": _instruction(rng, product.query, attributes, options, price_upper),
        "query": product.query,
        "name": product.title,
        "category": product.category,
        "product_category": product.product_category,
        "attributes": attributes,
        "goal_options": options,
        "price_upper": price_upper,
        "catalogue_seed": catalogue.seed,
        "oracle_query": oracle_query,
    }


def _instruction(
    rng: random.Random, query: str, attributes: list[str], options: dict[str, str], price_upper: float
) -> str:
    """WebShop-style request text, lower case like WebShop's ("i need a gluten free ... dollars")."""
    plural = query.endswith("s") and not query.endswith("ss")
    ask = rng.choice(_ASKS)
    listed = ", ".join(attributes[:-1]) + " and " + attributes[-1] if len(attributes) > 1 else attributes[0]
    if rng.random() < 0.5:
        thing = f"{listed} {query}"
    else:
        thing = f"{query} {'that are' if plural else 'that is'} {listed}"
    article = "" if plural else ("an " if thing[0] in "aeio" else "a ")  # "a usb ..."
    wanted = " and ".join(f"{value} {name}" for name, value in options.items())
    price = f"price lower than {price_upper:.2f} dollars"
    return f"{ask} {article}{thing}, {rng.choice(('in', 'with'))} {wanted}, and {price}"


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above, as 'key: what is wrong' lines (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected {getattr(kind, '__name__', 'a number')}, got {type(payload.get(key)).__name__}"
        for key, kind in _PAYLOAD_TYPES.items()
        if not isinstance(payload.get(key), kind)
    ]
    if isinstance(payload.get("attributes"), list) and not all(isinstance(a, str) for a in payload["attributes"]):
        problems.append("attributes: expected a list of strings")
    if isinstance(payload.get("goal_options"), dict) and not all(
        isinstance(value, str) for value in payload["goal_options"].values()
    ):
        problems.append("goal_options: expected {option name: value string}")
    return problems
