"""The scripted WebShop oracle: it knows the gold product and reads the page it is on.

A pure function of the task and the conversation: on the search page it searches with
the task's ``oracle_query`` (the requested attributes and product type, checked by the
generator to bring the gold product into the top 50); on a result page it opens the
gold product if listed, else goes to the next page; on the gold item page it selects
the first requested option not selected yet, then buys. Anywhere else it goes back to
the search page. At most 1 + 4 + 1 + 2 + 1 = 9 turns, within WebShop's 10.
"""

from __future__ import annotations

import json
import re

from envs.base import Task
from envs.webshop.shop import BACK, BUY, NEXT

_SELECTED = re.compile(r"^(?P<name>[^:\n]+): .*\(selected: (?P<value>.*)\)$", re.MULTILINE)


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: a thought and one action."""
    goal = task.payload
    page, clickables, has_search_bar = _current_page(messages)
    asin = goal["asin"]
    if has_search_bar:
        thought = f"The customer wants {goal['query']} with specific features, so I will search for those words."
        return _reply(thought, f"search[{goal['oracle_query']}]")
    if asin in clickables:
        thought = f"{asin} looks like the {goal['query']} the customer wants at a price within budget; I will open it."
        return _reply(thought, f"click[{asin}]")
    if "Page " in page and "Total results:" in page and NEXT in clickables:
        return _reply("None of these results is the right one yet, so I will check the next page.", f"click[{NEXT}]")
    if BUY in clickables and f"\n{goal['name']}\n" in page:
        selected = {m["name"]: m["value"] for m in _SELECTED.finditer(page)}
        for name, value in goal["goal_options"].items():
            if selected.get(name) != value:
                return _reply(f"The customer asked for {value} {name}, so I will select it.", f"click[{value}]")
        thought = "Every requested option is selected and the product fits the request, so I will buy it."
        return _reply(thought, f"click[{BUY}]")
    return _reply("This is not the page I need, so I will go back to the search page.", f"click[{BACK}]")


def _current_page(messages: list[dict[str, str]]) -> tuple[str, list[str], bool]:
    """The last page shown (text after the last ``Observation:``), its clickables and whether it can search."""
    last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    page = last.rsplit("Observation:\n", 1)[-1]
    text, _, actions = page.rpartition("\n\nAvailable Actions:\n")
    try:
        listed = json.loads(actions.strip().splitlines()[0]) if actions.strip() else {}
    except json.JSONDecodeError:
        listed = {}
    return text, list(listed.get("clickables", [])), bool(listed.get("has_search_bar", False))


def _reply(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"
