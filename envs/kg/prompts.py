"""What the KG environment says to the agent.

The format is AgentBench KnowledgeGraph's (and so AgentInstruct's), so that models tuned
on those trajectories transfer: the same seven tools and variables ``#0``, ``#1``, ...,
one ``Thought:`` and one ``Action: tool(args)`` per turn, ``Final Answer: #k`` to finish,
observations such as ``Observation: variable #0, which are instances of film.film``,
and a one-shot example before the question. The sentences are our own.
"""

from __future__ import annotations

from envs.kg.payload import MAX_TURNS
from envs.textenv import fixed_replies

INSTRUCTION = f"""\
You answer questions by querying a knowledge base (KB) of entities, the relations between them and their \
numeric attributes. You can call these tools:

1. get_relations(variable or entity) -> a list of relations
Lists every relation leaving the entity, or leaving any entity of the variable. Use it to pick the relation \
that moves you toward the answer, e.g. get_relations(Barack Obama).

2. get_neighbors(variable or entity, relation) -> a new variable
The entities reached from the argument through the relation, e.g. \
get_neighbors(Barack Obama, people.person.place_of_birth). The relation must be one that get_relations \
listed for the argument.

3. intersection(variable, variable) -> a new variable
The entities that belong to both variables, which must hold entities of the same type.

4. get_attributes(variable) -> a list of attributes
Lists the numeric attributes of the variable's entities. Use it before argmax or argmin.

5. argmax(variable, attribute) -> a new variable
The entity of the variable with the largest value of the attribute, e.g. argmax(#2, film.film.release_year) \
is the most recent film of #2.

6. argmin(variable, attribute) -> a new variable
The same with the smallest value.

7. count(variable) -> a new variable
The number of entities in the variable.

An entity is written by its name exactly as the question's entity list gives it. Every tool that returns a \
variable stores its result as the next variable, numbered from 0: #0 is the first, #1 the second, and so on. \
You only see a variable's type, not its members; judge from how it was built whether it answers the question.

In every turn, first write one line "Thought: ..." with your reasoning, then one line "Action: ..." with \
exactly one tool call. I will reply with "Observation: ...". When a variable holds the answer, reply with \
"Final Answer: #k" naming that variable (for example "Final Answer: #3") instead of an Action. You have at most \
{MAX_TURNS} turns, the final answer included."""

EXAMPLE = """\
Here is an example.
Question: Which films directed by the founders of Kestrel Pictures star Maya Lindqvist?
Entities: [Kestrel Pictures, Maya Lindqvist]
Thought: I need the founders of Kestrel Pictures first, so I will look at the relations of Kestrel Pictures.
Action: get_relations(Kestrel Pictures)
Observation: [business.company.founders, business.company.headquarters, business.employer.employees, \
film.production_company.films]
Thought: business.company.founders leads to the founders of Kestrel Pictures.
Action: get_neighbors(Kestrel Pictures, business.company.founders)
Observation: variable #0, which are instances of people.person
Thought: Next I need the films these founders directed. Let me see the relations of #0.
Action: get_relations(#0)
Observation: [film.director.film, organization.organization_founder.organizations_founded, \
people.person.nationality, people.person.place_of_birth]
Thought: film.director.film gives the films they directed.
Action: get_neighbors(#0, film.director.film)
Observation: variable #1, which are instances of film.film
Thought: Now the films that star Maya Lindqvist.
Action: get_relations(Maya Lindqvist)
Observation: [film.actor.film, people.person.education, people.person.nationality, people.person.place_of_birth]
Thought: film.actor.film gives the films she acted in.
Action: get_neighbors(Maya Lindqvist, film.actor.film)
Observation: variable #2, which are instances of film.film
Thought: The answer is the films in both #1 and #2, which have the same type.
Action: intersection(#1, #2)
Observation: variable #3, which are instances of film.film
Thought: #3 holds the films directed by the founders of Kestrel Pictures that star Maya Lindqvist.
Final Answer: #3"""


def _example_turns(example: str) -> list[dict[str, str]]:
    """``EXAMPLE`` as chat turns (AgentInstruct sends KG's one-shot example this way): the question, then the
    agent's Thought/Action lines and the KB's Observation lines as alternating turns."""
    lines = example.splitlines()[1:]  # without "Here is an example."
    turns = [{"role": "user", "content": "\n".join(lines[:2])}]
    for line in lines[2:]:
        role = "user" if line.startswith("Observation:") else "assistant"
        if turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + line
        else:
            turns.append({"role": role, "content": line})
    return turns


EXAMPLE_TURNS = _example_turns(EXAMPLE)
ACKNOWLEDGEMENT = "Understood. Please give me the question."
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT, EXAMPLE_TURNS)
NEW_QUESTION = "Now the real question.\n"

FORMAT_REMINDER = """\
Reply with one line "Thought: ..." and then either one line "Action: tool(arguments)", such as \
"Action: get_relations(Barack Obama)", or one line "Final Answer: #k" naming the variable that answers the \
question."""

EPISODE_OVER = "Your final answer was recorded; the episode is over."


def question_prompt(question: str, entities: list[str]) -> str:
    """The task turn: the question and the entities it names, in AgentBench's layout."""
    return f"Question: {question}\nEntities: [{', '.join(entities)}]"


def first_observation(question: str, entities: list[str]) -> str:
    return f"{INSTRUCTION}\n\n{EXAMPLE}\n\n{NEW_QUESTION}{question_prompt(question, entities)}"


def observation(text: str) -> str:
    return f"Observation: {text}"


def tool_error(message: str) -> str:
    return f"Observation: Error: {message}"


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"
