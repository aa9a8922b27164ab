"""The table domains the DB task generator draws from: column templates and the word lists behind them.

Names of people, towns and titles are invented (or common) so that an agent cannot
answer from world knowledge and has to query. Some names carry an apostrophe or an
accent on purpose: quoting and Unicode are part of the job.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Isabel", "James", "Kofi", "Lena",
    "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Samuel", "Tara", "Umar", "Vera", "Wei", "Xavier",
    "Yara", "Zoe", "Liam", "Maya", "Noah", "Olivia", "Pablo", "Sofia", "Tomás", "Ingrid", "Kenji", "Amara",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Chen", "Novak", "Okafor", "Rossi", "Patel", "Kim", "Müller", "Silva", "Johansson",
    "Dubois", "Nakamura", "O'Brien", "Kowalski", "Haddad", "Fischer", "Moreau", "Ivanova", "Santos",
    "Lindqvist", "Mensah", "Costa", "Yilmaz", "Brown", "Nguyen", "Schmidt", "Ferreira", "Tanaka", "Walsh",
)  # fmt: skip
TOWNS = (
    "Ashford", "Brightwater", "Cedar Falls", "Dunmore", "Eastvale", "Fairhaven", "Glenrock", "Highmoor",
    "Ironbridge", "Juniper Bay", "Kingsport", "Lakeside", "Millbrook", "Northwick", "Oakridge", "Pinecrest",
    "Queensbury", "Riverton", "Stonehaven", "Thornbury", "Upton", "Valemont", "Westbrook", "Yarrow",
    "Zephyr Point", "Port Elena", "San Lucar", "Villa Nova", "Bergheim", "Älvby", "São Marcos", "Lough Carra",
)  # fmt: skip
MASCOTS = ("Hawks", "Tigers", "Rovers", "Comets", "Wolves", "Titans", "Falcons", "Bears", "Sharks", "Pirates")
TITLE_ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Last", "Broken", "Golden", "Midnight", "Frozen", "Electric", "Wandering",
    "Secret", "Distant",
)  # fmt: skip
TITLE_NOUNS = (
    "River", "Garden", "Empire", "Letter", "Horizon", "Voyage", "Mirror", "Promise", "Kingdom", "Signal",
    "Orchard", "Harbor", "Lantern", "Winter",
)  # fmt: skip
PRODUCT_ADJECTIVES = (
    "Smart", "Compact", "Classic", "Ultra", "Eco", "Deluxe", "Portable", "Wireless", "Vintage", "Pro",
)  # fmt: skip
PRODUCT_NOUNS = (
    "Blender", "Lamp", "Backpack", "Kettle", "Speaker", "Chair", "Notebook", "Headphones", "Toaster",
    "Umbrella", "Watch", "Jacket", "Camera", "Desk", "Mug",
)  # fmt: skip
AUTHORS = (
    "Mira Halvorsen", "Tobias Grant", "Leila Nasser", "Owen Whitlock", "Keiko Arai", "Rafael Ortega",
    "Hannah Ward", "Dmitri Volkov", "Aoife Byrne", "Julien Marchand",
)  # fmt: skip


@dataclass(frozen=True)
class Attribute:
    """A column template: a categorical TEXT column or a numeric measure.

    ``names`` spells the column two ways (snake_case, Title Case); a table picks one
    style. ``phrase`` says how to narrow entities to a category value ("in the {v}
    department"); ``noun`` how questions name a measure ("years of service").
    """

    names: tuple[str, str]
    type: str  # TEXT, INTEGER or REAL
    values: tuple[str, ...] = ()
    low: float = 0
    high: float = 0
    decimals: int = 0
    phrase: str = ""
    noun: str = ""
    additive: bool = True  # False where a total means nothing (years, ratings, ages)

    @property
    def is_measure(self) -> bool:
        return self.type != "TEXT"

    def spoken(self) -> str:
        """How a question names this column."""
        return self.noun or self.names[1].lower()

    def draw(self, rng: random.Random) -> str | int | float:
        if self.type == "TEXT":
            return rng.choice(self.values)
        if self.type == "INTEGER":
            return rng.randint(int(self.low), int(self.high))
        return round(rng.uniform(self.low, self.high), self.decimals)


@dataclass(frozen=True)
class Domain:
    """A kind of table: what one row is, how its unique key is made, and its other columns."""

    table_names: tuple[str, ...]
    entity: str  # singular noun for one row, e.g. "employee"
    entities: str  # plural
    key_names: tuple[str, str]
    key_noun: str  # how questions name the key column, e.g. "name"
    make_key: Callable[[random.Random], str]
    attributes: tuple[Attribute, ...]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _title(rng: random.Random) -> str:
    adjective, noun = rng.choice(TITLE_ADJECTIVES), rng.choice(TITLE_NOUNS)
    return rng.choice((f"The {adjective} {noun}", f"{adjective} {noun}", f"{noun} of {rng.choice(TOWNS)}"))


def _text(names: tuple[str, str], values: tuple[str, ...], phrase: str) -> Attribute:
    return Attribute(names, "TEXT", values=values, phrase=phrase)


def _int(names: tuple[str, str], low: int, high: int, noun: str = "", additive: bool = True) -> Attribute:
    return Attribute(names, "INTEGER", low=low, high=high, noun=noun, additive=additive)


def _real(
    names: tuple[str, str], low: float, high: float, decimals: int, noun: str = "", additive: bool = True
) -> Attribute:
    return Attribute(names, "REAL", low=low, high=high, decimals=decimals, noun=noun, additive=additive)


DOMAINS: tuple[Domain, ...] = (
    Domain(
        ("employees", "Employee Records", "staff", "company_staff"),
        "employee", "employees", ("name", "Name"), "name", _person,
        (
            _text(("department", "Department"), ("Sales", "Engineering", "Finance", "Marketing", "Support", "Legal"),
                  "in the {v} department"),
            _text(("city", "Office City"), TOWNS[:8], "based in {v}"),
            _int(("age", "Age"), 21, 66, additive=False),
            _int(("salary", "Salary"), 28_000, 160_000),
            _int(("years_of_service", "Years of Service"), 0, 35),
        ),
    ),
    Domain(
        ("products", "Product Catalog", "inventory", "store_items"),
        "product", "products", ("product_name", "Product Name"), "name",
        lambda rng: f"{rng.choice(PRODUCT_ADJECTIVES)} {rng.choice(PRODUCT_NOUNS)}",
        (
            _text(("category", "Category"), ("Kitchen", "Electronics", "Furniture", "Outdoor", "Office", "Apparel"),
                  "in the {v} category"),
            _text(("brand", "Brand"), ("Acme", "Nordel", "Zenith", "Orion", "Bluebird", "Kestrel"), "made by {v}"),
            _real(("price", "Price"), 2, 500, 2),
            _int(("stock", "Units in Stock"), 0, 400, noun="stock"),
            _real(("rating", "Customer Rating"), 1, 5, 1, noun="rating", additive=False),
        ),
    ),
    Domain(
        ("cities", "City Statistics", "towns"),
        "city", "cities", ("city", "City"), "name", lambda rng: rng.choice(TOWNS),
        (
            _text(("region", "Region"), ("North", "South", "East", "West", "Central"), "in the {v} region"),
            _text(("climate", "Climate"), ("Temperate", "Arid", "Tropical", "Continental", "Oceanic"),
                  "with a {v} climate"),
            _int(("population", "Population"), 8_000, 2_500_000),
            _real(("area_km2", "Area (km2)"), 10, 900, 1, noun="area"),
            _int(("founded", "Year Founded"), 1150, 1990, noun="founding year", additive=False),
        ),
    ),
    Domain(
        ("teams", "League Standings", "sports_teams"),
        "team", "teams", ("team", "Team"), "name", lambda rng: f"{rng.choice(TOWNS)} {rng.choice(MASCOTS)}",
        (
            _text(("league", "League"), ("Premier", "Championship", "Division One"), "in the {v} league"),
            _text(("conference", "Conference"), ("North", "South", "East", "West"), "in the {v} conference"),
            _int(("wins", "Wins"), 0, 30),
            _int(("losses", "Losses"), 0, 30),
            _int(("goals_scored", "Goals Scored"), 10, 95),
            _int(("attendance", "Average Attendance"), 2_000, 60_000, noun="average attendance"),
        ),
    ),
    Domain(
        ("movies", "Film Catalogue", "films"),
        "movie", "movies", ("title", "Title"), "title", _title,
        (
            _text(("genre", "Genre"), ("Drama", "Comedy", "Thriller", "Sci-Fi", "Animation", "Documentary"),
                  "in the {v} genre"),
            _text(("director", "Director"), AUTHORS[:6], "directed by {v}"),
            _int(("release_year", "Release Year"), 1970, 2023, additive=False),
            _real(("rating", "Rating"), 1, 10, 1, additive=False),
            _int(("runtime_min", "Runtime (min)"), 78, 190, noun="runtime in minutes"),
            _real(("box_office_musd", "Box Office (million USD)"), 0.5, 900, 1, noun="box office in million USD"),
        ),
    ),
    Domain(
        ("students", "Student Records", "enrollment"),
        "student", "students", ("student", "Student"), "name", _person,
        (
            _text(("major", "Major"), ("Biology", "History", "Mathematics", "Computer Science", "Economics"),
                  "majoring in {v}"),
            _text(("class_year", "Class Year"), ("Freshman", "Sophomore", "Junior", "Senior"), "in the {v} class"),
            _real(("gpa", "GPA"), 2, 4, 2, noun="GPA", additive=False),
            _int(("credits", "Credits"), 0, 140),
            _int(("age", "Age"), 17, 31, additive=False),
        ),
    ),
    Domain(
        ("books", "Bookstore Inventory", "library_books"),
        "book", "books", ("title", "Book Title"), "title", _title,
        (
            _text(("genre", "Genre"), ("Fantasy", "Mystery", "Biography", "History", "Science", "Poetry"),
                  "in the {v} genre"),
            _text(("author", "Author"), AUTHORS, "written by {v}"),
            _int(("pages", "Pages"), 90, 900, noun="page count"),
            _int(("published", "Year Published"), 1900, 2023, noun="publication year", additive=False),
            _real(("price", "Price"), 5, 60, 2),
            _int(("copies_sold", "Copies Sold"), 100, 250_000),
        ),
    ),
)  # fmt: skip
