"""Seeded generator of OS tasks, each with an example solution that the oracle runs.

Task ``i`` of "train" is seed ``i``, of "test" seed ``10_000_000 + i`` (disjoint). Only ``random.Random(seed)``
is used. Tasks are graded the AgentBench way: a question is checked against what the example solution
prints when re-run at grading time (``[null, integer-match]``), a chore by a check script on the machine.

    python -c "from envs.os.generator import generate_tasks; print(generate_tasks('train', 1)[0])"
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Callable
from functools import partial
from typing import Any

from envs.base import Split, Task
from envs.os.tasks import ENV_ID
from envs.splits import split_seed, task_range

WORDS = "alpha bravo cedar delta ember falcon garnet harbor indigo juniper kelp lotus maple nectar onyx".split()
EXTS = ["log", "txt", "csv", "json", "conf", "py", "md"]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]


def generate_task(split: Split, index: int) -> Task:
    seed = split_seed("OS", split, index)
    rng = random.Random(seed)
    name = rng.choice(sorted(BUILDERS))
    payload = BUILDERS[name](rng)
    payload |= {"labels": [name], "missing_scripts": [], "start": payload.get("start")}
    return Task(f"os-{split}-{index:06d}", ENV_ID, split, seed, payload)


generate_tasks = partial(task_range, generate_task)  # (split, n, start=0) -> tasks start .. start + n - 1


def _question(description: str, init: str, example: str, checker: str, thought: str, **extra: Any) -> dict:
    return {
        "description": description,
        "init": [{"language": "bash", "code": init}],
        "match": None,
        "check": [None, {"builtin": checker}],
        "example": {"language": "bash", "code": example},
        "oracle_thought": thought,
        **extra,
    }


def _chore(description: str, init: str, example: str, check: str, thought: str) -> dict:
    return {
        "description": description,
        "init": [{"language": "bash", "code": init}],
        "match": None,
        "check": [{"language": "bash", "code": check}],
        "example": {"language": "bash", "code": example},
        "oracle_thought": thought,
    }


def _dir(rng: random.Random) -> str:
    return rng.choice(["/root", "/home", "/var", "/opt", "/srv"]) + "/" + rng.choice(WORDS) + str(rng.randint(1, 99))


def _files(rng: random.Random, directory: str, count: int, exts: list[str]) -> list[str]:
    names = {f"{directory}/{rng.choice(WORDS)}{i}.{rng.choice(exts)}" for i in range(count)}
    return sorted(names)


def count_by_extension(rng: random.Random) -> dict:
    d, ext = _dir(rng), rng.choice(EXTS)
    files = _files(rng, d, rng.randint(6, 20), EXTS) + _files(rng, d + "/sub", rng.randint(1, 6), EXTS)
    init = f"mkdir -p {d}/sub && touch " + " ".join(files)
    return _question(
        f"How many files with the extension .{ext} are there in {d}, including its subdirectories?",
        init, f'find {d} -type f -name "*.{ext}" | wc -l', "integer-match",
        f"I need to count the .{ext} files under {d} recursively, so I will use find and wc.",
    )  # fmt: skip


def count_matching_lines(rng: random.Random) -> dict:
    d, word = _dir(rng), rng.choice(WORDS)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(10, 40))]
    text = "\\n".join(lines)
    return _question(
        f"How many lines of {d}/notes.txt contain the word '{word}'?",
        f"mkdir -p {d} && printf '{text}\\n' > {d}/notes.txt", f"grep -c -w {word} {d}/notes.txt", "integer-match",
        f"grep -c counts matching lines, so I will search {d}/notes.txt for '{word}'.",
    )  # fmt: skip


def largest_file(rng: random.Random) -> dict:
    d = _dir(rng)
    sizes = rng.sample(range(100, 50_000), rng.randint(3, 8))
    files = _files(rng, d, len(sizes), EXTS)
    init = f"mkdir -p {d} && " + " && ".join(
        f"head -c {s} /dev/zero > {f}" for f, s in zip(files, sizes, strict=False)
    )
    return _question(
        f"Which file in {d} is the largest? Answer with its name only, without the directory.",
        init, f"ls -S {d} | head -n 1", "string-match",
        f"ls -S sorts by size, so the first entry is the largest file in {d}.",
    )  # fmt: skip


def executable_file(rng: random.Random) -> dict:
    d = _dir(rng)
    files = _files(rng, d, rng.randint(4, 10), ["sh", "py", "bin"])
    chosen = rng.choice(files)
    init = f"mkdir -p {d} && touch {' '.join(files)} && chmod 644 {d}/* && chmod 755 {chosen}"
    return _question(
        f"Exactly one file in {d} is executable. What is its name (without the directory)?",
        init, f"find {d} -type f -perm -u+x -printf '%f\\n'", "string-match",
        "I will look for the file with the owner's execute bit set.",
    )  # fmt: skip


def sum_numbers(rng: random.Random) -> dict:
    d = _dir(rng)
    numbers = [rng.randint(-50, 500) for _ in range(rng.randint(5, 30))]
    return _question(
        f"The file {d}/values.txt holds one integer per line. What is their sum?",
        f"mkdir -p {d} && printf '%s\\n' {' '.join(map(str, numbers))} > {d}/values.txt",
        f"awk '{{s += $1}} END {{print s}}' {d}/values.txt", "integer-match",
        "awk can add up the numbers line by line.",
    )  # fmt: skip


def disk_usage(rng: random.Random) -> dict:
    d = _dir(rng)
    sizes = [rng.randint(1, 20_000) for _ in range(rng.randint(2, 7))]
    files = _files(rng, d, len(sizes), EXTS)
    init = f"mkdir -p {d} && " + " && ".join(
        f"head -c {s} /dev/urandom > {f}" for f, s in zip(files, sizes, strict=False)
    )
    return _question(
        f"What is the total size in bytes of the regular files directly inside {d}?",
        init, f"find {d} -maxdepth 1 -type f -printf '%s\\n' | awk '{{s += $1}} END {{print s}}'", "integer-match",
        "I will add up the sizes that find prints for each regular file.",
    )  # fmt: skip


def process_pid(rng: random.Random) -> dict:
    name = f"{rng.choice(WORDS)[:6]}-{rng.randint(10, 99)}d"
    start = f"mkdir -p /root/.bin; cp /bin/sleep /root/.bin/{name}; /root/.bin/{name} 100000 &\n"
    start += f"until pgrep -x {name} >/dev/null; do sleep 0.01; done"  # running before the agent looks
    task = _question(
        f"A process named {name} is running. What is its PID?",
        "true", f"pgrep -x {name}", "integer-match",
        f"pgrep -x finds the process named exactly {name}.",
    )  # fmt: skip
    task["init"] = []
    task["start"] = {"language": "bash", "code": start}
    return task


def most_frequent_user(rng: random.Random) -> dict:
    d = _dir(rng)
    counts = dict(zip(NAMES, rng.sample(range(1, 15), len(NAMES)), strict=True))  # distinct: no ties
    events = [name for name, c in counts.items() for _ in range(c)]
    rng.shuffle(events)
    lines = "\\n".join(
        f"{rng.choice(['login', 'logout', 'sudo'])} user={u} id={rng.randint(100, 999)}" for u in events
    )
    return _question(
        f"Which user appears most often in {d}/auth.log? Answer with the user name only.",
        f"mkdir -p {d} && printf '{lines}\\n' > {d}/auth.log",
        f"grep -o 'user=[a-z]*' {d}/auth.log | cut -d= -f2 | sort | uniq -c | sort -rn | awk 'NR == 1 {{print $2}}'",
        "string-match", "I will count the user= fields and take the most frequent one.",
    )  # fmt: skip


def replace_text(rng: random.Random) -> dict:
    d, old, new = _dir(rng), *rng.sample(WORDS, 2)
    lines = "\\n".join(" ".join(rng.choice([old, *WORDS]) for _ in range(5)) for _ in range(rng.randint(3, 12)))
    f = f"{d}/config.{rng.choice(EXTS)}"
    return _chore(
        f"In {f}, replace every occurrence of the word '{old}' with '{new}'.",
        f"mkdir -p {d} && printf '{lines}\\n{old}\\n' > {f}", f"sed -i 's/{old}/{new}/g' {f}",
        f"grep -q {new} {f} && ! grep -q {old} {f}", "sed -i can replace the word in place.",
    )  # fmt: skip


def make_private(rng: random.Random) -> dict:
    d = _dir(rng)
    f = f"{d}/{rng.choice(WORDS)}.key"
    return _chore(
        f"Make {f} readable and writable by its owner only (nobody else may read it).",
        f"mkdir -p {d} && echo secret > {f} && chmod 666 {f}", f"chmod 600 {f}",
        f'[ "$(stat -c %a {f})" = 600 ]', "chmod 600 leaves read and write for the owner only.",
    )  # fmt: skip


def create_file(rng: random.Random) -> dict:
    d = _dir(rng)
    f, text = f"{d}/{rng.choice(WORDS)}/{rng.choice(WORDS)}.txt", " ".join(rng.sample(WORDS, 3))
    return _chore(
        f"Create the file {f} (and any missing directories) containing exactly one line: {text}",
        "true", f"mkdir -p {shlex.quote(f.rsplit('/', 1)[0])} && echo {shlex.quote(text)} > {f}",
        f'[ "$(cat {f})" = {shlex.quote(text)} ]', "I will create the directories and write the line with echo.",
    )  # fmt: skip


BUILDERS: dict[str, Callable[[random.Random], dict]] = {
    f.__name__: f
    for f in (
        count_by_extension,
        count_matching_lines,
        largest_file,
        executable_file,
        sum_numbers,
        disk_usage,
        process_pid,
        most_frequent_user,
        replace_text,
        make_private,
        create_file,
    )  # fmt: skip
}
