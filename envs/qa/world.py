"""A seeded fictional world and its encyclopedia: people, cities, countries, organisations and events.

    world = build_world(random.Random(7))
    world.docs["Orvane Labs"]   # ["Orvane Labs is a research laboratory founded in 1931 by Ilsa Dorwick.", ...]

Every entity gets one short encyclopedic page (a list of sentences) that names the
related entities, so a question about one entity can need a second page to answer.
Names are made of syllables so that no model can know the answers beforehand; they
are unique within a world (case-insensitively), which keeps every page title and every
gold answer unambiguous.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_HEADS = (
    "Ar", "Bel", "Cor", "Dal", "El", "Fen", "Gar", "Hal", "Is", "Jor", "Kal", "Lor", "Mer", "Nai", "Or", "Pel",
    "Quin", "Ros", "Sal", "Tal", "Ul", "Ven", "Wyn", "Yar", "Zel", "Thar", "Bram", "Cas", "Drev", "Ost",
)  # fmt: skip
_MIDS = ("a", "e", "i", "o", "u", "an", "el", "is", "or", "en", "ar", "ol")
_FIRST_ENDS = ("a", "en", "is", "o", "an", "ia", "el", "ette", "us", "ric", "ine", "win")
_LAST_ENDS = ("ley", "mont", "wick", "ford", "ane", "ova", "ski", "ton", "berg", "holt", "ridge", "more")
_CITY_ENDS = ("ford", "mouth", "vale", "haven", "stad", "grad", "ton", "burg", "port", "mere", "wick", "dale")
_COUNTRY_ENDS = ("ia", "land", "ova", "istan", "ara", "onia", "esh", "oria")
_ORG_KINDS = (
    ("Labs", "research laboratory"), ("Institute", "scientific institute"), ("Foundry", "metal foundry"),
    ("Records", "record label"), ("Press", "publishing house"), ("Works", "engineering company"),
    ("Observatory", "astronomical observatory"), ("Guild", "craft guild"), ("Bank", "savings bank"),
)  # fmt: skip
_EVENT_KINDS = (("Festival", "music festival"), ("Regatta", "rowing race"), ("Summit", "science conference"),
                ("Games", "sports competition"), ("Fair", "book fair"))  # fmt: skip
_OCCUPATIONS = ("chemist", "novelist", "architect", "composer", "engineer", "painter", "astronomer", "economist",
                "sculptor", "botanist", "cartographer", "physician")  # fmt: skip
_RIVERS_ENDS = ("wen", "rin", "ase", "ul", "ora")
_COINED_ENDS = ("vane", "lix", "dra", "mir", "thex", "ion", "ara", "ith", "quor", "esse")

N_COUNTRIES, N_CITIES, N_PEOPLE, N_ORGS, N_EVENTS = 3, 7, 10, 5, 3


@dataclass
class Person:
    name: str
    born: int
    birth_city: str
    occupation: str
    employer: str = ""


@dataclass
class City:
    name: str
    country: str
    river: str
    population: int


@dataclass
class Org:
    name: str
    kind: str
    founded: int
    founder: str
    city: str


@dataclass
class Event:
    name: str
    kind: str
    first_held: int
    city: str
    organiser: str


@dataclass
class World:
    countries: list[str]
    cities: dict[str, City]
    people: dict[str, Person]
    orgs: dict[str, Org]
    events: dict[str, Event]
    docs: dict[str, list[str]] = field(default_factory=dict)  # title -> sentences


def build_world(rng: random.Random) -> World:
    """A new world drawn from ``rng``; its pages are in ``world.docs``."""
    names = _Names(rng)
    countries = [names.draw(_COUNTRY_ENDS) for _ in range(N_COUNTRIES)]
    cities = {}
    for i in range(N_CITIES):
        # Every country gets a city first, so every country page has something to say.
        country = countries[i] if i < N_COUNTRIES else rng.choice(countries)
        name = names.draw(_CITY_ENDS)
        cities[name] = City(name, country, names.draw(_RIVERS_ENDS), rng.randrange(20, 900) * 1000)
    city_names = list(cities)
    people = {}
    for _ in range(N_PEOPLE):
        name = f"{names.draw(_FIRST_ENDS, mids=False)} {names.draw(_LAST_ENDS)}"
        people[name] = Person(name, rng.randint(1820, 1950), rng.choice(city_names), rng.choice(_OCCUPATIONS))
    founders = rng.sample(list(people), N_ORGS)
    orgs = {}
    for founder in founders:
        suffix, kind = rng.choice(_ORG_KINDS)
        name = f"{names.draw(_COINED_ENDS)} {suffix}"
        born = people[founder].born
        orgs[name] = Org(name, kind, born + rng.randint(25, 45), founder, rng.choice(city_names))
    for person in people.values():
        person.employer = rng.choice(list(orgs))
    events = {}
    for organiser in rng.sample(list(orgs), N_EVENTS):
        suffix, kind = rng.choice(_EVENT_KINDS)
        name = f"{names.draw(_COINED_ENDS)} {suffix}"
        founded = orgs[organiser].founded
        events[name] = Event(name, kind, founded + rng.randint(1, 25), rng.choice(city_names), organiser)
    world = World(countries, cities, people, orgs, events)
    world.docs = _write_docs(world, rng)
    return world


class _Names:
    """Draws syllable names never drawn before in this world (compared case-insensitively)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def draw(self, ends: tuple[str, ...], *, mids: bool = True) -> str:
        while True:
            middle = self.rng.choice(_MIDS) if mids and self.rng.random() < 0.6 else ""
            name = (self.rng.choice(_HEADS) + middle + self.rng.choice(ends)).capitalize()
            if name.lower() not in self.used and len(name) > 2:
                self.used.add(name.lower())
                return name


def _write_docs(world: World, rng: random.Random) -> dict[str, list[str]]:
    docs: dict[str, list[str]] = {}
    for name, person in world.people.items():
        founded = [org for org in world.orgs.values() if org.founder == name]
        docs[name] = [
            f"{name} (born {person.born}) is {_a(person.occupation)} from {person.birth_city}.",
            f"{name} was born in {person.birth_city} in {person.born} and trained as {_a(person.occupation)}.",
            *(f"In {org.founded}, {name} founded {org.name}." for org in founded),
            f"{name} has worked at {person.employer} for most of their career.",
        ]
    for name, org in world.orgs.items():
        staff = sorted(p.name for p in world.people.values() if p.employer == name and p.name != org.founder)
        runs = [event.name for event in world.events.values() if event.organiser == name]
        docs[name] = [
            f"{name} is {_a(org.kind)} founded in {org.founded} by {org.founder}.",
            f"Its headquarters are in {org.city}.",
            *([f"Notable staff of {name} include {_join(staff[:3])}."] if staff else []),
            *(f"{name} organises the {event}." for event in runs),
        ]
    for name, city in world.cities.items():
        natives = sorted(p.name for p in world.people.values() if p.birth_city == name)
        based = sorted(o.name for o in world.orgs.values() if o.city == name)
        docs[name] = [
            f"{name} is a city in {city.country} on the river {city.river}.",
            f"{name} has about {city.population:,} inhabitants.",
            *([f"{_join(based)} {'is' if len(based) == 1 else 'are'} based in {name}."] if based else []),
            *([f"People born in {name} include {_join(natives[:3])}."] if natives else []),
        ]
    for name in world.countries:
        cities = sorted(c.name for c in world.cities.values() if c.country == name)
        docs[name] = [
            f"{name} is a country whose largest city is {cities[0]}.",
            f"Cities in {name} include {_join(cities)}.",
        ]
    for name, event in world.events.items():
        docs[name] = [
            f"The {name} is {_a(event.kind)} first held in {event.first_held} in {event.city}.",
            f"The {name} is organised by {event.organiser}.",
        ]
    # Shuffle the store's order so that page order gives nothing away.
    titles = list(docs)
    rng.shuffle(titles)
    return {title: docs[title] for title in titles}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun
