"""One episode's database: an in-memory SQLite copy of a task's table, guarded for untrusted SQL.

What it isolates: the database lives in memory and is the only one the connection can
see. ATTACH, DETACH and VACUUM INTO (anything that opens a file) are denied, extension
loading is off, and only read-only introspection pragmas are allowed. Each statement
runs under a wall-clock deadline (a progress handler aborts it), values are capped in
length and the database in pages, so a runaway query costs seconds and bounded memory.
What it does not isolate: it runs in the calling process, and CPU and memory within
those caps are shared with it.

Text columns compare like MySQL's default collation (case- and accent-insensitive), so
``WHERE name = 'alice'`` finds 'Alice' as it would in AgentBench's MySQL.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from envs.db import grading
from envs.db.payload import TableDict
from envs.errors import EnvError

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_OUTPUT_CHARS = 800  # AgentBench cuts database responses at 800 characters
TRUNCATION_MARK = "[TRUNCATED]"  # AgentBench's marker, which AgentInstruct's trajectories contain
COLLATION = "mysql_ci"

_PROGRESS_EVERY_N_OPS = 1_000
_MAX_VALUE_BYTES = 10_000_000
_MAX_PAGES = 25_000  # x 4 KiB pages: about 100 MB per database
_READ_ONLY_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


@dataclass(frozen=True)
class ExecResult:
    """What one statement did. ``output`` is what the agent sees."""

    output: str
    ok: bool
    error: str | None = None
    timed_out: bool = False
    truncated: bool = False
    several_statements: bool = False


def sqlite_type(declared: str) -> str:
    """The SQLite column type for a declared (MySQL-style) type: INTEGER, REAL or TEXT."""
    upper = declared.strip().upper()
    if any(word in upper for word in ("INT", "YEAR", "BOOL")):
        return "INTEGER"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB", "DEC", "NUMERIC")):
        return "REAL"
    return "TEXT"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Database:
    """A fresh in-memory database holding one table. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        table: TableDict,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        self.table_name = table["name"]
        self.column_names = [column["name"] for column in table["columns"]]
        self.timeout_s = timeout_s
        self.max_output_chars = max_output_chars
        self._deadline = 0.0
        self._timed_out = False
        self._connection: sqlite3.Connection | None = None
        try:
            self._connection = self._build(table)
        except (sqlite3.Error, OverflowError, ValueError) as error:
            self.close()
            raise EnvError(
                f"could not build the SQLite table {self.table_name!r}: {type(error).__name__}: {error}. "
                "Check the task's table (column names, types and rows)."
            ) from error

    def execute(self, sql: str) -> ExecResult:
        """Run one untrusted statement; every failure becomes an ``ExecResult``, never an exception."""
        try:
            cursor = self._run(sql)
            output, truncated = self._render(cursor)
        except sqlite3.ProgrammingError as error:
            if "one statement" in str(error):
                return ExecResult(
                    output="Error: only one SQL statement can run per action; send the others in later turns.",
                    ok=False,
                    error=str(error),
                    several_statements=True,
                )
            return self._failure(error)
        except (sqlite3.Error, OverflowError, ValueError) as error:
            return self._failure(error)
        return ExecResult(output=output, ok=True, truncated=truncated)

    def fetch_all(self, sql: str) -> list[tuple[Any, ...]]:
        """Run trusted SQL (the generator's gold statements) and return every row; errors propagate."""
        return self._run(sql).fetchall()

    def table_rows(self) -> list[tuple[Any, ...]] | None:
        """The table's rows in declared column order, or None when the agent dropped or reshaped the table."""
        columns = ", ".join(quote_identifier(name) for name in self.column_names)
        try:
            return self._run(f"SELECT {columns} FROM {quote_identifier(self.table_name)}").fetchall()
        except sqlite3.Error:
            return None

    def table_md5(self) -> str | None:
        """AgentBench's hash of the table as it is now (None when empty or unreadable)."""
        rows = self.table_rows()
        return grading.table_md5(rows) if rows is not None else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _build(self, table: TableDict) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so every statement the agent runs takes effect at once, as in MySQL.
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            connection.create_collation(COLLATION, _mysql_compare)
            connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_VALUE_BYTES)
            connection.execute(f"PRAGMA max_page_count = {_MAX_PAGES}")
            columns = ", ".join(_column_sql(column["name"], column["type"]) for column in table["columns"])
            name = quote_identifier(self.table_name)
            connection.execute(f"CREATE TABLE {name} ({columns})")
            placeholders = ", ".join("?" * len(table["columns"]))
            connection.executemany(f"INSERT INTO {name} VALUES ({placeholders})", table["rows"])
        except BaseException:
            connection.close()
            raise
        # Guards go on last: building the table needs the pragma and writes they forbid.
        connection.set_authorizer(_authorize)
        connection.set_progress_handler(self._past_deadline, _PROGRESS_EVERY_N_OPS)
        return connection

    def _run(self, sql: str) -> sqlite3.Cursor:
        if self._connection is None:
            raise EnvError(f"the database for table {self.table_name!r} is closed; reset the environment")
        self._deadline = time.monotonic() + self.timeout_s
        self._timed_out = False
        return self._connection.execute(_strip_trailing_semicolons(sql))

    def _render(self, cursor: sqlite3.Cursor) -> tuple[str, bool]:
        """The rows as Python's ``str(list_of_tuples)`` (like AgentBench's raw MySQL response), cut at the limit.

        Rows are fetched only until the text is long enough, so a huge result costs no more than a short one.
        """
        if cursor.description is None:
            return "[]", False
        parts: list[str] = []
        length = 1  # the opening "["
        for row in cursor:
            parts.append(repr(row))
            length += len(parts[-1]) + (2 if len(parts) > 1 else 0)  # ", " between rows
            if length > self.max_output_chars:
                break
        text = "[" + ", ".join(parts) + "]"
        if len(text) > self.max_output_chars:
            return text[: self.max_output_chars] + TRUNCATION_MARK, True
        return text, False

    def _failure(self, error: Exception) -> ExecResult:
        if self._timed_out:
            message = (
                f"Error: the statement was stopped after the {self.timeout_s:g} s time limit. "
                "Write a cheaper query (add a WHERE clause or a LIMIT)."
            )
            return ExecResult(output=message, ok=False, error=str(error), timed_out=True)
        return ExecResult(output=f"{type(error).__name__}: {error}", ok=False, error=str(error))

    def _past_deadline(self) -> int:
        if time.monotonic() > self._deadline:
            self._timed_out = True
            return 1  # non-zero aborts the running statement with "interrupted"
        return 0


def _column_sql(name: str, declared: str) -> str:
    affinity = sqlite_type(declared)
    collate = f" COLLATE {COLLATION}" if affinity == "TEXT" else ""
    return f"{quote_identifier(name)} {affinity}{collate}"


def _strip_trailing_semicolons(sql: str) -> str:
    # "SELECT 1;;" is one statement to a person; sqlite3 would count the empty one after it.
    return sql.strip().rstrip("; \t\r\n")


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):  # VACUUM INTO also asks for ATTACH
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in _READ_ONLY_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _mysql_compare(left: str, right: str) -> int:
    left_key, right_key = _fold(left), _fold(right)
    return (left_key > right_key) - (left_key < right_key)


@lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    """Case- and accent-free form of ``text``, like MySQL's utf8mb4_0900_ai_ci (which does not pad spaces)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
