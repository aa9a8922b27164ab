"""AgentBench's KnowledgeGraph tool API over a local ``Graph``, and the parser for the agent's replies.

    session = Session(graph)
    session.run(ToolCall("get_neighbors", ("Lena Ortiz", "film.actor.film")))
    # -> 'variable #0, which are instances of film.film'
    session.variables[0].answer()   # the entity names it holds

The seven tools and their outputs follow AgentBench: ``get_relations`` and
``get_attributes`` list names, the other five store their result in a new variable
``#0``, ``#1``, ... and report only its type, so the agent never sees entity names it
was not given. An argument is a variable or an entity name. A wrong call raises
``ToolError`` with an explanation, which the env turns into the next observation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from envs.kg.graph import Graph

NUMBER = "number"  # the type of count()'s result
TOOLS: dict[str, tuple[str, ...]] = {  # tool -> parameter names, for messages
    "get_relations": ("variable or entity",),
    "get_neighbors": ("variable or entity", "relation"),
    "intersection": ("variable", "variable"),
    "get_attributes": ("variable",),
    "argmax": ("variable", "attribute"),
    "argmin": ("variable", "attribute"),
    "count": ("variable",),
}

_ACTION = re.compile(r"\bAction:[ \t]*(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_FINAL = re.compile(r"\bFinal Answer:[ \t]*(\S*)", re.IGNORECASE)
_CALL = re.compile(r"^`?([A-Za-z_]\w*)[ \t]*\((.*)\)`?\.?$")
_VARIABLE = re.compile(r"^#(\d+)$")


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.tool}({', '.join(self.args)})"


@dataclass(frozen=True)
class FinalAnswer:
    variable: int


@dataclass(frozen=True)
class Invalid:
    reason: str


Action = ToolCall | FinalAnswer | Invalid


class ToolError(Exception):
    """A well-formed call that cannot run (unknown entity, missing variable, wrong relation, ...)."""


@dataclass(frozen=True)
class Variable:
    type: str
    entities: frozenset[str] = frozenset()
    number: int | None = None  # set for count()'s result

    def answer(self) -> set[str]:
        """What the variable means as a final answer: entity names, or the number as text."""
        return {str(self.number)} if self.number is not None else set(self.entities)


def parse_action(reply: str) -> Action:
    """The reply's first ``Action: tool(args)`` line or ``Final Answer: #k``, whichever comes first."""
    action, final = _ACTION.search(reply), _FINAL.search(reply)
    if final is not None and (action is None or final.start() <= action.end()):
        number = _VARIABLE.match(final.group(1).rstrip(".,;"))
        if number is None:
            return Invalid(
                f"the final answer must name one variable, e.g. 'Final Answer: #3', not {final.group(1)!r}."
            )
        return FinalAnswer(int(number.group(1)))
    if action is None:
        return Invalid("no 'Action:' line and no 'Final Answer: #k' line was found.")
    call = _CALL.match(action.group(1))
    if call is None:
        return Invalid(f"{action.group(1)!r} is not a tool call; write one call such as get_relations(Barack Obama).")
    tool, inner = call.group(1).lower(), call.group(2)
    if tool not in TOOLS:
        return Invalid(f"unknown tool {call.group(1)!r}; the tools are {', '.join(TOOLS)}.")
    params = TOOLS[tool]
    # Relations and attributes never hold commas, but entity names might: split at the last comma only.
    parts = inner.split(",") if tool == "intersection" else inner.rsplit(",", len(params) - 1)
    args = tuple(part.strip().strip("'\"").strip() for part in parts)
    if len(args) != len(params) or not all(args):
        return Invalid(f"{tool} takes {len(params)} argument(s), ({', '.join(params)}); got {inner.strip()!r}.")
    return ToolCall(tool, args)


class Session:
    """The variables of one episode and the tools that make them."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.variables: list[Variable] = []

    def run(self, call: ToolCall) -> str:
        """Run ``call``; the observation text (without the "Observation: " prefix), or raise ToolError."""
        return getattr(self, f"_{call.tool}")(*call.args)

    def _get_relations(self, arg: str) -> str:
        return _listing(self.graph.relations(self._entities(arg, "get_relations")))

    def _get_neighbors(self, arg: str, relation: str) -> str:
        entities = self._entities(arg, "get_neighbors")
        if relation not in self.graph.relations(entities):
            raise ToolError(
                f"get_neighbors: {arg} has no relation {relation!r}; call get_relations({arg}) to list its relations."
            )
        return self._new(Variable(self.graph.ranges[relation], frozenset(self.graph.neighbors(entities, relation))))

    def _intersection(self, first: str, second: str) -> str:
        a, b = self._variable(first, "intersection"), self._variable(second, "intersection")
        if a.type != b.type or a.type == NUMBER:
            raise ToolError(
                f"intersection: both variables must hold entities of the same type, but {first} holds {a.type} "
                f"and {second} holds {b.type}."
            )
        return self._new(Variable(a.type, a.entities & b.entities))

    def _get_attributes(self, arg: str) -> str:
        return _listing(self.graph.attribute_names(self._entities(arg, "get_attributes")))

    def _argmax(self, arg: str, attribute: str) -> str:
        return self._extreme(arg, attribute, "argmax", max)

    def _argmin(self, arg: str, attribute: str) -> str:
        return self._extreme(arg, attribute, "argmin", min)

    def _count(self, arg: str) -> str:
        variable = self._variable(arg, "count")
        if variable.type == NUMBER:
            raise ToolError(f"count: {arg} is already a number; count a variable that holds entities.")
        return self._new(Variable(NUMBER, number=len(variable.entities)))

    def _extreme(self, arg: str, attribute: str, tool: str, pick: Callable[[Iterable[float]], float]) -> str:
        entities = self._entities(arg, tool)
        if attribute not in self.graph.attribute_names(entities):
            raise ToolError(
                f"{tool}: {arg} has no attribute {attribute!r}; call get_attributes({arg}) to list its attributes."
            )
        values = {e: self.graph.attributes[e][attribute] for e in entities if attribute in self.graph.attributes[e]}
        best = pick(values.values())
        # Ties keep every best entity, so the answer never depends on set iteration order.
        best_entities = frozenset(e for e, value in values.items() if value == best)
        return self._new(Variable(self._variable(arg, tool).type, best_entities))

    def _new(self, variable: Variable) -> str:
        self.variables.append(variable)
        index = len(self.variables) - 1
        if variable.type == NUMBER:
            return f"variable #{index}, which is a number"
        return f"variable #{index}, which are instances of {variable.type}"

    def _variable(self, arg: str, tool: str) -> Variable:
        """A variable (``#k``) or an entity name as a one-entity variable."""
        match = _VARIABLE.match(arg)
        if match is None:
            if arg.startswith("#"):
                raise ToolError(f"{tool}: {arg!r} is not a variable; variables are written #0, #1, ...")
            entity = self.graph.entity(arg)
            if entity is None:
                raise ToolError(f"{tool}: there is no entity named {arg!r} in the knowledge base; {self.hint()}")
            return Variable(self.graph.types[entity], frozenset({entity}))
        index = int(match.group(1))
        if index >= len(self.variables):
            raise ToolError(f"{tool}: variable {arg} does not exist; {self.hint()}")
        return self.variables[index]

    def _entities(self, arg: str, tool: str) -> frozenset[str]:
        variable = self._variable(arg, tool)
        if variable.type == NUMBER:
            raise ToolError(f"{tool}: {arg} is a number, not a set of entities.")
        return variable.entities

    def hint(self) -> str:
        if not self.variables:
            return "no variables exist yet; start from an entity named in the question, spelled as given there."
        return f"the variables so far are #0 to #{len(self.variables) - 1}."


def _listing(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"
