"""Seeded generator of DB tasks: a random table and one question about it, with the gold SQL.

Splits use disjoint generator seeds: task ``i`` of "train" is seed ``i`` and task ``i``
of "test" is seed ``10_000_000 + i``, for ``0 <= i < 10_000_000``. The same seed always
gives the same task (only ``random.Random(seed)`` is used, never global state).

Labels are computed by running the gold SQL on a fresh database, so they are right by
construction; questions whose answer would be ambiguous (ties in a ranking or a
comparison, empty results) are redrawn. Modifying tasks store the AgentBench table
hash after the gold statement.

    python -c "from envs.db.generator import generate_tasks; print(generate_tasks('train', 1)[0])"
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.db import domains
from envs.db.domains import Attribute, Domain
from envs.db.payload import ENV_ID, DBPayload, Kind, TableDict, table_description
from envs.db.sqlite_exec import Database
from envs.errors import EnvsError
from envs.splits import split_seed, task_range

CATEGORIES = (
    "filtering", "counting", "aggregation-SUM", "aggregation-AVG", "aggregation-MAX", "aggregation-MIN",
    "ranking", "comparison", "INSERT", "UPDATE", "DELETE",
)  # fmt: skip
MIN_ROWS, MAX_ROWS = 5, 30
MAX_LIST_ANSWERS = 8  # longer answer lists make poor questions
_ATTEMPTS = 200
_KINDS: dict[str, Kind] = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}


@dataclass
class GenTable:
    """A generated table: the domain it came from, its spelling in this task, and its rows."""

    domain: Domain
    name: str
    key: str  # the key column's name in this table
    columns: dict[str, Attribute]  # column name -> template, key column excluded
    rows: list[dict[str, Any]]

    def measures(self) -> list[str]:
        return [name for name, attribute in self.columns.items() if attribute.is_measure]

    def categories(self) -> list[str]:
        return [name for name, attribute in self.columns.items() if not attribute.is_measure]

    def to_dict(self) -> TableDict:
        names = [self.key, *self.columns]
        types = ["TEXT", *(attribute.type for attribute in self.columns.values())]
        return {
            "name": self.name,
            "columns": [{"name": name, "type": kind} for name, kind in zip(names, types, strict=True)],
            "rows": [[row[name] for name in names] for row in self.rows],
        }


@dataclass(frozen=True)
class Draft:
    """A question and its gold SQL, before the label is computed."""

    question: str
    sql: str
    category: str


Builder = Callable[[random.Random, GenTable], Draft | None]


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("DB", split, index)
    rng = random.Random(seed)
    category = rng.choice(CATEGORIES)
    for _ in range(_ATTEMPTS):
        table = _make_table(rng)
        draft = _BUILDERS[category](rng, table)
        payload = _finish(draft, table) if draft is not None else None
        if payload is not None:
            return Task(f"db-{split}-{index:06d}", ENV_ID, split, seed, dict(payload))
    raise EnvsError(f"could not generate a {category} task from seed {seed}; this is a generator bug")


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


# ---------------------------------------------------------------------------------------------- tables


def _make_table(rng: random.Random) -> GenTable:
    domain = rng.choice(domains.DOMAINS)
    style = rng.randrange(2)  # 0: snake_case columns, 1: Title Case with spaces
    columns = {attribute.names[style]: attribute for attribute in domain.attributes}
    keys = _unique_keys(rng, domain, rng.randint(MIN_ROWS, MAX_ROWS))
    rows = [{domain.key_names[style]: key, **{name: a.draw(rng) for name, a in columns.items()}} for key in keys]
    return GenTable(domain, rng.choice(domain.table_names), domain.key_names[style], columns, rows)


def _unique_keys(rng: random.Random, domain: Domain, count: int) -> list[str]:
    keys: dict[str, None] = {}  # a dict keeps insertion order, so the row order is seeded too
    for _ in range(count * 20):
        keys.setdefault(domain.make_key(rng))
        if len(keys) == count:
            break
    return list(keys)


# ---------------------------------------------------------------------------------------------- SQL text


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def spoken(value: Any) -> str:
    """A value as a question quotes it: text in single quotes, numbers bare."""
    return f"'{value}'" if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Condition:
    phrase: str  # e.g. " in the Sales department" (leading space) or ""
    sql: str  # e.g. " WHERE `department` = 'Sales'" or ""


def _condition(rng: random.Random, table: GenTable, *, optional: bool) -> Condition:
    """A filter on a category value or a measure threshold, drawn from values present in the table."""
    choice = rng.randrange(3 if optional else 2)
    if choice == 0:
        column = rng.choice(table.categories())
        value = rng.choice(sorted({row[column] for row in table.rows}))
        phrase = table.columns[column].phrase.format(v=value)
        return Condition(f" {phrase}", f" WHERE {ident(column)} = {literal(value)}")
    if choice == 1:
        column = rng.choice(table.measures())
        threshold = rng.choice([row[column] for row in table.rows])
        words, operator = rng.choice(((("above", "greater than"), ">"), (("below", "less than"), "<")))
        phrase = f"with {table.columns[column].spoken()} {rng.choice(words)} {threshold}"
        return Condition(f" {phrase}", f" WHERE {ident(column)} {operator} {literal(threshold)}")
    return Condition("", "")


def _select(table: GenTable, expression: str, condition: Condition, tail: str = "") -> str:
    return f"SELECT {expression} FROM {ident(table.name)}{condition.sql}{tail}"


# ---------------------------------------------------------------------------------------------- questions


def _filtering(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    if rng.random() < 0.5:  # one value of one row
        row = rng.choice(table.rows)
        column = rng.choice(list(table.columns))
        noun, key = table.columns[column].spoken(), row[table.key]
        question = rng.choice(
            (f"What is the {noun} of {key}?", f"What {noun} is listed for the {d.entity} {key}?",
             f"Look up the {noun} of the {d.entity} called {key}.")
        )  # fmt: skip
        sql = _select(table, ident(column), Condition("", f" WHERE {ident(table.key)} = {literal(key)}"))
        return Draft(question, sql, "filtering")
    condition = _condition(rng, table, optional=False)
    question = rng.choice(
        (f"Which {d.entities}{condition.phrase} are there? Give their {d.key_noun}s.",
         f"List the {d.key_noun}s of all {d.entities}{condition.phrase}.",
         f"Name every {d.entity}{condition.phrase}.")
    )  # fmt: skip
    return Draft(question, _select(table, ident(table.key), condition), "filtering")


def _counting(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    condition = _condition(rng, table, optional=False)
    question = rng.choice(
        (f"How many {d.entities}{condition.phrase} are there?", f"Count the {d.entities}{condition.phrase}.",
         f"What is the number of {d.entities}{condition.phrase}?")
    )  # fmt: skip
    return Draft(question, _select(table, "COUNT(*)", condition), "counting")


def _aggregation(function: str) -> Builder:
    def build(rng: random.Random, table: GenTable) -> Draft | None:
        d = table.domain
        measures = table.measures()
        if function == "SUM":
            measures = [name for name in measures if table.columns[name].additive]
        column = rng.choice(measures)
        noun = table.columns[column].spoken()
        condition = _condition(rng, table, optional=True)
        group = f"{d.entities}{condition.phrase}"
        expression = f"{function}({ident(column)})"
        # Averages and sums of decimals are rounded so that the answer is a number a person would write.
        rounded = function == "AVG" or (function == "SUM" and table.columns[column].type == "REAL")
        if rounded:
            expression = f"ROUND({expression}, 2)"
        note = " Round it to two decimal places." if rounded else ""
        templates = {
            "SUM": (f"What is the total {noun} of all {group}?", f"Add up the {noun} of the {group}."),
            "AVG": (f"What is the average {noun} of the {group}?", f"On average, what is the {noun} of {group}?"),
            "MAX": (f"What is the highest {noun} among {group}?", f"What is the maximum {noun} of the {group}?"),
            "MIN": (f"What is the lowest {noun} among {group}?", f"What is the minimum {noun} of the {group}?"),
        }
        question = rng.choice(templates[function]) + note
        return Draft(question, _select(table, expression, condition), f"aggregation-{function}")

    return build


def _ranking(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    column = rng.choice(table.measures())
    noun = table.columns[column].spoken()
    condition = _condition(rng, table, optional=True) if rng.random() < 0.4 else Condition("", "")
    highest = rng.random() < 0.5
    top = rng.choice((1, 1, 1, 2, 3))
    if not _strict_top(table, column, condition, top, highest):
        return None
    word = "highest" if highest else "lowest"
    if top == 1:
        question = rng.choice(
            (f"Which {d.entity}{condition.phrase} has the {word} {noun}?",
             f"Name the {d.entity}{condition.phrase} with the {word} {noun}.")
        )  # fmt: skip
    else:
        question = rng.choice(
            (f"List the {top} {d.entities}{condition.phrase} with the {word} {noun}.",
             f"Which {top} {d.entities}{condition.phrase} have the {word} {noun}?")
        )  # fmt: skip
    order = f" ORDER BY {ident(column)} {'DESC' if highest else 'ASC'} LIMIT {top}"
    return Draft(question, _select(table, ident(table.key), condition, order), "ranking")


def _comparison(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    column = rng.choice(table.measures())
    first, second = rng.sample(table.rows, 2)
    if first[column] == second[column]:
        return None
    noun, a, b = table.columns[column].spoken(), first[table.key], second[table.key]
    higher = rng.random() < 0.5
    word = "higher" if higher else "lower"
    question = rng.choice(
        (f"Which has a {word} {noun}, {a} or {b}?", f"Between {a} and {b}, which {d.entity} has the {word} {noun}?",
         f"Does {a} or {b} have the {word} {noun}?")
    )  # fmt: skip
    where = Condition("", f" WHERE {ident(table.key)} IN ({literal(a)}, {literal(b)})")
    order = f" ORDER BY {ident(column)} {'DESC' if higher else 'ASC'} LIMIT 1"
    return Draft(question, _select(table, ident(table.key), where, order), "comparison")


def _insert(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    key = d.make_key(rng)
    if any(row[table.key] == key for row in table.rows):
        return None
    values = {table.key: key, **{name: attribute.draw(rng) for name, attribute in table.columns.items()}}
    if rng.random() < 0.5:
        details = ", ".join(f"{a.spoken()} {spoken(values[name])}" for name, a in table.columns.items())
        question = f"Add a new {d.entity} to the table: {d.key_noun} {spoken(key)}, {details}."
    else:
        details = ", ".join(f"{spoken(value)} for '{name}'" for name, value in values.items())
        question = f"Insert a record into the {table.name} table with the values {details}."
    columns = ", ".join(ident(name) for name in values)
    sql = f"INSERT INTO {ident(table.name)} ({columns}) VALUES ({', '.join(literal(v) for v in values.values())})"
    return Draft(question, sql, "INSERT")


def _update(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    column = rng.choice(list(table.columns))
    attribute = table.columns[column]
    value, noun = attribute.draw(rng), attribute.spoken()
    if rng.random() < 0.6:
        row = rng.choice(table.rows)
        if row[column] == value:
            return None
        key = row[table.key]
        new = spoken(value)
        question = rng.choice(
            (f"Change the {noun} of {key} to {new}.", f"Update the {d.entity} {key}: set its {noun} to {new}.",
             f"Set '{column}' to {new} for the row whose {d.key_noun} is {key}.")
        )  # fmt: skip
        where = f" WHERE {ident(table.key)} = {literal(key)}"
        return Draft(question, f"UPDATE {ident(table.name)} SET {ident(column)} = {literal(value)}{where}", "UPDATE")
    condition = _condition(rng, table, optional=False)
    if attribute.type == "INTEGER" and rng.random() < 0.5:
        step = rng.randint(1, 10)
        question = f"Increase the {noun} of every {d.entity}{condition.phrase} by {step}."
        assignment = f"{ident(column)} = {ident(column)} + {step}"
    else:
        question = f"Set the {noun} of every {d.entity}{condition.phrase} to {spoken(value)}."
        assignment = f"{ident(column)} = {literal(value)}"
    return Draft(question, f"UPDATE {ident(table.name)} SET {assignment}{condition.sql}", "UPDATE")


def _delete(rng: random.Random, table: GenTable) -> Draft | None:
    d = table.domain
    if rng.random() < 0.5:
        key = rng.choice(table.rows)[table.key]
        question = rng.choice((f"Delete the record of the {d.entity} {key}.", f"Remove {key} from the table."))
        where = Condition("", f" WHERE {ident(table.key)} = {literal(key)}")
    else:
        where = _condition(rng, table, optional=False)
        question = rng.choice((f"Delete all {d.entities}{where.phrase}.", f"Remove every {d.entity}{where.phrase}."))
    return Draft(question, f"DELETE FROM {ident(table.name)}{where.sql}", "DELETE")


_BUILDERS: dict[str, Builder] = {
    "filtering": _filtering,
    "counting": _counting,
    "aggregation-SUM": _aggregation("SUM"),
    "aggregation-AVG": _aggregation("AVG"),
    "aggregation-MAX": _aggregation("MAX"),
    "aggregation-MIN": _aggregation("MIN"),
    "ranking": _ranking,
    "comparison": _comparison,
    "INSERT": _insert,
    "UPDATE": _update,
    "DELETE": _delete,
}


def _strict_top(table: GenTable, column: str, condition: Condition, top: int, highest: bool) -> bool:
    """True when the ``top`` first rows by ``column`` are unambiguous (no tie across the cut)."""
    with Database(table.to_dict()) as db:
        values = [row[0] for row in db.fetch_all(_select(table, ident(column), condition))]
    values.sort(reverse=highest)
    return len(values) > top and values[top - 1] != values[top]


# ---------------------------------------------------------------------------------------------- labels


def _finish(draft: Draft, table: GenTable) -> DBPayload | None:
    """The payload with its label or table hash, or None when the draft makes a poor question."""
    table_dict = table.to_dict()
    kind = _KINDS.get(draft.category, "select")
    with Database(table_dict) as db:
        before = db.table_md5()
        rows = db.fetch_all(draft.sql)
        after = db.table_md5()
        remaining = len(db.table_rows() or [])
    label: list[str] = []
    answer_md5 = None
    if kind == "select":
        values = [row[0] for row in rows]
        if not values or None in values or len(values) > MAX_LIST_ANSWERS or len(set(values)) != len(values):
            return None
        label = [render(value) for value in values]
    else:
        # A statement that changes nothing, or deletes every row, makes a degenerate task.
        if after == before or remaining == 0:
            return None
        answer_md5 = after
    return {
        "question": draft.question,
        "description": table_description(table_dict),
        "kind": kind,
        "category": draft.category,
        "table": table_dict,
        "gold_sql": draft.sql,
        "label": label,
        "answer_md5": answer_md5,
        "source": "generated",
    }


def render(value: Any) -> str:
    """A database value as label text: the text the agent sees in the query result."""
    return value if isinstance(value, str) else repr(value)
