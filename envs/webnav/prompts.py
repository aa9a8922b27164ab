"""What the WebNav environment says to the agent, and how its replies are read.

The format is Mind2Web's multiple-choice step prediction as AgentBench (and so AgentInstruct) poses it: a
simplified HTML view of the page between ''' marks, the task, the previous actions, and the candidate elements as
choices, "A. None of the above" first. The agent answers

    Thought: <reasoning>
    Answer: C.
    Action: SELECT
    Value: 2 people

(no Value line for CLICK). The released AgentInstruct's Mind2Web records are one step each: the page and the
question in one human turn, then the answer, with no acknowledgement and no worked example (AgentBench's three
shots are not in them). So an episode opens the same way: the reply format (in our own words) and the first step
in one user turn, and each later turn is the next step, whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from envs.webnav.sites import Element

OPS = ("CLICK", "TYPE", "SELECT")
INTERACTIVE = frozenset({"a", "button", "input", "select", "li", "textarea"})
_ROLES = {"a": "link", "button": "button", "input": "textbox", "select": "combobox", "li": "option",
          "textarea": "textbox"}  # fmt: skip
_VOID = frozenset({"input", "textarea"})
CHOICE_TOKENS = 10  # a choice shows the first 10 tokens of its element, as in Mind2Web

INSTRUCTION = """\
You are a web assistant: you carry out a user's task on a web site, one action at a time.
Each turn shows a simplified HTML view of the current page, the task, the actions taken so far, and a lettered \
list of elements of the page. Choose the element to act on next and what to do with it:
CLICK   click the element
TYPE    type text into the element; the text goes on the Value line
SELECT  pick an option of a drop-down; the option's text goes on the Value line
If none of the listed elements is the right one, answer A (None of the above).
Reply in this format, without the Value line for CLICK:
Thought: <your reasoning, in a sentence or two>
Answer: <the letter of your choice>.
Action: <CLICK, TYPE or SELECT>
Value: <the text to type, or the option to select>"""

FORMAT_REMINDER = (
    "Reply with:\nThought: ...\nAnswer: <letter>.\nAction: <CLICK, TYPE or SELECT>\nValue: <for TYPE/SELECT>"
)


def role(element: Element) -> str:
    if element["tag"] == "input" and "checkbox" in element["attrs"].split():
        return "checkbox"
    return _ROLES.get(element["tag"], element["tag"])


def render_element(element: Element, ident: int | None = None) -> str:
    """An element as simplified HTML: ``<button id=2 submit> Search flights </button>``."""
    tag = element["tag"]
    head = " ".join(part for part in (tag, f"id={ident}" if ident is not None else "", element["attrs"]) if part)
    if tag in _VOID:
        return f"<{head} {element['text']} />"
    options = " ".join(f"<option> {option} </option>" for option in element["options"])
    inner = " ".join(part for part in (element["text"], options) if part)
    return f"<{head}> {inner} </{tag}>"


def action_repr(element: Element, op: str, value: str) -> str:
    """A previous action as Mind2Web lists them: ``[textbox]  From -> TYPE: Denver``."""
    done = f"{op}: {value}" if op != "CLICK" else "CLICK"
    return f"[{role(element)}]  {element['text']} -> {done}"


def question(task: str, page: dict[str, Any], candidates: list[int], previous: list[str]) -> str:
    """One step as the agent sees it: the page (candidates numbered, headings kept), the task, the choices."""
    elements = page["elements"]
    ids = {index: number for number, index in enumerate(candidates)}
    shown = [
        render_element(element, ids.get(i))
        for i, element in enumerate(elements)
        if i in ids or element["tag"] not in INTERACTIVE
    ]
    choices = ["A. None of the above"] + [
        f"{chr(66 + number)}. {' '.join(render_element(elements[i], number).split()[:CHOICE_TOKENS])}"
        for number, i in enumerate(candidates)
    ]
    done = "\n".join(previous) if previous else "None"
    return (
        f"'''\n<html> {' '.join(shown)} </html>\n'''\n\n"
        f"On the page above, work on this task:\nTask: {task}\nPrevious actions:\n{done}\n"
        "What is the next action? Choose below (A. 'None of the above' if no element fits):\n\n" + "\n".join(choices)
    )


def step_observation(payload: dict[str, Any], index: int) -> str:
    """Step ``index`` of a task: its page, and the recorded actions before it as the previous actions."""
    steps, pages = payload["steps"], payload["pages"]
    previous = [action_repr(pages[s["page"]]["elements"][s["target"]], s["op"], s["value"]) for s in steps[:index]]
    step = steps[index]
    return question(payload["task"], pages[step["page"]], step["candidates"], previous)


def gold_letter(step: dict[str, Any]) -> str:
    return chr(66 + step["candidates"].index(step["target"]))


def reply(thought: str, letter: str, op: str | None = None, value: str = "") -> str:
    """An answer in the format the instruction asks for."""
    lines = [f"Thought: {thought}", f"Answer: {letter}."]
    if op is not None:
        lines.append(f"Action: {op}")
        if op != "CLICK":
            lines.append(f"Value: {value}")
    return "\n".join(lines)


def first_observation(payload: dict[str, Any]) -> str:
    """The opening: the instruction and the first step, in one user turn (see the module's docstring)."""
    return f"{INSTRUCTION}\n\n{step_observation(payload, 0)}"


def episode_over(succeeded: int, total: int) -> str:
    return f"Your answers were recorded; the task is over. Steps done right: {succeeded} of {total}."


def invalid_answer(reason: str, then: str) -> str:
    return f"Invalid answer: {reason} This step counts as missed.\n{FORMAT_REMINDER}\n\n{then}"


# ------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Answer:
    letter: str  # "A" is None of the above
    op: str  # "" when no Action line was given (only allowed with A)
    value: str


@dataclass(frozen=True)
class Invalid:
    reason: str


_ANSWER = re.compile(r"^[ \t]*Answer[ \t]*:[ \t]*\(?([A-Za-z])\b", re.IGNORECASE | re.MULTILINE)
_ACTION = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(CLICK|TYPE|SELECT)\b", re.IGNORECASE | re.MULTILINE)
_VALUE = re.compile(r"^[ \t]*Value[ \t]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def parse_answer(text: str, num_choices: int) -> Answer | Invalid:
    """Read a reply; ``num_choices`` counts the listed elements (B ..), not A."""
    found = _ANSWER.search(text)
    if found is None:
        return Invalid("no 'Answer: <letter>.' line was found.")
    letter = found.group(1).upper()
    last = chr(65 + num_choices)
    if letter > last:
        return Invalid(f"there is no choice {letter}; the choices are A to {last}.")
    action, value = _ACTION.search(text), _VALUE.search(text)
    op = action.group(1).upper() if action else ""
    if letter != "A" and not op:
        return Invalid("no 'Action:' line (CLICK, TYPE or SELECT) follows the answer.")
    return Answer(letter, op, value.group(1).strip() if value else "")
