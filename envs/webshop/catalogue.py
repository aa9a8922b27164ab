"""The WebShop catalogue: seeded products and a BM25 search over them, built once per process.

    from envs.webshop.catalogue import get_catalogue
    shop = get_catalogue()                   # DEFAULT_SEED; the first call builds it (~0.1 s)
    asins = shop.search("gluten free potato chips")   # up to 50 ids, best first
    product = shop.products[asins[0]]

The same catalogue seed always gives the same products, in the same order, on every
machine (only ``random.Random(seed)`` is used). The BM25 index (``bm25s``) covers each
product's title and attributes and is built lazily on the first search.
"""

from __future__ import annotations

import functools
import math
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.webshop import words
from envs.webshop.words import Category

DEFAULT_SEED = 0
CATALOGUE_SIZE = 6_000
SEARCH_RESULTS = 50  # WebShop's search returns its top 50 products
CATEGORY_SEP = " › "
_ASIN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ProductType:
    category: Category
    section: str
    qualifier: str  # "men's", or ""
    noun: str  # "dress shirt"
    option_keys: tuple[str, ...]  # keys into category.options, e.g. "size@waist"
    price_range: tuple[float, float]

    @property
    def query(self) -> str:
        """How people name the type ("men's dress shirt"); WebShop's product ``query`` field."""
        return f"{self.qualifier} {self.noun}".strip()

    @property
    def path(self) -> str:
        return CATEGORY_SEP.join((self.category.top, self.section, self.noun.title()))


@dataclass(frozen=True)
class Product:
    """One product page. ``options`` maps an option name ("size") to the values offered, in display order."""

    asin: str
    title: str
    category: str  # WebShop's category key: fashion, food, beauty, furniture, electronics
    product_category: str  # the breadcrumb, levels joined by " › "
    query: str  # the product type, as people name it
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: float
    features: tuple[str, ...]
    description: str


def product_types() -> list[ProductType]:
    return [
        ProductType(category, section, qualifier, noun, keys, (low, high))
        for category in words.CATEGORIES
        for section, rows in category.sections.items()
        for qualifier, noun, keys, low, high in rows
    ]


def option_name(key: str) -> str:
    """The name shown for an option key: "size@waist" -> "size"."""
    return key.split("@", 1)[0]


class Catalogue:
    """Products by asin (in generation order) and a lazily built BM25 search."""

    def __init__(self, seed: int, products: list[Product]) -> None:
        self.seed = seed
        self.products: dict[str, Product] = {product.asin: product for product in products}
        self._asins = list(self.products)
        self._index: Any = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.products)

    def vocabulary(self) -> list[str]:
        """Every distinct search token in the catalogue, sorted (for random agents and tests)."""
        return sorted({token for product in self.products.values() for token in _search_tokens(_doc(product))})

    def search(self, query: str, limit: int = SEARCH_RESULTS) -> list[str]:
        """The asins of the best ``limit`` products for ``query`` by BM25, ties broken by catalogue order.

        Products that share no token with the query are never returned, so a query of
        unknown words finds nothing.
        """
        index = self._get_index()
        tokens = [token for token in _search_tokens(query) if token in index.vocab_dict]
        if not tokens:
            return []
        scores = index.get_scores(tokens)
        # lexsort sorts by the last key first: highest score, then lowest position; exact and stable.
        order = np.lexsort((np.arange(len(scores)), -scores))[:limit]
        return [self._asins[i] for i in order if scores[i] > 0]

    def _get_index(self) -> Any:
        with self._lock:
            if self._index is None:
                import bm25s  # imported here so that building the catalogue alone does not need it

                index = bm25s.BM25()
                corpus = [_search_tokens(_doc(self.products[asin])) for asin in self._asins]
                index.index(corpus, show_progress=False)
                self._index = index
        return self._index


@functools.cache
def get_catalogue(seed: int = DEFAULT_SEED) -> Catalogue:
    """The catalogue for ``seed``, built on first use and shared by every env in the process."""
    return build_catalogue(seed)


def build_catalogue(seed: int = DEFAULT_SEED, size: int = CATALOGUE_SIZE) -> Catalogue:
    """Generate ``size`` products, cycling through the product types so each type has about as many."""
    rng = random.Random(f"webshop-catalogue:{seed}")
    types = product_types()
    asins: set[str] = set()
    products = []
    for i in range(size):
        asin = _new_asin(rng, asins)
        products.append(_make_product(rng, asin, types[i % len(types)]))
    return Catalogue(seed, products)


def _new_asin(rng: random.Random, taken: set[str]) -> str:
    while True:  # 36**8 ids: a clash is rare, and redrawing keeps ids unique
        asin = "B0" + "".join(rng.choices(_ASIN_CHARS, k=8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _make_product(rng: random.Random, asin: str, kind: ProductType) -> Product:
    category = kind.category
    attributes = tuple(rng.sample(category.attributes, rng.randint(2, 4)))
    in_title = attributes[: rng.randint(1, 2)]  # titles carry some attributes, as sellers' titles do
    parts = [rng.choice(words.BRANDS), kind.qualifier, rng.choice(category.descriptors), *in_title, kind.noun]
    title = " ".join(_title_case(part) for part in parts if part)
    options = {}
    for key in kind.option_keys:
        values = category.options[key]
        chosen = set(rng.sample(values, rng.randint(2, min(6, len(values)))))
        options[option_name(key)] = tuple(value for value in values if value in chosen)
    low, high = kind.price_range
    price = round(math.floor(rng.uniform(low, high)) + rng.choice((0.99, 0.99, 0.49, 0.95)), 2)
    features = tuple(attribute.capitalize() for attribute in attributes) + tuple(rng.sample(category.features, 2))
    description = f"{title}. {rng.choice(category.blurbs)} Highlights: {', '.join(attributes)}."
    return Product(
        asin=asin,
        title=title,
        category=category.name,
        product_category=kind.path,
        query=kind.query,
        attributes=attributes,
        options=options,
        price=price,
        features=features,
        description=description,
    )


def _title_case(text: str) -> str:
    # str.title() would write "Men'S" and "T-Shirt" -> keep apostrophes intact, capitalise each word
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def _doc(product: Product) -> str:
    return f"{product.title} {' '.join(product.attributes)}"


def _search_tokens(text: str) -> list[str]:
    return [_stem(token) for token in _TOKEN.findall(text.lower()) if len(token) > 1 and token not in words.STOPWORDS]


def _stem(token: str) -> str:
    """A light plural stemmer, enough for our word lists: "shirts" and "shirt" search alike."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token
