"""The knowledge graph: a dict index of typed entities, directed relations and numeric attributes.

    graph = world(seed)                                  # a seeded generated world (cached)
    graph.neighbors({"Lena Ortiz"}, "film.actor.film")   # {'The Silent Harbor', ...}
    graph = Graph.from_dict(json.loads(text))            # or any graph stored in a task payload

A world is fictional on purpose: its places, films and companies do not exist, so an
agent cannot answer from memory and must query the graph, as AgentBench's agents must
query Freebase. Entity names are unique (matched case-insensitively) because the agent
names entities in its tool calls.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from envs.kg import schema
from envs.kg.schema import CITY, COMPANY, COUNTRY, FILM, PERSON, UNIVERSITY

WORLD_VERSION = 1  # bump with the env version whenever build_world changes its output

_FIRST = (
    "Ada Alan Amara Ana Ben Carla Chen Dara David Elena Emil Farah Felix Grace Hana Ivan Jonas Julia Kai Kenji Lena "
    "Leo Lucia Malik Maya Mateo Nadia Nils Omar Paula Priya Rafael Rosa Sam Sofia Tariq Tomas Vera Yara Zoe"
).split()
_LAST = (
    "Abara Becker Castillo Dubois Eriksen Fischer Garcia Haddad Ibsen Jensen Kowalski Lindqvist Moreau Nakamura "
    "Okafor Ortiz Petrov Quinn Rossi Santos Tanaka Usman Varga Weber Xu Yilmaz Zamora Bauer Costa Horvat Novak "
    "Mendes Sato Kaya Larsen Silva Brandt Duarte Ferreira"
).split()
_ADJECTIVES = (
    "Silent Crimson Hidden Last Broken Golden Distant Quiet Burning Frozen Hollow Endless Wild Secret Fallen Bright "
    "Lonely Restless Velvet Iron Paper Glass Midnight Northern Scarlet"
).split()
_NOUNS = (
    "Harbor River Garden Mirror Voyage Kingdom Letter Orchard Horizon Lantern Storm Tide Promise Station Bridge "
    "Archive Summer Winter Echo Frontier Compass Meadow Signal Carnival Citadel"
).split()
_SYLLABLES = "va lor mi ten os ka rin del mar su bel tor an qui zel fa gor ul ne by sa ro ve lin dra".split()
_COMPANY_SUFFIXES = ("Pictures", "Studios", "Films", "Media", "Entertainment", "Group", "Holdings", "Productions")
_CITY_SUFFIXES = ("", "", "", "port", "ford", "haven", "burg", "mouth")
_COUNTRY_SUFFIXES = ("ia", "land", "ora", "esh", "istan", "avia")


class Graph:
    """Typed entities with directed edges (each stored in both directions) and numeric attributes."""

    def __init__(
        self,
        types: dict[str, str],
        triples: Iterable[Iterable[str]] = (),
        attributes: dict[str, dict[str, float]] | None = None,
    ) -> None:
        self.types = dict(types)
        self.edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.attributes = {name: dict(values) for name, values in (attributes or {}).items()}
        self.ranges: dict[str, str] = {}  # relation -> type of its objects
        self._by_key = {_key(name): name for name in self.types}
        for subject, relation, obj in triples:
            self.edges[subject][relation].add(obj)
            self.ranges[relation] = self.types[obj]

    def link(self, subject: str, relation: str, obj: str) -> None:
        """Add ``subject --relation--> obj`` and the inverse edge named by the schema."""
        inverse = schema.RELATIONS[relation].inverse
        for s, r, o in ((subject, relation, obj), (obj, inverse, subject)):
            self.edges[s][r].add(o)
            self.ranges[r] = self.types[o]

    def entity(self, text: str) -> str | None:
        """The entity called ``text`` (ignoring case and repeated spaces), or None."""
        return self._by_key.get(_key(text))

    def relations(self, entities: Iterable[str]) -> list[str]:
        return sorted({r for e in entities for r, objects in self.edges.get(e, {}).items() if objects})

    def neighbors(self, entities: Iterable[str], relation: str) -> set[str]:
        return {o for e in entities for o in self.edges.get(e, {}).get(relation, ())}

    def attribute_names(self, entities: Iterable[str]) -> list[str]:
        return sorted({a for e in entities for a in self.attributes.get(e, {})})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every directed edge is listed, so ``from_dict`` needs no schema."""
        triples = [
            [s, r, o] for s in sorted(self.edges) for r in sorted(self.edges[s]) for o in sorted(self.edges[s][r])
        ]
        return {"entities": dict(sorted(self.types.items())), "triples": triples, "attributes": self.attributes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Graph:
        return cls(d["entities"], d.get("triples", []), d.get("attributes", {}))


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


@functools.lru_cache(maxsize=64)  # ~0.25 MB a world
def world(seed: int) -> Graph:
    """The generated world for ``seed``; cached because every task of a seed (and the env) rebuilds it.

    Callers must not modify the returned graph.
    """
    return build_world(seed)


def build_world(seed: int) -> Graph:
    """A fresh world of 4-6 countries, their cities, universities, companies, ~70 people and ~45 films."""
    rng = random.Random(f"kg-world-{WORLD_VERSION}/{seed}")  # str seeds hash with SHA-512: stable across runs
    names = _Names(rng)
    graph = Graph({})

    def add(kind: str, name: str) -> str:
        graph.types[name] = kind
        graph._by_key[_key(name)] = name
        graph.attributes[name] = {a.name: _draw(rng, a) for a in schema.ATTRIBUTES.values() if a.domain == kind}
        return name

    countries = [add(COUNTRY, names.place(_COUNTRY_SUFFIXES)) for _ in range(rng.randint(4, 6))]
    cities, country_of = [], {}
    for country in countries:
        for _ in range(rng.randint(2, 4)):
            city = add(CITY, names.place(_CITY_SUFFIXES))
            graph.link(city, "location.location.containedby", country)
            cities.append(city)
            country_of[city] = country
    universities = []
    for city in rng.sample(cities, k=max(3, len(cities) // 2)):
        pattern = rng.choice(("University of {}", "{} Institute of Technology", "{} State University"))
        universities.append(add(UNIVERSITY, names.unique(lambda city=city, p=pattern: p.format(city))))
        graph.link(universities[-1], "education.university.city", city)
    companies = []
    for _ in range(rng.randint(7, 11)):
        companies.append(add(COMPANY, names.unique(lambda: f"{names.word()} {rng.choice(_COMPANY_SUFFIXES)}")))
        graph.link(companies[-1], "business.company.headquarters", rng.choice(cities))
    people = []
    for _ in range(rng.randint(55, 80)):
        person = add(PERSON, names.unique(lambda: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"))
        birthplace = rng.choice(cities)
        graph.link(person, "people.person.place_of_birth", birthplace)
        nationality = country_of[birthplace] if rng.random() < 0.85 else rng.choice(countries)
        graph.link(person, "people.person.nationality", nationality)
        for university in rng.sample(universities, k=rng.choice((0, 1, 1, 1, 2))):
            graph.link(person, "people.person.education", university)
        if rng.random() < 0.6:
            graph.link(person, "people.person.employer", rng.choice(companies))
        people.append(person)
    for company in companies:
        for founder in rng.sample(people, k=rng.choice((1, 1, 2))):
            graph.link(company, "business.company.founders", founder)
    # Few directors and many actors, so that people direct several films and films share cast members.
    directors = rng.sample(people, k=len(people) // 5)
    actors = [p for p in people if p not in directors] + rng.sample(directors, k=2)
    for _ in range(rng.randint(35, 55)):
        film = add(FILM, names.unique(names.title))
        for director in rng.sample(directors, k=rng.choice((1, 1, 1, 1, 2))):
            graph.link(film, "film.film.directed_by", director)
        for actor in rng.sample(actors, k=rng.randint(2, 5)):
            graph.link(film, "film.film.starring", actor)
        producers = rng.sample(companies, k=rng.choice((1, 1, 2)))
        for company in producers:
            graph.link(film, "film.film.production_companies", company)
        headquarters = next(iter(graph.edges[producers[0]]["business.company.headquarters"]))
        country = country_of[headquarters] if rng.random() < 0.8 else rng.choice(countries)
        graph.link(film, "film.film.country", country)
    return graph


def _draw(rng: random.Random, attribute: schema.Attribute) -> float:
    value = rng.uniform(attribute.low, attribute.high)
    return round(value, attribute.decimals) if attribute.decimals else int(value)


class _Names:
    """Draws names that are unique across the whole world (the agent refers to entities by name)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def unique(self, draw: Any) -> str:
        for attempt in range(1000):
            name = draw() if attempt < 20 else f"{draw()} {self.rng.choice('IVX')}{attempt}"
            if _key(name) not in self.used:
                self.used.add(_key(name))
                return name
        raise RuntimeError("name pools exhausted; this is a generator bug")

    def word(self) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 3))).capitalize()

    def place(self, suffixes: tuple[str, ...]) -> str:
        return self.unique(lambda: self.word() + self.rng.choice(suffixes))

    def title(self) -> str:
        adjective, noun, other = self.rng.choice(_ADJECTIVES), self.rng.choice(_NOUNS), self.rng.choice(_NOUNS)
        return self.rng.choice((f"The {adjective} {noun}", f"{adjective} {noun}", f"The {noun} of the {other}"))
