"""The KG tools, the reply parser, scoring and the world generator, on small hand-written inputs."""

from __future__ import annotations

import pytest

from envs.kg.graph import Graph, build_world, world
from envs.kg.schema import RELATIONS
from envs.kg.scoring import exact_match, f1_score
from envs.kg.tools import FinalAnswer, Invalid, Session, ToolCall, ToolError, parse_action


@pytest.fixture
def graph() -> Graph:
    """Two films, three people, one city: small enough to know every answer by heart."""
    types = {"Ana Ruiz": "people.person", "Ben Cole": "people.person", "Cy Dunn": "people.person"}
    types |= {"Red Tide": "film.film", "Blue Moon": "film.film", "Ostrava": "location.citytown"}
    g = Graph(types)
    for film, director, actors in (
        ("Red Tide", "Ana Ruiz", ["Ben Cole", "Cy Dunn"]),
        ("Blue Moon", "Ben Cole", ["Cy Dunn"]),
    ):
        g.link(film, "film.film.directed_by", director)
        for actor in actors:
            g.link(film, "film.film.starring", actor)
    g.link("Ana Ruiz", "people.person.place_of_birth", "Ostrava")
    g.attributes = {"Red Tide": {"film.film.release_year": 1999}, "Blue Moon": {"film.film.release_year": 2004}}
    return g


def run(session: Session, text: str) -> str:
    action = parse_action(f"Thought: ...\nAction: {text}")
    assert isinstance(action, ToolCall), action
    return session.run(action)


def test_tools_answer_like_agentbench(graph: Graph) -> None:
    s = Session(graph)
    assert run(s, "get_relations(Ana Ruiz)") == "[film.director.film, people.person.place_of_birth]"
    assert run(s, "get_neighbors(Ana Ruiz, film.director.film)") == "variable #0, which are instances of film.film"
    assert run(s, "get_neighbors(Ben Cole, film.director.film)") == "variable #1, which are instances of film.film"
    assert run(s, "get_neighbors(Ben Cole, film.actor.film)") == "variable #2, which are instances of film.film"
    assert run(s, "intersection(#1, #2)") == "variable #3, which are instances of film.film"
    assert run(s, "count(#3)") == "variable #4, which is a number"
    assert run(s, "get_relations(#0)") == "[film.film.directed_by, film.film.starring]"
    assert run(s, "intersection(#0, #2)") == "variable #5, which are instances of film.film"
    assert [sorted(v.answer()) for v in s.variables] == [
        ["Red Tide"],
        ["Blue Moon"],
        ["Red Tide"],
        [],
        ["0"],
        ["Red Tide"],
    ]


def test_superlatives_and_attributes(graph: Graph) -> None:
    s = Session(graph)
    run(s, "get_neighbors(Cy Dunn, film.actor.film)")  # #0: both films
    assert run(s, "get_attributes(#0)") == "[film.film.release_year]"
    assert run(s, "get_attributes(Ana Ruiz)") == "[]"
    assert run(s, "argmax(#0, film.film.release_year)") == "variable #1, which are instances of film.film"
    assert run(s, "argmin(#0, film.film.release_year)") == "variable #2, which are instances of film.film"
    assert [v.answer() for v in s.variables] == [{"Red Tide", "Blue Moon"}, {"Blue Moon"}, {"Red Tide"}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("get_relations(Nobody Here)", "no entity named 'Nobody Here'"),
        ("get_relations(#0)", "variable #0 does not exist; no variables exist yet"),
        ("get_relations(#x)", "'#x' is not a variable"),
        ("get_neighbors(Ana Ruiz, film.film.starring)", "Ana Ruiz has no relation 'film.film.starring'"),
        ("intersection(Ana Ruiz, Red Tide)", "same type"),
        ("argmax(Ana Ruiz, film.film.release_year)", "no attribute 'film.film.release_year'"),
    ],
)
def test_wrong_calls_raise_tool_errors_that_explain(graph: Graph, call: str, message: str) -> None:
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run(Session(graph), call)


def test_numbers_are_not_entity_sets(graph: Graph) -> None:
    s = Session(graph)
    run(s, "count(Ana Ruiz)")
    assert s.variables[0].answer() == {"1"}
    for call in ("count(#0)", "get_relations(#0)", "intersection(#0, #0)"):
        with pytest.raises(ToolError):
            run(s, call)


def test_entity_names_ignore_case_and_spacing(graph: Graph) -> None:
    assert run(Session(graph), "get_relations(  ana   RUIZ )") == "[film.director.film, people.person.place_of_birth]"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Thought: go.\nAction: get_relations(Barack Obama)", ToolCall("get_relations", ("Barack Obama",))),
        (
            "Action: get_neighbors(#0, film.film.directed_by)",
            ToolCall("get_neighbors", ("#0", "film.film.directed_by")),
        ),
        ('Action: get_neighbors("A, B Ltd", r.x)', ToolCall("get_neighbors", ("A, B Ltd", "r.x"))),  # last comma
        ("Action: intersection(#1,#2)", ToolCall("intersection", ("#1", "#2"))),
        ("Action: COUNT(#3)", ToolCall("count", ("#3",))),
        ("Thought: done.\nFinal Answer: #3", FinalAnswer(3)),
        ("Action: Final Answer: #2.", FinalAnswer(2)),
        ("Action: count(#1)\nFinal Answer: #2", ToolCall("count", ("#1",))),  # the first one decides
    ],
)
def test_parse_action(reply: str, expected: object) -> None:
    assert parse_action(reply) == expected


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I think it is Paris.", "no 'Action:' line"),
        ("Action: search(Paris)", "unknown tool 'search'"),
        ("Action: get_relations", "is not a tool call"),
        ("Action: get_neighbors(#0)", "get_neighbors takes 2 argument(s)"),
        ("Action: intersection(#0, #1, #2)", "intersection takes 2 argument(s)"),
        ("Action: count()", "count takes 1 argument(s)"),
        ("Final Answer: Paris", "must name one variable"),
    ],
)
def test_parse_action_explains_malformed_replies(reply: str, reason: str) -> None:
    parsed = parse_action(reply)
    assert isinstance(parsed, Invalid) and reason in parsed.reason


@pytest.mark.parametrize(
    ("predicted", "gold", "f1", "em"),
    [
        ({"a", "b"}, {"a", "b"}, 1.0, True),
        ({"a", "b"}, {"b", "c"}, 0.5, False),  # precision 1/2, recall 1/2
        ({"a"}, {"a", "b", "c", "d"}, 0.4, False),  # precision 1, recall 1/4: 2 * 0.25 / 1.25
        ({"a", "b", "c"}, {"a"}, 0.5, False),  # precision 1/3, recall 1: (2/3) / (4/3)
        ({"x"}, {"a"}, 0.0, False),
        (set(), {"a"}, 0.0, False),
        ({"3"}, {"3"}, 1.0, True),
        (set(), set(), 1.0, True),
    ],
)
def test_f1_and_exact_match(predicted: set[str], gold: set[str], f1: float, em: bool) -> None:
    assert f1_score(predicted, gold) == pytest.approx(f1)
    assert exact_match(predicted, gold) is em


def test_worlds_are_seeded_realistic_and_survive_a_round_trip() -> None:
    a = build_world(3)
    assert a.to_dict() == build_world(3).to_dict() and a.to_dict() != build_world(4).to_dict()
    counts = {kind: sum(t == kind for t in a.types.values()) for kind in set(a.types.values())}
    assert set(counts) == {"people.person", "film.film", "business.company", "location.citytown",
                           "location.country", "education.university"}  # fmt: skip
    assert counts["people.person"] >= 55 and counts["film.film"] >= 35
    assert len({name.casefold() for name in a.types}) == len(a.types)  # names identify entities
    for subject, edges in a.edges.items():  # every edge is typed by the schema and has its inverse
        for relation, objects in edges.items():
            assert RELATIONS[relation].domain == a.types[subject]
            assert all(subject in a.edges[o][RELATIONS[relation].inverse] for o in objects)
    copy = Graph.from_dict(a.to_dict())
    assert copy.to_dict() == a.to_dict() and copy.ranges == a.ranges
    assert world(3) is world(3)  # cached
