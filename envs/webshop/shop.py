"""The web shop one episode browses, rendered like WebShop's text mode (and ReAct's WebShop prompts).

    shop = Shop(get_catalogue(), "i need gluten free potato chips ...")
    shop.search("gluten free potato chips")      # None, or why the action cannot be done here
    shop.click("Next >"); shop.click("B0FN7WVQ66"); shop.click("sea salt"); shop.click("Buy Now")
    screen = shop.screen()                        # text, clickables, has_search_bar
    shop.bought                                   # (asin, chosen options) after Buy Now

Pages: the search page (only it has the search bar); result pages, 10 products each,
with ``[Back to Search]``, ``[< Prev]`` and ``[Next >]``; item pages with one line per
option (``size: [small] [medium] [large]``), ``[Description]``, ``[Features]`` and
``[Buy Now]``; and the description and features pages, whose ``[< Prev]`` returns to the
item with its selections kept. Clicks are matched without regard to case or to outer
brackets, as WebShop lower-cases them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from envs.webshop.catalogue import Catalogue, Product

PER_PAGE = 10
BACK, NEXT, PREV, BUY = "Back to Search", "Next >", "< Prev", "Buy Now"
DESCRIPTION, FEATURES = "Description", "Features"
PageKind = Literal["search", "results", "item", "description", "features"]


@dataclass(frozen=True)
class Screen:
    text: str
    clickables: list[str]
    has_search_bar: bool


@dataclass
class Shop:
    catalogue: Catalogue
    instruction: str
    page: PageKind = "search"
    query: str = ""
    results: list[str] = field(default_factory=list)
    page_number: int = 1
    asin: str | None = None
    chosen: dict[str, str] = field(default_factory=dict)  # option name -> value, on the open item
    bought: tuple[str, dict[str, str]] | None = None

    @property
    def product(self) -> Product | None:
        return self.catalogue.products[self.asin] if self.asin is not None else None

    def search(self, query: str) -> str | None:
        """Run a search from the search page; returns why it cannot be done, or None."""
        if self.page != "search":
            return f"there is no search bar on this page; click[{BACK}] first to search again."
        if not query.strip():
            return "search[...] needs keywords, e.g. search[gluten free potato chips]."
        self.page, self.query, self.page_number = "results", query.strip(), 1
        self.results = self.catalogue.search(query)
        return None

    def click(self, value: str) -> str | None:
        """Click a button, product id or option value on the open page; returns why it cannot, or None."""
        screen = self.screen()
        wanted = _norm(value)
        target = next((c for c in screen.clickables if _norm(c) == wanted), None)
        if target is None:
            if self.page == "search":
                return f"there is nothing to click on the search page; use search[keywords]. ({value!r} was clicked)"
            listing = ", ".join(screen.clickables)
            return f"{value!r} is not a clickable on this page; the clickables are: {listing}."
        if target == BACK:
            self.page, self.query, self.results, self.asin, self.chosen = "search", "", [], None, {}
        elif self.page == "results":
            self._click_results(target)
        elif self.page == "item":
            self._click_item(target)
        elif target == PREV:  # a description or features page
            self.page = "item"
        return None

    def screen(self) -> Screen:
        head = f"Instruction:\n{self.instruction}\n"
        if self.page == "search":
            return Screen(f"WebShop\n{head}[Search]", [], True)
        if self.page == "results":
            return self._results_screen(head)
        product = self.product
        assert product is not None  # item pages always have a product
        if self.page == "item":
            return self._item_screen(head, product)
        if self.page == "description":
            body = f"Description:\n{product.description}"
        else:
            body = "Features:\n" + "\n".join(f"- {feature}" for feature in product.features)
        return Screen(f"{head}[{BACK}]\n[{PREV}]\n{body}", [BACK, PREV], False)

    def _click_results(self, target: str) -> None:
        if target == NEXT:
            self.page_number += 1
        elif target == PREV:
            self.page_number -= 1
        else:
            self.page, self.asin, self.chosen = "item", target, {}

    def _click_item(self, target: str) -> None:
        product = self.product
        assert product is not None
        if target == PREV:
            self.page = "results"
        elif target == DESCRIPTION:
            self.page = "description"
        elif target == FEATURES:
            self.page = "features"
        elif target == BUY:
            self.bought = (product.asin, dict(self.chosen))
        else:
            name = next(name for name, values in product.options.items() if target in values)
            self.chosen[name] = target

    def _results_screen(self, head: str) -> Screen:
        pages = max(1, -(-len(self.results) // PER_PAGE))
        lines = [f"[{BACK}]", f"Page {self.page_number} (Total results: {len(self.results)})"]
        clickables = [BACK]
        if self.page_number > 1:
            lines.append(f"[{PREV}]")
            clickables.append(PREV)
        if self.page_number < pages:
            lines.append(f"[{NEXT}]")
            clickables.append(NEXT)
        if not self.results:
            lines.append(f"No products match {self.query!r}; go back and try other keywords.")
        start = (self.page_number - 1) * PER_PAGE
        for asin in self.results[start : start + PER_PAGE]:
            product = self.catalogue.products[asin]
            lines += [f"[{asin}]", product.title, f"${product.price:.2f}"]
            clickables.append(asin)
        return Screen(head + "\n".join(lines), clickables, False)

    def _item_screen(self, head: str, product: Product) -> Screen:
        lines = [f"[{BACK}]", f"[{PREV}]"]
        clickables = [BACK, PREV]
        for name, values in product.options.items():
            selected = f" (selected: {self.chosen[name]})" if name in self.chosen else ""
            lines.append(f"{name}: " + " ".join(f"[{value}]" for value in values) + selected)
            clickables += values
        lines += [product.title, f"Price: ${product.price:.2f}", "Rating: N.A."]
        lines += [f"[{DESCRIPTION}]", f"[{FEATURES}]", f"[{BUY}]"]
        return Screen(head + "\n".join(lines), [*clickables, DESCRIPTION, FEATURES, BUY], False)


def _norm(text: str) -> str:
    text = text.strip()
    while len(text) > 1 and text[0] == "[" and text[-1] == "]":
        text = text[1:-1].strip()
    return " ".join(text.lower().split())
