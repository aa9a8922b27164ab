from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envs.db.payload import TableDict
from envs.db.sqlite_exec import TRUNCATION_MARK, Database, sqlite_type
from envs.errors import EnvError

TABLE: TableDict = {
    "name": "People List",
    "columns": [{"name": "Name", "type": "TEXT"}, {"name": "Age", "type": "INT"}, {"name": "Score", "type": "DOUBLE"}],
    "rows": [["Ana Ruiz", 34, 3.5], ["Ben O'Neil", 28, 4.25], ["José Núñez", 41, None]],
}


@pytest.fixture
def db() -> Iterator[Database]:
    with Database(TABLE, timeout_s=0.5, max_output_chars=120) as database:
        yield database


def test_select_output_is_the_python_repr_of_the_rows(db: Database) -> None:
    result = db.execute("SELECT Name, Age FROM `People List` WHERE Age > 30 ORDER BY Age")
    assert result.ok and result.output == "[('Ana Ruiz', 34), ('José Núñez', 41)]"
    assert db.execute("SELECT Name FROM `People List` WHERE Age > 99;").output == "[]"


def test_modifying_statements_answer_an_empty_list_and_persist(db: Database) -> None:
    assert db.execute("UPDATE `People List` SET Age = 35 WHERE Name = 'Ana Ruiz'").output == "[]"
    assert db.execute("SELECT Age FROM `People List` WHERE Name = 'Ana Ruiz'").output == "[(35,)]"


def test_text_compares_like_mysql_case_and_accent_insensitive(db: Database) -> None:
    assert db.execute("SELECT Age FROM `People List` WHERE Name = 'jose nunez'").output == "[(41,)]"


def test_sql_errors_are_results_not_exceptions(db: Database) -> None:
    result = db.execute("SELECT nope FROM `People List`")
    assert not result.ok
    assert result.output == "OperationalError: no such column: nope"
    assert db.execute("SELEC 1").output.startswith("OperationalError: near")


def test_several_statements_are_refused_before_running(db: Database) -> None:
    result = db.execute("DELETE FROM `People List`; SELECT 1")
    assert result.several_statements and not result.ok
    assert db.execute("SELECT COUNT(*) FROM `People List`").output == "[(3,)]"
    assert db.execute("SELECT 1;;").output == "[(1,)]"  # trailing semicolons are one statement


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE 'other.db' AS other",
        "VACUUM INTO 'copy.db'",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = WAL",
        "SELECT load_extension('mod')",
    ],
)
def test_file_access_is_denied(db: Database, sql: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = db.execute(sql)
    assert not result.ok and "authoriz" in result.output
    assert list(tmp_path.iterdir()) == []


def test_read_only_pragmas_are_allowed(db: Database) -> None:
    assert "'Age', 'INTEGER'" in db.execute("PRAGMA table_info(`People List`)").output


def test_a_runaway_query_stops_at_the_time_limit(db: Database) -> None:
    started = time.monotonic()
    runaway = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1e12) SELECT COUNT(*) FROM n"
    result = db.execute(runaway)
    assert time.monotonic() - started < 3
    assert result.timed_out and not result.ok
    assert "time limit" in result.output
    assert db.execute("SELECT 1").output == "[(1,)]"  # the database is still usable


def test_long_outputs_are_truncated_like_agentbench(db: Database) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n LIMIT 100000"
    result = db.execute(sql)
    assert result.truncated
    assert result.output == str([(i,) for i in range(1, 100_001)])[:120] + TRUNCATION_MARK


def test_table_md5_after_the_agent_drops_the_table_is_none(db: Database) -> None:
    assert db.table_md5() is not None
    db.execute("DROP TABLE `People List`")
    assert db.table_md5() is None


def test_a_table_sqlite_cannot_build_is_an_env_error() -> None:
    broken: TableDict = {
        "name": "t",
        "columns": [{"name": "a", "type": "TEXT"}, {"name": "a", "type": "TEXT"}],
        "rows": [],
    }
    with pytest.raises(EnvError, match="duplicate column name"):
        Database(broken)


@pytest.mark.parametrize(
    ("declared", "affinity"),
    [("INT", "INTEGER"), ("integer", "INTEGER"), ("YEAR", "INTEGER"), ("DOUBLE", "REAL"), ("FLOAT", "REAL"),
     ("DECIMAL(10,2)", "REAL"), ("TEXT", "TEXT"), ("DATE", "TEXT"), ("VARCHAR(20)", "TEXT"), ("TIME", "TEXT")],
)  # fmt: skip
def test_sqlite_type_maps_mysql_types(declared: str, affinity: str) -> None:
    assert sqlite_type(declared) == affinity
