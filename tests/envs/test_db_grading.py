from __future__ import annotations

import hashlib

import pytest

from envs.db.grading import GROUP_CONCAT_MAX_LEN, answers_match, mysql_text, parse_answer_list, table_md5


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ('["March 19, 1998"]', ["March 19, 1998"]),
        ("[3]", [3]),
        ("['a', 'b']", ["a", "b"]),
        ('["Checco D\'Angelo"]', ["Checco D'Angelo"]),
        ("42", [42]),
        ("[1, 2] (from the query)", [1, 2]),
        ("Paris", ["Paris"]),
        ('["x"]\nsome trailing words', ["x"]),
        ("", [""]),
    ],
)
def test_parse_answer_list(text: str, values: list) -> None:
    assert parse_answer_list(text) == values


@pytest.mark.parametrize(
    ("answer", "label", "expected"),
    [
        (["3"], ["3.0"], True),  # one value each: float equality
        ([3], ["3"], True),
        ([2011], ["2011.0"], True),
        (["0.1"], ["0.10"], True),
        (["3"], ["3.5"], False),
        (["1,000"], ["1000"], False),  # not a float to Python, so compared as strings, as in AgentBench
        (["12%"], ["12"], False),
        (["none"], ["none"], True),
        (["None"], ["none"], False),  # strings compare exactly
        (["b", "a"], ["a", "b"], True),  # several values: set equality
        (["a", "a", "b"], ["a", "b"], True),
        (["a"], ["a", "b"], False),
        (["a", "c"], ["a", "b"], False),
        ([1, 2], ["1", "2"], True),
    ],
)
def test_answers_match(answer: list, label: list[str], expected: bool) -> None:
    assert answers_match(answer, label) is expected


def test_mysql_text_renders_like_mysql() -> None:
    assert [mysql_text(v) for v in (None, "a", 5, 3.5, 3.0, 0.1)] == [None, "a", "5", "3.5", "3", "0.1"]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_table_md5_follows_the_mysql_query() -> None:
    rows = [("b", 2), ("a", None)]  # CONCAT_WS skips the NULL
    row_hashes = sorted([_md5("b,2")[:5], _md5("a")[:5]])
    assert table_md5(rows) == _md5(",".join(row_hashes))
    assert table_md5(list(reversed(rows))) == table_md5(rows)  # GROUP_CONCAT is ordered by rowhash
    assert table_md5([]) is None  # MD5(NULL) for an empty table


def test_table_md5_truncates_like_group_concat_max_len() -> None:
    rows = [(str(i),) for i in range(300)]  # 300 * 6 - 1 bytes > 1024
    joined = ",".join(sorted(_md5(str(i))[:5] for i in range(300)))
    assert table_md5(rows) == _md5(joined[:GROUP_CONCAT_MAX_LEN])
    assert table_md5(rows) != _md5(joined)
