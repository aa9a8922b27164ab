"""The KG task payload, JSON-serialisable because tasks cross process boundaries.

    {
      "question": "Which city is the birthplace of the director of The Silent Harbor?",
      "entities": ["The Silent Harbor"],          # named in the question; resolvable by name in the graph
      "category": "two_hop",                      # one_hop two_hop three_hop intersection count argmax argmin
      "graph": {"world": 1, "seed": 7},           # a generated world (graph.world), or a Graph.to_dict()
      "program": [{"thought": "...", "action": "get_relations(The Silent Harbor)"}, ...],   # the gold calls
      "answer_variable": 1,                       # the variable the gold Final Answer names
      "answer": ["Valormiport"],                  # gold answer set: entity names, or a count as text
      "source": "generated",
    }

A generated task stores only its world's seed, since the world is rebuilt exactly from
it; a task from elsewhere can carry its whole graph.
"""

from __future__ import annotations

from typing import Any, TypedDict

from envs.kg.graph import WORLD_VERSION, Graph, world

ENV_ID = "agenttune/KG-v0"
MAX_TURNS = 15  # AgentBench KG lets the agent take at most 15 actions, the final answer included


class Step(TypedDict):
    thought: str
    action: str


class KGPayload(TypedDict):
    question: str
    entities: list[str]
    category: str
    graph: dict[str, Any]
    program: list[Step]
    answer_variable: int
    answer: list[str]
    source: str


def load_graph(payload: dict[str, Any]) -> Graph:
    """The payload's graph: the cached world for a seed, or the graph stored in the payload."""
    spec = payload["graph"]
    if "seed" in spec:
        return world(int(spec["seed"]))
    return Graph.from_dict(spec)


def payload_problems(payload: Any) -> list[str]:
    """Every way ``payload`` departs from the schema above, as 'key: what is wrong' lines (empty when valid)."""
    if not isinstance(payload, dict):
        return [f"payload: expected an object, got {type(payload).__name__}"]
    problems = [
        f"{key}: expected {kind.__name__}, got {type(payload.get(key)).__name__}"
        for key, kind in (("question", str), ("graph", dict), ("program", list), ("answer_variable", int))
        if not isinstance(payload.get(key), kind)
    ]
    for key in ("entities", "answer"):
        if not isinstance(payload.get(key), list) or not all(isinstance(v, str) for v in payload[key]):
            problems.append(f"{key}: expected a list of strings")
    graph = payload.get("graph")
    if isinstance(graph, dict):
        if "seed" in graph and graph.get("world") != WORLD_VERSION:
            problems.append(f"graph.world: this env builds world version {WORLD_VERSION}, got {graph.get('world')!r}")
        if "seed" not in graph and not isinstance(graph.get("entities"), dict):
            problems.append("graph: expected {'world', 'seed'} or {'entities', 'triples', 'attributes'}")
    for i, step in enumerate(payload.get("program") or []):
        if not (isinstance(step, dict) and isinstance(step.get("action"), str)):
            problems.append(f"program[{i}]: expected {{'thought': str, 'action': str}}, got {step!r}"[:200])
    return problems
