from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envs.webshop import words
from envs.webshop.catalogue import CATALOGUE_SIZE, Product, build_catalogue, get_catalogue
from envs.webshop.reward import get_reward, title_nouns

CHIPS = Product(
    asin="B0CHIPS001",
    title="Oakfield Gourmet Gluten Free Potato Chips",
    category="food",
    product_category="Grocery & Gourmet Food › Snacks & Sweets › Potato Chips",
    query="potato chips",
    attributes=("gluten free", "non gmo"),
    options={"flavor": ("sea salt", "barbecue"), "size": ("5 ounce (pack of 1)", "12 ounce (pack of 2)")},
    price=9.99,
    features=("Gluten free", "Non gmo", "Store in a cool, dry place"),
    description="Oakfield Gourmet Gluten Free Potato Chips. Highlights: gluten free, non gmo.",
)
GOAL = {
    "query": "potato chips",
    "name": "Oakfield Gourmet Gluten Free Sugar Free Potato Chips",
    "product_category": "Grocery & Gourmet Food › Snacks & Sweets › Potato Chips",
    "attributes": ["gluten free", "sugar free"],
    "goal_options": {"flavor": "sea salt", "size": "12 ounce (pack of 2)"},
    "price_upper": 20.0,
}
ROOT = Path(__file__).resolve().parents[2]
RIGHT_OPTIONS = {"flavor": "sea salt", "size": "12 ounce (pack of 2)"}


def other(**changes: object) -> Product:
    return Product(**{**CHIPS.__dict__, **changes})


def test_a_perfect_purchase_scores_one() -> None:
    score = get_reward(other(attributes=("gluten free", "sugar free")), GOAL, RIGHT_OPTIONS)
    assert (score.reward, score.r_type, score.attributes_matched, score.options_matched) == (1.0, 1.0, 2, 2)


def test_missing_one_attribute_of_two_scores_four_fifths() -> None:
    # (1 attribute + 2 options + price ok) / (2 attributes + 2 options + 1)
    score = get_reward(CHIPS, GOAL, RIGHT_OPTIONS)
    assert (score.attributes_matched, score.options_matched, score.price_ok) == (1, 2, True)
    assert score.reward == pytest.approx(4 / 5)


def test_wrong_option_and_price_over_the_limit_score_two_fifths() -> None:
    score = get_reward(other(price=24.99), GOAL, {"flavor": "barbecue", "size": "12 ounce (pack of 2)"})
    assert (score.attributes_matched, score.options_matched, score.price_ok) == (1, 1, False)
    assert score.reward == pytest.approx(2 / 5)


def test_no_options_chosen_and_price_ok() -> None:
    assert get_reward(CHIPS, GOAL, {}).reward == pytest.approx(2 / 5)  # 1 attribute + price


def test_attributes_also_match_in_the_text_and_options_match_exactly() -> None:
    described = other(attributes=("gluten free",), description="Chips. Now sugar free.")
    assert get_reward(described, GOAL, RIGHT_OPTIONS).attributes_matched == 2
    shirt_goal = {**GOAL, "attributes": [], "goal_options": {"size": "large", "color": "navy blue"}}
    # WebShop's fuzzy match would count "x-large" for "large" and "blue" for "navy blue"; we do not.
    assert get_reward(CHIPS, shirt_goal, {"size": "x-large", "color": "blue"}).options_matched == 0
    assert get_reward(CHIPS, shirt_goal, {"size": " Large", "color": "Navy  Blue"}).options_matched == 2


def test_type_factor_follows_webshop() -> None:
    assert title_nouns(GOAL["name"]) == {"oakfield", "potato", "chips"}
    # Same section (2 shared breadcrumb levels) and the brand noun shared: title score 1/3 > 0.2.
    bars = other(title="Oakfield Protein Bars", query="protein bars", product_category="A › Snacks & Sweets › B")
    assert get_reward(bars, GOAL, RIGHT_OPTIONS).r_type == 1.0
    # No noun in common: 0, whatever else matches.
    bars = other(title="Pinecrest Protein Bars", query="protein bars")
    assert (get_reward(bars, GOAL, RIGHT_OPTIONS).r_type, get_reward(bars, GOAL, RIGHT_OPTIONS).reward) == (0.0, 0.0)
    # One noun of six (0.17), another query and breadcrumb: no match, so 0.5.
    goal = {**GOAL, "name": "Riverfield Vitamin C Serum Hair Oil", "query": "hair oil"}
    extensions = other(title="Northcrest Hair Extensions", query="clip-in hair extensions", product_category="X › Y")
    score = get_reward(extensions, goal, RIGHT_OPTIONS)
    assert (score.title_score, score.r_type) == (pytest.approx(1 / 6), 0.5)
    assert score.reward == pytest.approx(0.5 * 4 / 5)


def test_catalogue_is_large_unique_and_deterministic() -> None:
    started = time.perf_counter()
    catalogue = build_catalogue(0)
    assert time.perf_counter() - started < 2.0
    assert len(catalogue) == CATALOGUE_SIZE >= 5_000
    assert len({p.category for p in catalogue.products.values()}) == 5
    assert list(catalogue.products.values()) == list(get_catalogue(0).products.values())
    assert list(catalogue.products) != list(build_catalogue(1).products)
    for product in catalogue.products.values():
        assert all(product.options.values()) and 1 <= len(product.options) <= 2


def test_catalogue_is_the_same_in_a_fresh_process() -> None:
    code = (
        "import hashlib; from envs.webshop.catalogue import get_catalogue; c = get_catalogue(); "
        "print(hashlib.sha256(repr(list(c.products.values())).encode()).hexdigest(), c.search('slim fit jeans')[:5])"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=os.environ | {"PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2")
    ]
    assert runs[0].stdout == runs[1].stdout != ""


def test_product_text_mentions_only_its_own_attributes() -> None:
    everything = {attribute for category in words.CATEGORIES for attribute in category.attributes}
    assert not [(a, b) for a in everything for b in everything if a != b and a in b]  # no phrase holds another
    for product in get_catalogue().products.values():
        text = " ".join([product.title, *product.features, product.description]).lower()
        assert {attribute for attribute in everything if attribute in text} == set(product.attributes), product


def test_search_finds_the_type_and_attributes_asked_for() -> None:
    catalogue = get_catalogue()
    results = [catalogue.products[asin] for asin in catalogue.search("gluten free potato chips")]
    assert len(results) == 50
    assert all(p.query == "potato chips" and "gluten free" in p.attributes for p in results[:10])
    assert catalogue.search("shirts") == catalogue.search("shirt")  # plurals search alike
    assert catalogue.search("") == catalogue.search("the and of") == []
