"""WebShop's reward for a purchase, after ``web_agent_site/engine/goal.py:get_reward`` (Yao et al., 2022).

    r = r_type * (attributes matched + options matched + price ok) / (len(attributes) + len(options) + 1)

    score = get_reward(product, goal, {"size": "large", "color": "navy blue"})
    score.reward, score.r_type, score.attributes_matched, score.options_matched, score.price_ok

``goal`` is a task payload (``goals.py``): ``query``, ``name`` (the gold title),
``product_category``, ``attributes``, ``goal_options`` and ``price_upper``.

The type factor ``r_type`` is WebShop's: the purchase "matches" when it has the goal's
query, or shares at least two breadcrumb levels with the goal, or more than 20% of the
goal title's nouns; then ``r_type`` is 1.0, otherwise 0.5; it drops to 0.1 when fewer
than 10% of the nouns are shared and to 0.0 when none are.

Deviations from WebShop, all so that the reward is exact, fast and dependency-free:

- Nouns come from our own lexicon (the words of every product-type noun and every brand,
  which the titles are built from), not from spaCy part-of-speech tags.
- An attribute matches when it equals one of the product's attributes (after lower-casing
  and collapsing spaces) or appears in its title, features or description; WebShop uses
  fuzzy matching (``fuzz.token_set_ratio > 85``) for the first test.
- An option matches when it equals the chosen value after the same normalisation.
  WebShop's fuzzy test scores "large" against "x-large" as a match and its
  ``normalize_color`` maps "navy blue" to "blue"; we count neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envs.webshop import words
from envs.webshop.catalogue import CATEGORY_SEP, Product, product_types

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
NOUNS = frozenset(
    {word for kind in product_types() for word in kind.noun.split()} | {brand.lower() for brand in words.BRANDS}
)


@dataclass(frozen=True)
class Score:
    reward: float
    r_type: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    query_match: bool
    category_match: bool
    title_score: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def get_reward(product: Product, goal: Mapping[str, Any], chosen: Mapping[str, str]) -> Score:
    """The score of buying ``product`` with the ``chosen`` options ({option name: value}) for ``goal``."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    attributes = attribute_matches(product, goal["attributes"])
    options = option_matches(chosen, goal["goal_options"])
    price_ok = product.price <= goal["price_upper"]
    total = (attributes + options + int(price_ok)) / (len(goal["attributes"]) + len(goal["goal_options"]) + 1)
    return Score(total * r_type, r_type, attributes, options, price_ok, query_match, category_match, title_score)


def type_reward(product: Product, goal: Mapping[str, Any]) -> tuple[float, bool, bool, float]:
    """(r_type, query_match, category_match, title_score), WebShop's ``get_type_reward``."""
    query_match = product.query == goal["query"]
    levels = {level.strip() for level in product.product_category.split(CATEGORY_SEP)}
    goal_levels = {level.strip() for level in goal["product_category"].split(CATEGORY_SEP)}
    category_match = len(levels & goal_levels) >= 2
    wanted = title_nouns(goal["name"])
    title_score = len(wanted & title_nouns(product.title)) / len(wanted) if wanted else 0.2
    r_type = 1.0 if query_match or category_match or title_score > 0.2 else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def title_nouns(title: str) -> set[str]:
    return {word for word in _WORD.findall(title.lower()) if word in NOUNS}


def attribute_matches(product: Product, attributes: list[str]) -> int:
    own = {_norm(attribute) for attribute in product.attributes}
    text = " ".join([product.title, *product.features, product.description]).lower()
    return sum(_norm(attribute) in own or attribute.lower() in text for attribute in attributes)


def option_matches(chosen: Mapping[str, str], goal_options: Mapping[str, str]) -> int:
    # WebShop compares each goal value with every chosen value, whatever the option's name.
    values = {_norm(value) for value in chosen.values()}
    return sum(_norm(value) in values for value in goal_options.values())


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
