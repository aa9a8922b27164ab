"""What the MultiHopQA environment says to the agent: the instruction, a one-shot example, the feedback texts.

The action grammar is ReAct's for HotpotQA (Search / Lookup / Finish with a bracketed
argument), so that agents prompted the ReAct way work unchanged; the sentences and the
example are our own.
"""

from __future__ import annotations

from envs.textenv import fixed_replies

INSTRUCTION = """\
Answer a question by researching it in a small encyclopedia. Work in steps: each reply holds one line of \
reasoning starting with "Thought:", then exactly one line starting with "Action:". The actions are:
Action: Search[entity]   opens the encyclopedia page whose title is the entity; when there is no such page, \
you get a list of similar titles instead.
Action: Lookup[keyword]  shows the next sentence of the open page that contains the keyword.
Action: Finish[answer]   gives your final answer and ends the episode.
Answers are checked by exact match after lowercasing and removing punctuation and articles, so give just the \
name, place or year, with no extra words. You have {max_turns} actions in all.

Here is an example:
Question: Where was the person who designed the Calloway Bridge born?
Thought: I need the designer of the Calloway Bridge, then that person's birthplace. I will open the bridge's page.
Action: Search[Calloway Bridge]
Observation: The Calloway Bridge is a stone bridge completed in 1888. It was designed by Mira Thessaly.
Thought: Mira Thessaly designed the bridge. Next I need to know where she was born.
Action: Search[Mira Thessaly]
Observation: Mira Thessaly (born 1851) is an architect. She is known for her bridges. She was born in Dunmore.
Thought: The page mentions her birth; let me check the exact sentence.
Action: Lookup[born in]
Observation: (Result 1 / 1) She was born in Dunmore.
Thought: Mira Thessaly was born in Dunmore, so that is the answer.
Action: Finish[Dunmore]"""

FORMAT_REMINDER = """\
Reply with one "Thought: ..." line and then exactly one action line:
Action: Search[entity]  or  Action: Lookup[keyword]  or  Action: Finish[answer]"""

EPISODE_OVER = "Observation: Your answer was recorded; the episode is over."
NO_PAGE = "Observation: No page is open yet; open one with Search[entity] before using Lookup[keyword]."


ACKNOWLEDGEMENT = "OK. I am ready for the question."
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT)


def question_turn(question: str) -> str:
    return f"Now the real question.\nQuestion: {question}"


def first_observation(question: str, max_turns: int) -> str:
    return f"{INSTRUCTION.format(max_turns=max_turns)}\n\n{question_turn(question)}"


def page(sentences: list[str]) -> str:
    return "Observation: " + " ".join(sentences)


def not_found(query: str, similar: list[str]) -> str:
    listing = ", ".join(f"[{title}]" for title in similar) if similar else "none"
    return f"Observation: There is no page titled [{query}]. Similar titles: {listing}."


def lookup_result(index: int, total: int, sentence: str) -> str:
    return f"Observation: (Result {index} / {total}) {sentence}"


def lookup_exhausted(keyword: str, total: int) -> str:
    if total == 0:
        return f"Observation: The open page has no sentence containing [{keyword}]."
    return f"Observation: No more results for [{keyword}]; all {total} were shown."


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"
