"""The generated general corpus: deterministic, ShareGPT-shaped, and its answers are right."""

from __future__ import annotations

import operator
import re

from train.corpus import CONVERSIONS, DAYS, generate_general_records, write_general_corpus
from train.formats import read_records


def test_write_is_deterministic_and_loads_as_sharegpt(tmp_path):
    a = write_general_corpus(tmp_path / "a" / "general.json", 300, seed=1)
    b = write_general_corpus(tmp_path / "b.json", 300, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != write_general_corpus(tmp_path / "c.json", 300, seed=2).read_bytes()
    records, skipped = read_records(a)
    assert len(records) == 300 and skipped == {}
    assert len({r["id"] for r in records}) == 300
    assert any(len(r["conversations"]) > 2 for r in records)  # some multi-turn
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["general.json"]  # no temp file left


def test_answers_are_correct():
    checked = 0
    for record in generate_general_records(500, seed=0):
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        q, a = turns[0]["value"], turns[1]["value"]
        if m := re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", q):
            op = {"+": operator.add, "-": operator.sub, "*": operator.mul}[m[2]]
            assert a == f"{m[1]} {m[2]} {m[3]} = {op(int(m[1]), int(m[3]))}."
        elif m := re.fullmatch(r"Reverse the word '(\w+)'\.", q):
            assert a == m[1][::-1]
        elif m := re.fullmatch(r"Write '(\w+)' in uppercase\.", q):
            assert a == m[1].upper()
        elif m := re.fullmatch(r"How many times does the letter '(\w)' appear in '(\w+)'\?", q):
            assert a == str(m[2].count(m[1]))
        elif m := re.fullmatch(r"Sort these numbers in (\w+) order: (.*)", q):
            numbers = sorted(map(int, m[2].split(", ")), reverse=m[1] == "descending")
            assert a == ", ".join(map(str, numbers))
        elif m := re.fullmatch(r"How many (\w+) are in (\d+) (\w+)\?", q):
            assert a.startswith(f"{m[2]} {m[3]} is ")
        else:
            continue
        checked += 1
    assert checked > 200


def test_facts_and_conversions_are_right():
    answers = {t["value"] for r in generate_general_records(3000, seed=3) for t in r["conversations"]}
    questions = [q for r in generate_general_records(3000, seed=3) for q in [r["conversations"][0]["value"]]]
    assert "The capital of France is Paris." in answers
    assert "Mars is the fourth planet." in answers
    for q in questions:
        if m := re.fullmatch(r"How many (\w+) are in (\d+) (\w+)\?", q):
            factor = {src: f for src, _, f in CONVERSIONS}[m[3]]
            assert f"{m[2]} {m[3]} is {int(m[2]) * factor} {m[1]}." in answers
        elif m := re.fullmatch(r"If today is (\w+), what day will it be in (\d+) days\?", q):
            assert f"It will be {DAYS[(DAYS.index(m[1]) + int(m[2])) % 7]}." in answers
