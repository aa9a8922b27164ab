"""Task files with bad records, built from AgentBench's own dev sets, for the bad-task tests of envs and rollouts.

They copy the faults of AgentBench's dbbench ``standard.jsonl``, which holds a table row of 3 values under 6 columns
and an empty row (AgentBench fails both tasks when it inserts them), and an OS task that names no way to grade it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.conftest import shared_file

# dbbench: where the two bad records land in the written file (record positions from 0; file lines are these + 1).
DB_BAD_AT = (10, 41)
DB_RECORDS = 62  # the 60 dev records + the 2 bad ones
# OS: the two bad records' positions in the written JSON array of 26 + 2.
OS_BAD_AT = (3, 12)
OS_RECORDS = 28


def write_bad_dbbench(folder: Path) -> Path:
    """``dbbench_bad.jsonl``: the 60 dev records with two malformed ones inserted, at lines 11 and 42."""
    dev = [json.loads(line) for line in shared_file("agentbench/dbbench_dev.jsonl").read_text().splitlines()]
    short_row = copy.deepcopy(dev[3])  # a SELECT task over 6 columns
    assert len(short_row["table"]["table_info"]["columns"]) == 6
    short_row["table"]["table_info"]["rows"][2] = short_row["table"]["table_info"]["rows"][2][:3]
    empty_row = copy.deepcopy(dev[40])  # an UPDATE task over 6 columns
    empty_row["table"]["table_info"]["rows"][5] = []
    records = [*dev[:10], short_row, *dev[10:40], empty_row, *dev[40:]]
    path = folder / "dbbench_bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


_NO_GRADING = {"description": "Count the files in /etc.", "evaluation": {}}  # neither match nor check


def write_bad_os(folder: Path) -> Path:
    """``os_bad.json``: the 26 OS dev tasks with two broken ones inserted, at records 3 and 12 (from 0)."""
    dev = json.loads(shared_file("agentbench/os_dev.json").read_text())
    no_description = {"evaluation": {"match": "1"}}
    records = [*dev[:3], _NO_GRADING, *dev[3:11], no_description, *dev[11:]]
    path = folder / "os_bad.json"
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def write_small_bad_os(folder: Path) -> Path:
    """``os_small.json``: OS dev tasks 6..9 (quick, and runnable without AgentBench's scripts) with a broken one
    inserted at record 2."""
    dev = json.loads(shared_file("agentbench/os_dev.json").read_text())
    path = folder / "os_small.json"
    path.write_text(json.dumps([*dev[6:8], _NO_GRADING, *dev[8:10]], indent=1), encoding="utf-8")
    return path
