"""AgentInstruct without its ``loss`` flags: which assistant turns are the prompt and which are the agent's work.

The released AgentInstruct (``hf://THUDM/AgentInstruct``, splits os, db, alfworld, webshop, kg, mind2web) flags every
turn: ``loss`` null on the user's turns, false on the assistant turns that belong to the prompt, true on the agent's
own turns. Re-publications often keep the conversations as ``{"role": "user" | "assistant" | "system", "content"}``
turns under ``conversations`` and drop the flags; read naively, a model would then be trained to say "Ok." and to
replay the one-shot example in every record. ``prompt_positions`` recovers the flags.

How the released records open; the words differ by task, the layout does not. DB is read off the 538 real records
in ../shared/data, OS (three example turns flagged false, then the task) and Mind2Web (one exchange) off the hub's
first rows as quoted by a dataset card, WebShop, ALFWorld and KG off the AgentBench task code that generated them
(AgentTuning's ``AgentBench.old/src/tasks``). That code puts a one-shot example after the acknowledgement in
ALFWorld ("Here is one example." ... "Here is your task.") and KG; the rule below reads those records the same
whether the released split kept the example or not:

============  ===========================================================================  =====================
task          prompt turns before the record's own task (assistant turns flagged false)    the task turn
============  ===========================================================================  =====================
db            instruction; acknowledgement "Ok."                                           the question
webshop       instruction; acknowledgement "Ok."                                           the shop's first page
alfworld      instruction; acknowledgement "OK. I'll follow your instructions ..."         "Here is your task. ..."
kg            instruction; acknowledgement "I've understood your instruction, start        "A new question: ..."
              please."; a one-shot example (a solved question, the agent's turns false)
os            instruction ending with the example's question; the one-shot example's       "Now, I will start a
              three agent turns and two OS outputs (no acknowledgement)                    new problem ..."
mind2web      none: one page-and-question turn, one answer                                 the first turn
============  ===========================================================================  =====================

The rule (per record, so a record reads the same alone or in any file):

1. **One-shot example.** When a later user turn opens the record's own task with one of the released openers
   (``TASK_OPENERS``: OS's "Now, I will start a new problem", KG's "A new question", ALFWorld's "Here is your
   task"), every assistant turn before it is part of the prompt. The openers are what the released data writes
   between the example and the task; no observation in a trajectory starts with them. (WebShop's first page is
   no opener: "Back to Search" shows it again in the middle of a trajectory.)
2. **Acknowledgement.** Otherwise the assistant's reply to the instruction (the first assistant turn, after the
   leading user/system turns) is part of the prompt when the conversation goes on with another user turn and the
   reply is an acknowledgement: one line of at most ``ACK_MAX_WORDS`` words that opens with an acknowledging word
   (``ACK_OPENERS``: ok, okay, sure, understood, ...). The agent's real turns in all six tasks put a thought and an
   action on separate lines ("Thought: ...\\nAction: ..."); an acknowledgement acts on nothing.
3. Every other assistant turn is trained.

Texts are compared case-folded with runs of whitespace collapsed and leading punctuation/whitespace ignored, so
"OK", " ok.\\n", "Okay." and a re-wrapped opener all read the same. Position anchors both rules, so a general chat
record in this shape keeps every turn trained unless its first reply is a bare acknowledgement of the first user
turn (an "Ok." that carries nothing to learn) or a user turn opens a new task with a released opener.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# What the released data writes between a one-shot example and the record's own task (OS, KG, ALFWorld).
TASK_OPENERS = ("now, i will start a new problem", "a new question", "here is your task")
# Words an acknowledgement starts with ("Ok.", "OK. I'll follow your instructions ...", "I've understood ...").
ACK_OPENERS = (
    "ok",
    "okay",
    "sure",
    "understood",
    "got it",
    "alright",
    "all right",
    "i understand",
    "i've understood",
    "i have understood",
)
ACK_MAX_WORDS = 20  # the released acknowledgements have 1 to 13 words
_ACK = re.compile(r"^(?:" + "|".join(re.escape(w) for w in ACK_OPENERS) + r")\b")
_LEADING_NOISE = re.compile(r"^[\W_]+")


def normalise(text: str) -> str:
    """Case-folded, whitespace collapsed, leading punctuation dropped: how prompt texts are compared."""
    return _LEADING_NOISE.sub("", " ".join(text.replace("\u2019", "'").split()).casefold())


def is_acknowledgement(text: str) -> bool:
    """True for a short one-line reply that only acknowledges ("Ok.", "OK. I'll follow your instructions ...")."""
    words = normalise(text)
    one_line = "\n" not in text.strip()
    return one_line and bool(_ACK.match(words)) and len(words.split()) <= ACK_MAX_WORDS


def opens_task(text: str) -> bool:
    """True for a user turn that opens the record's own task after a one-shot example."""
    return normalise(text).startswith(TASK_OPENERS)


def prompt_positions(roles: Sequence[str], texts: Sequence[str]) -> set[int]:
    """The positions of the assistant (``gpt``) turns that belong to the prompt, by the rule in the module doc.

    ``roles`` are canonical speakers (``system``, ``human``, ``gpt``), ``texts`` the turns' texts.
    """
    first_reply = next((i for i, role in enumerate(roles) if role == "gpt"), None)
    if first_reply is None:
        return set()
    opener = next(
        (i for i in range(first_reply + 1, len(roles)) if roles[i] == "human" and opens_task(texts[i])), None
    )
    if opener is not None:
        return {i for i in range(opener) if roles[i] == "gpt"}
    goes_on = any(role == "human" for role in roles[first_reply + 1 :])
    return {first_reply} if goes_on and is_acknowledgement(texts[first_reply]) else set()


def flag_turns(turns: list[dict[str, object]]) -> list[dict[str, object]]:
    """Canonical turns with the released flags restored: prompt turns false, other assistant turns true."""
    prompt = prompt_positions([str(t["from"]) for t in turns], [str(t["value"]) for t in turns])
    return [{**t, "loss": (i not in prompt) if t["from"] == "gpt" else None} for i, t in enumerate(turns)]
