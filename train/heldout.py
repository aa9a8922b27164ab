"""The held-out slice of the general corpora: records the mix never samples, for eval's general-ability loss.

    kept, heldout = split_heldout(general, heldout_count(64, len(general)), seed=0)
    write_heldout(mix_dir / HELDOUT_FILE, heldout)
    records = read_heldout(mix_dir / HELDOUT_FILE)  # eval.general.heldout_metrics(model, records)

The mix stage takes the slice out after decontamination and before mixing, so the tuned model never trains on
it; eval measures the tuned and the base model's loss on it. The slice is chosen by the seed alone (no content),
so the same config and seed give the same slice.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rollouts.filters import conversation_digest
from rollouts.records import write_json_atomic
from train.errors import TrainError

HELDOUT_FILE = "heldout_general.json"  # in the mix folder, beside the mixed rows
MIN_GENERAL_RECORDS = 8  # fewer general records than this: nothing is held out (the mix needs them all)
MAX_HELDOUT_SHARE = 0.25  # never hold out more than this share of the general records


def heldout_count(requested: int, available: int) -> int:
    """How many of ``available`` general records to hold out when ``requested``: at most a quarter of them,
    and none when there are fewer than ``MIN_GENERAL_RECORDS`` (a tiny corpus is better spent on training)."""
    if requested <= 0 or available < MIN_GENERAL_RECORDS:
        return 0
    return min(requested, int(available * MAX_HELDOUT_SHARE))


def split_heldout(
    records: list[dict[str, Any]], n: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(kept, heldout)``: ``n`` records chosen by ``seed`` (kept in their input order), and the rest.

    Records whose conversation equals a held-out one (same ``rollouts.filters.conversation_digest``) leave
    ``kept`` too: a duplicate in the mix would train on the held-out text under another id. The caller's list is
    not modified.
    """
    if not 0 <= n <= len(records):
        raise ValueError(f"cannot hold out {n} of {len(records)} records")
    chosen = set(random.Random(seed).sample(range(len(records)), n))
    heldout = [r for i, r in enumerate(records) if i in chosen]
    digests = {conversation_digest(r["conversations"]) for r in heldout}
    kept = [
        r for i, r in enumerate(records) if i not in chosen and conversation_digest(r["conversations"]) not in digests
    ]
    return kept, heldout


def write_heldout(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """Write the held-out records as a JSON list of canonical records (atomically)."""
    return write_json_atomic(path, [_canonical(r) for r in records])


def read_heldout(path: str | Path) -> list[dict[str, Any]]:
    """Read a file ``write_heldout`` wrote."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainError(
            f"{path}: no held-out records; re-run `agenttune mix` with eval.general.heldout_records > 0"
        ) from None
    except json.JSONDecodeError as e:
        raise TrainError(f"{path}:{e.lineno}: not JSON ({e.msg}); delete it and re-run `agenttune mix`") from e
    if not isinstance(records, list) or not all(isinstance(r, dict) and "conversations" in r for r in records):
        raise TrainError(f"{path}: expected a JSON list of records with conversations; re-run `agenttune mix`")
    return records


def _canonical(record: dict[str, Any]) -> dict[str, Any]:
    turns = [{"from": t["from"], "value": t["value"], "loss": t.get("loss")} for t in record["conversations"]]
    return {"id": record.get("id"), "source": record.get("source"), "conversations": turns}
