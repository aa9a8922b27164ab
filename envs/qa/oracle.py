"""The scripted oracle for MultiHopQA: open each gold supporting page in hop order, then finish with the answer.

A pure function of the task and the conversation: the number of assistant turns so
far says which step comes next.
"""

from __future__ import annotations

from envs.base import Task
from envs.qa.prompts import OPENING_REPLIES
from envs.textenv import after_opening

# Per template: a thought before each Search (one per supporting page) and one before Finish.
# {0} and {1} are the supporting pages, {answer} the gold answer.
_THOUGHTS = {
    "founder_birthplace": (
        "I need the founder of {0}, then the city where that person was born. I will open the page on {0}.",
        "{0} was founded by {1}. Now I will look up where {1} was born.",
        "{1} was born in {answer}, so the founder of {0} was born in {answer}.",
    ),
    "founder_birth_year": (
        "I need the founder of {0}, then that person's year of birth. I will open the page on {0}.",
        "{0} was founded by {1}. Now I will look up when {1} was born.",
        "{1} was born in {answer}.",
    ),
    "employer_city": (
        "I need the organisation {0} works for, then where it is based. I will open the page on {0}.",
        "{0} works at {1}. Now I will look up where {1} is based.",
        "{1} has its headquarters in {answer}.",
    ),
    "organiser_founder": (
        "I need the organisation that runs the {0}, then its founder. I will open the page on the {0}.",
        "The {0} is organised by {1}. Now I will look up who founded {1}.",
        "{1} was founded by {answer}.",
    ),
    "org_country": (
        "I need the city where {0} has its headquarters, then that city's country. I will open the page on {0}.",
        "{0} is headquartered in {1}. Now I will look up which country {1} is in.",
        "{1} is a city in {answer}.",
    ),
    "born_first": (
        "I need the birth years of {0} and {1}. I will start with {0}.",
        "I have the birth year of {0}. Now I need the birth year of {1}.",
        "Comparing the two birth years, {answer} was born first.",
    ),
    "founded_first": (
        "I need the founding years of {0} and {1}. I will start with {0}.",
        "I have the founding year of {0}. Now I need the founding year of {1}.",
        "Comparing the two founding years, {answer} was founded earlier.",
    ),
}


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    """The next assistant message: Search the next supporting page, or Finish once all are read."""
    payload = task.payload
    pages, answer = payload["supporting_docs"], payload["answer"]
    thoughts = _THOUGHTS.get(payload["template"])
    step = sum(message.get("role") == "assistant" for message in after_opening(messages, OPENING_REPLIES))
    if step < len(pages):
        thought = thoughts[step] if thoughts else f"I will read the page on {{{step}}}."
        return f"Thought: {thought.format(*pages, answer=answer)}\nAction: Search[{pages[step]}]"
    thought = thoughts[-1] if thoughts else "I have read what I need, so I can answer."
    return f"Thought: {thought.format(*pages, answer=answer)}\nAction: Finish[{answer}]"
