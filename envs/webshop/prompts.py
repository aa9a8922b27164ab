"""What the WebShop environment says to the agent, and how its replies are read.

The format is AgentBench's WebShop task (and so AgentInstruct's): every turn shows an
observation and the available actions as JSON (``has_search_bar``, ``clickables``); the
agent answers with a ``Thought:`` and one ``Action:``, either ``search[keywords]`` or
``click[value]``. A one-shot example follows the instruction, as in AgentBench. The
sentences and the example are our own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from envs.textenv import fixed_replies
from envs.webshop.catalogue import Catalogue, Product
from envs.webshop.shop import Screen, Shop

INSTRUCTION = """\
You are shopping on a web site for a customer. Their request is shown at the top of every page.
Each turn I show you the current page (the observation) and the actions available on it, and you choose \
one action. There are two kinds:
search[keywords]   - only when "has_search_bar" is true; runs a search for the keywords you choose
click[value]       - clicks one entry of "clickables": a button such as [Next >] or [Buy Now], a product id, \
or an option value such as a size or a color
Pick search keywords carefully: they decide which products you get to see. Open a product, select every option \
the customer asked for, and then click [Buy Now]; buying ends the task, and you are scored on how well the product, \
its options and its price fit the request. An action that cannot be done on the page changes nothing, and I will \
tell you why.
Answer in this format:
Thought: <your reasoning in a sentence or two>
Action: <search[...] or click[...]>"""

_EXAMPLE_GOAL = (
    "i want a pair of ceramic plant pots with drainage holes, in white color, and price lower than 30.00 dollars"
)
_EXAMPLE_STEPS = (
    ("The customer wants two ceramic pots with drainage holes, so I will search for exactly that.",
     "search[ceramic plant pots drainage holes set of 2]"),
    ("B0PLANT002 is a set of two ceramic pots with drainage holes at $24.99, under the $30 limit. I will open it.",
     "click[B0PLANT002]"),
    ("The customer asked for white, so I will select that color first.", "click[white]"),
    ("White is selected and the pots meet every requirement, so I will buy them.", "click[Buy Now]"),
)  # fmt: skip


class _ExampleCatalogue(Catalogue):
    """Three made-up products that every search lists in order, so the example shows real pages."""

    def __init__(self) -> None:
        items = [
            ("B0PLANT001", "Terraform Large Ceramic Planter With Saucer", 34.99, {}),
            ("B0PLANT002", "Greenhaus Ceramic Plant Pots With Drainage Holes, Set Of 2", 24.99,
             {"color": ("white", "terracotta", "sage green")}),
            ("B0PLANT003", "Greenhaus Plastic Nursery Pots, 10 Pack", 12.49, {}),
        ]  # fmt: skip
        super().__init__(-1, [Product(a, t, "garden", "", "plant pots", (), o, p, (), "") for a, t, p, o in items])

    def search(self, query: str, limit: int = 50) -> list[str]:
        return list(self.products)[:limit]


FORMAT_REMINDER = "Reply with one thought and one action:\nThought: ...\nAction: search[keywords] or click[value]"
_ACTION = re.compile(r"\bAction:\s*(.*)", re.IGNORECASE)
_CALL = re.compile(r"(search|click)\s*\[(.*)\]", re.IGNORECASE)


def observation(screen: Screen) -> str:
    """One page as the agent sees it; the JSON on the last line lists what can be done."""
    actions = json.dumps({"has_search_bar": screen.has_search_bar, "clickables": screen.clickables})
    return f"Observation:\n{screen.text}\n\nAvailable Actions:\n{actions}"


def example() -> str:
    """A whole episode of a made-up task, rendered by the same shop code as real pages."""
    shop = Shop(_ExampleCatalogue(), _EXAMPLE_GOAL)
    turns = []
    for thought, reply in _EXAMPLE_STEPS:
        turns.append(f"Shop:\n{observation(shop.screen())}\n\nYou:\nThought: {thought}\nAction: {reply}")
        action = parse_action(f"Action: {reply}")
        assert isinstance(action, Action)  # the example is ours; a typo here is a bug
        problem = shop.search(action.argument) if action.kind == "search" else shop.click(action.argument)
        assert problem is None, problem
    return "Here is an example of a whole episode.\n\n" + "\n\n".join(turns)


def invalid_action(reason: str, screen: Screen) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}\n\n{observation(screen)}"


def bought(asin: str, chosen: dict[str, str], reward: float) -> str:
    options = ", ".join(f"{name}: {value}" for name, value in chosen.items()) or "no options"
    return (
        f"Thank you for shopping with us! You bought {asin} ({options}). Your score (min 0.0, max 1.0): {reward:.2f}"
    )


@dataclass(frozen=True)
class Action:
    kind: str  # "search" or "click"
    argument: str


@dataclass(frozen=True)
class Invalid:
    reason: str


def parse_action(reply: str) -> Action | Invalid:
    """The first ``Action:`` line's ``search[...]`` or ``click[...]`` (the value up to the line's last ``]``)."""
    found = _ACTION.search(reply)
    if found is None:
        return Invalid("no 'Action:' line was found.")
    line = found.group(1).strip()
    call = _CALL.match(line)
    if call is None:
        return Invalid(f"could not read the action {line[:80]!r}; write search[keywords] or click[value].")
    return Action(call.group(1).lower(), call.group(2).strip())


PROMPT = f"{INSTRUCTION}\n\n{example()}\n\nThe example is over; here is your task."
ACKNOWLEDGEMENT = "OK."  # the agent's fixed reply to PROMPT (AgentInstruct's WebShop records have one)
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT)
