"""The schema of the generated knowledge graphs: entity types, relations and numeric attributes.

Names follow Freebase's ``domain.type.property`` style, as AgentBench's KnowledgeGraph
task (which runs on Freebase) shows them to the agent. Every relation has an inverse,
as Freebase's reverse properties do, so the graph can be walked both ways. Each one
also carries the English noun phrase that question templates nest
("the birthplace of the director of {film}").
"""

from __future__ import annotations

from dataclasses import dataclass

PERSON, FILM, COMPANY = "people.person", "film.film", "business.company"
CITY, COUNTRY, UNIVERSITY = "location.citytown", "location.country", "education.university"


@dataclass(frozen=True)
class EntityType:
    name: str
    noun: str
    plural: str


@dataclass(frozen=True)
class Relation:
    name: str
    domain: str
    range: str
    phrase: str  # the range seen from the domain, e.g. "the director of {}"
    plural: bool  # whether ``phrase`` reads as plural ("the actors of {}")
    inverse: str


@dataclass(frozen=True)
class Attribute:
    name: str
    domain: str
    noun: str  # "release year"
    most: str  # superlative for the largest value: "latest"
    least: str  # and for the smallest: "earliest"
    low: float
    high: float
    decimals: int = 0  # 0: an integer


TYPES: dict[str, EntityType] = {
    t.name: t
    for t in (
        EntityType(PERSON, "person", "people"),
        EntityType(FILM, "film", "films"),
        EntityType(COMPANY, "company", "companies"),
        EntityType(CITY, "city", "cities"),
        EntityType(COUNTRY, "country", "countries"),
        EntityType(UNIVERSITY, "university", "universities"),
    )
}

# (forward, its inverse): name, domain, range, phrase, plural.
_PAIRS = (
    (("film.film.directed_by", FILM, PERSON, "the director of {}", False),
     ("film.director.film", PERSON, FILM, "the films directed by {}", True)),
    (("film.film.starring", FILM, PERSON, "the actors of {}", True),
     ("film.actor.film", PERSON, FILM, "the films starring {}", True)),
    (("film.film.production_companies", FILM, COMPANY, "the production companies of {}", True),
     ("film.production_company.films", COMPANY, FILM, "the films produced by {}", True)),
    (("film.film.country", FILM, COUNTRY, "the country of origin of {}", False),
     ("film.film_country.films", COUNTRY, FILM, "the films made in {}", True)),
    (("people.person.place_of_birth", PERSON, CITY, "the birthplace of {}", False),
     ("location.location.people_born_here", CITY, PERSON, "the people born in {}", True)),
    (("people.person.nationality", PERSON, COUNTRY, "the country of citizenship of {}", False),
     ("location.country.citizens", COUNTRY, PERSON, "the citizens of {}", True)),
    (("people.person.education", PERSON, UNIVERSITY, "the universities attended by {}", True),
     ("education.university.alumni", UNIVERSITY, PERSON, "the alumni of {}", True)),
    (("people.person.employer", PERSON, COMPANY, "the employer of {}", False),
     ("business.employer.employees", COMPANY, PERSON, "the employees of {}", True)),
    (("business.company.founders", COMPANY, PERSON, "the founders of {}", True),
     ("organization.organization_founder.organizations_founded", PERSON, COMPANY, "the companies founded by {}",
      True)),
    (("business.company.headquarters", COMPANY, CITY, "the headquarters city of {}", False),
     ("location.citytown.companies_headquartered_here", CITY, COMPANY, "the companies headquartered in {}", True)),
    (("education.university.city", UNIVERSITY, CITY, "the home city of {}", False),
     ("location.citytown.universities", CITY, UNIVERSITY, "the universities in {}", True)),
    (("location.location.containedby", CITY, COUNTRY, "the country of {}", False),
     ("location.location.contains", COUNTRY, CITY, "the cities in {}", True)),
)  # fmt: skip
RELATIONS: dict[str, Relation] = {}
for _forward, _backward in _PAIRS:
    RELATIONS[_forward[0]] = Relation(*_forward, inverse=_backward[0])
    RELATIONS[_backward[0]] = Relation(*_backward, inverse=_forward[0])

ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("people.person.height_meters", PERSON, "height", "greatest", "smallest", 1.5, 2.05, 2),
        Attribute("people.person.birth_year", PERSON, "year of birth", "latest", "earliest", 1930, 2002),
        Attribute("film.film.release_year", FILM, "release year", "latest", "earliest", 1950, 2024),
        Attribute("film.film.runtime_minutes", FILM, "running time", "longest", "shortest", 78, 195),
        Attribute("business.company.founded_year", COMPANY, "founding year", "latest", "earliest", 1890, 2020),
        Attribute("business.company.num_employees", COMPANY, "number of employees", "largest", "smallest", 20, 90000),
        Attribute("location.statistical_region.population", CITY, "population", "largest", "smallest", 8000, 9e6),
        Attribute("location.location.area_km2", CITY, "area", "largest", "smallest", 20, 2500),
        Attribute("location.country.population", COUNTRY, "population", "largest", "smallest", 3e5, 2e8),
        Attribute("location.country.area_km2", COUNTRY, "area", "largest", "smallest", 2000, 3e6),
        Attribute("education.university.founded_year", UNIVERSITY, "founding year", "latest", "earliest", 1400, 2010),
        Attribute("education.university.num_students", UNIVERSITY, "number of students", "largest", "smallest",
                  800, 60000),
    )
}  # fmt: skip
