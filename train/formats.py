"""Read agent and general corpora into one canonical conversation record.

The canonical record is the AgentInstruct / ShareGPT shape every later step (mixing, masking) consumes::

    {"id": "db_0", "source": "db",
     "conversations": [{"from": "system" | "human" | "gpt", "value": "...", "loss": True | False | None}]}

``loss`` None means "the default": trained if and only if the turn is from ``gpt``.

AgentInstruct is read the two ways it is published: the hub's ``{from, value, loss}`` turns keep their flags, and
re-publications' ``{role, content}`` turns under ``conversations`` (no flags) get them back: the acknowledgement
and one-shot example turns are recognised (``train.agentinstruct``, which documents the rule) and flagged false,
every other assistant turn true.

A corpus is a local .json / .jsonl / .parquet file, or a Hugging Face dataset named ``hf://OWNER/NAME`` (read
with ``datasets.load_dataset``; ``split``, ``revision`` and ``subset`` pick what to read, and a local folder of
data files works too: ``hf:///data/my_corpus``). ``load_corpus`` also returns what a run needs to trace its data
back: the source, a content digest and the row count.

Usage::

    records, skipped = read_records("data.jsonl", on_bad_record="skip")
    corpus = load_corpus("hf://THUDM/AgentInstruct", split="db", key="mix.agent_extra.0")
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from train.agentinstruct import flag_turns
from train.errors import DataFormatError

FORMATS = ("agentinstruct", "sharegpt", "alpaca", "openai")
SUFFIXES = (".json", ".jsonl", ".parquet")
HF_SCHEME = "hf://"
DIGEST_CHARS = 16  # hex characters of a sha256 kept as a digest (MLflow stores at most 36)

# Speaker names seen in ShareGPT-style corpora. Tool calls are the assistant speaking; tool results are what the
# environment says back, so they sit on the user side of the conversation (as in the AgentInstruct trajectories).
ROLE_ALIASES = {
    "system": "system",
    "human": "human",
    "user": "human",
    "observation": "human",
    "tool": "human",
    "function": "human",
    "ipython": "human",
    "gpt": "gpt",
    "assistant": "gpt",
    "model": "gpt",
    "chatgpt": "gpt",
    "function_call": "gpt",
}


def detect_format(record: Any) -> str:
    """Name the format of one record: agentinstruct, sharegpt, alpaca or openai."""
    if not isinstance(record, dict):
        raise DataFormatError(None, None, f"expected a JSON object, got {type(record).__name__}", reason="not_object")
    turns = record.get("conversations")
    if isinstance(turns, list):
        has_loss = any(isinstance(t, dict) and "loss" in t for t in turns)
        # role/content turns under ``conversations`` are how AgentInstruct re-publications write it (flags dropped)
        return "agentinstruct" if has_loss or _uses_roles(turns) else "sharegpt"
    if isinstance(record.get("messages"), list):
        return "openai"
    if "instruction" in record and "output" in record:
        return "alpaca"
    raise DataFormatError(
        None,
        None,
        f"cannot tell the format from keys {sorted(record)}: expected 'conversations' (ShareGPT/AgentInstruct), "
        "'messages' (OpenAI) or 'instruction' + 'output' (Alpaca)",
        reason="unknown_format",
    )


def to_canonical(record: dict[str, Any], fmt: str, source: str, index: int) -> dict[str, Any]:
    """Convert one record of format ``fmt`` into the canonical record; ``index`` names it when it has no id."""
    if fmt in ("agentinstruct", "sharegpt"):
        turns = _sharegpt_turns(record)
    elif fmt == "alpaca":
        turns = _alpaca_turns(record)
    elif fmt == "openai":
        turns = _openai_turns(record)
    else:
        raise DataFormatError(None, None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} or 'auto'")
    turns = _fold_system(record, turns)
    if fmt == "agentinstruct" and _uses_roles(record["conversations"]) and all(t["loss"] is None for t in turns):
        turns = flag_turns(turns)  # a re-publication without flags: recover the released ones
    if not turns:
        raise DataFormatError(None, None, "the conversation has no turns", reason="empty")
    if not any(t["from"] == "gpt" for t in turns):
        raise DataFormatError(None, None, "the conversation has no assistant turn to train on", reason="no_assistant")
    record_id = record.get("id")
    return {
        "id": str(record_id) if record_id not in (None, "") else f"{source}_{index}",
        "source": source,
        "conversations": turns,
    }


@dataclass(frozen=True)
class HFDataset:
    """A Hugging Face dataset to read with ``datasets.load_dataset(name, subset, split=..., revision=...)``."""

    name: str
    split: str = "train"
    revision: str | None = None
    subset: str | None = None

    @property
    def label(self) -> str:
        """How errors and lineage name it: ``hf://NAME[split]`` (+ ``@revision``)."""
        return f"{HF_SCHEME}{self.name}[{self.split}]" + (f"@{self.revision}" if self.revision else "")

    @property
    def source_name(self) -> str:
        """The records' ``source``: the dataset's last name part, plus the split unless it is 'train'."""
        stem = self.name.rstrip("/").rsplit("/", 1)[-1] or self.name
        return stem if self.split == "train" else f"{stem}_{self.split}"


@dataclass
class Corpus:
    """What ``load_corpus`` read: the canonical records and where they came from."""

    records: list[dict[str, Any]]
    skipped: dict[str, int]  # bad records skipped, by reason
    source: str  # absolute file path, or hf://NAME
    digest: str  # sha256 of the content (file bytes; for hf:// the rows), first DIGEST_CHARS hex characters
    rows: int  # records read, skipped ones included
    formats: dict[str, int] = field(default_factory=dict)  # records per detected format
    hf: HFDataset | None = None


def is_hf(path: str | Path) -> bool:
    return isinstance(path, str) and path.startswith(HF_SCHEME)


def load_corpus(
    path: str | Path,
    fmt: str = "auto",
    on_bad_record: Literal["error", "skip"] = "error",
    *,
    split: str | None = None,
    revision: str | None = None,
    subset: str | None = None,
    key: str | None = None,
) -> Corpus:
    """Read a file or an ``hf://`` dataset into canonical records, with its digest and row count.

    ``key`` is the config key that named ``path`` (e.g. ``mix.general.0``); errors about the source name it.
    With ``on_bad_record="error"`` the first bad record raises DataFormatError naming the file and line (or row).
    """
    if on_bad_record not in ("error", "skip"):
        raise ValueError(f"on_bad_record must be 'error' or 'skip', got {on_bad_record!r}")
    where = f"{key}.path" if key else "path"
    hf = None
    if is_hf(path):
        hf = HFDataset(str(path).removeprefix(HF_SCHEME), split or "train", revision, subset)
        if not hf.name.strip("/"):
            raise DataFormatError(path, None, f"{where}: name a dataset after hf://, e.g. hf://THUDM/AgentInstruct")
    elif split or revision or subset:
        raise DataFormatError(path, None, f"{where}: split, revision and subset apply only to hf:// datasets")
    label: str | Path = hf.label if hf else Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise DataFormatError(label, None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} or 'auto'")
    hasher = hashlib.sha256()  # hf:// only: files are digested from their bytes
    if hf:
        raw_rows, source, unit = _iter_hf(hf, key, hasher), hf.source_name, "row"
    else:
        local = Path(path)
        raw_rows, source = _iter_raw(local), local.stem
        unit = "line" if local.suffix == ".jsonl" else "record"
    records: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    rows = 0
    for index, (line, raw) in enumerate(raw_rows):
        rows += 1
        try:
            if isinstance(raw, DataFormatError):
                raise raw
            record_fmt = detect_format(raw) if fmt == "auto" else fmt
            records.append(to_canonical(raw, record_fmt, source, index))
            formats[record_fmt] += 1
        except DataFormatError as err:
            if on_bad_record == "error":
                raise err.at(label, line, unit) from None
            skipped[err.reason] += 1
    return Corpus(
        records=records,
        skipped=dict(skipped),
        source=str(path) if hf else str(Path(path).resolve()),
        digest=hasher.hexdigest()[:DIGEST_CHARS] if hf else content_digest(path),
        rows=rows,
        formats=dict(formats),
        hf=hf,
    )


def read_records(
    path: str | Path,
    fmt: str = "auto",
    on_bad_record: Literal["error", "skip"] = "error",
    **hf: Any,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Read a .json (list), .jsonl or .parquet file, or an ``hf://`` dataset, into canonical records.

    Returns the records and a count of skipped records by reason (empty unless ``on_bad_record="skip"``).
    With ``on_bad_record="error"`` the first bad record raises DataFormatError naming the file and line.
    ``hf`` takes ``load_corpus``'s keywords (split, revision, subset, key).
    """
    corpus = load_corpus(path, fmt, on_bad_record, **hf)
    return corpus.records, corpus.skipped


def content_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a folder's files in name order (contents only, hidden files skipped).

    File names are left out so that a folder rewritten with the same content keeps its digest (Ray Data names
    its files with a fresh id on every write). Returns the first DIGEST_CHARS hex characters.
    """
    path = Path(path)
    if path.is_file():
        return _sha256(path).hexdigest()[:DIGEST_CHARS]
    outer = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts):
            outer.update(_sha256(f).digest())
    return outer.hexdigest()[:DIGEST_CHARS]


def _sha256(path: Path) -> Any:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h


def _iter_hf(hf: HFDataset, key: str | None, hasher: Any) -> Iterator[tuple[int, Any]]:
    """Yield (1-based row number, row) of a Hugging Face dataset, feeding each row to ``hasher``."""
    where = f"{key}.path" if key else "path"
    try:
        import datasets  # deferred: heavy, and only hf:// corpora need it
    except ImportError:
        raise DataFormatError(
            hf.label, None, "reading hf:// datasets needs the datasets package: pip install datasets"
        ) from None
    try:
        ds = datasets.load_dataset(hf.name, hf.subset, split=hf.split, revision=hf.revision)
    except (ConnectionError, FileNotFoundError) as err:
        raise DataFormatError(hf.label, None, _hf_unavailable(hf, where, err), reason="missing_file") from None
    except ValueError as err:  # an unknown split or subset; datasets lists the ones it has
        hint = f"set {key}.split / {key}.subset" if key else "pass another split / subset"
        raise DataFormatError(hf.label, None, f"{where}: {err} ({hint})", reason="missing_file") from None
    for number, row in enumerate(ds, start=1):
        hasher.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n")
        yield number, row


def _hf_unavailable(hf: HFDataset, where: str, err: Exception) -> str:
    import datasets

    what = f"split {hf.split!r}" + (f", revision {hf.revision!r}" if hf.revision else "")
    cache = datasets.config.HF_DATASETS_CACHE
    return (
        f"{where}: cannot load the Hugging Face dataset {hf.name!r} ({what}): {err}. "
        f"Without network (or with HF_HUB_OFFLINE=1) it must already be in the cache ({cache}, under HF_HOME). "
        "Load it once on a machine that can reach the hub and point HF_HOME at that cache, or download its "
        f"files (huggingface-cli download --repo-type dataset {hf.name} --local-dir DIR) and set {where} to "
        "the local file, or to hf://DIR to read the folder the same way. A gated or private dataset also needs "
        "HF_TOKEN."
    )


def _iter_raw(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line or record number, parsed record); a line that fails to parse yields its error."""
    if not path.is_file():
        raise DataFormatError(path, None, "no such file; check the path in your config", reason="missing_file")
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue  # blank lines (often a trailing one) are not records
                try:
                    yield number, json.loads(text)
                except json.JSONDecodeError as err:
                    yield number, DataFormatError(None, None, f"invalid JSON ({err.msg})", reason="invalid_json")
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataFormatError(
                path, err.lineno, f"invalid JSON ({err.msg}); if this is JSON Lines, rename it to .jsonl"
            ) from None
        if not isinstance(data, list):
            raise DataFormatError(path, None, "expected a JSON list of records; for one record per line use .jsonl")
        yield from enumerate(data, start=1)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq  # deferred: pyarrow is heavy and only Parquet inputs need it

        yield from enumerate(pq.read_table(path).to_pylist(), start=1)
    else:
        raise DataFormatError(path, None, f"unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}")


def _turn(speaker: Any, value: Any, loss: Any, position: int, keys: tuple[str, str] = ("from", "value")) -> dict:
    """One canonical turn; ``keys`` name the speaker and text fields in errors (``role``/``content`` or the like)."""
    role = ROLE_ALIASES.get(speaker) if isinstance(speaker, str) else None
    if role is None:
        raise DataFormatError(
            None,
            None,
            f"turn {position}: unknown {keys[0]} {speaker!r}; expected one of {', '.join(sorted(ROLE_ALIASES))}",
            reason="bad_role",
        )
    if not isinstance(value, str):
        raise DataFormatError(
            None,
            None,
            f"turn {position}: {keys[1]!r} must be a string, got {type(value).__name__}",
            reason="bad_value",
        )
    if loss is not None and not isinstance(loss, bool):
        raise DataFormatError(
            None, None, f"turn {position}: 'loss' must be true, false or null, got {loss!r}", reason="bad_loss"
        )
    return {"from": role, "value": value, "loss": loss}


def _sharegpt_turns(record: dict[str, Any]) -> list[dict[str, Any]]:
    turns = record.get("conversations")
    if not isinstance(turns, list):
        raise DataFormatError(None, None, "'conversations' must be a list of turns", reason="missing_field")
    out = []
    for position, t in enumerate(turns, start=1):
        if not isinstance(t, dict):
            raise DataFormatError(None, None, f"turn {position} is not an object", reason="bad_turn")
        # Re-publications use role/content inside the turns (and datasets rows carry both keys, one None).
        keys = ("from", "value") if t.get("from") is not None else ("role", "content")
        out.append(_turn(t.get(keys[0]), t.get(keys[1]), t.get("loss"), position, keys))
    return out


def _uses_roles(turns: list[Any]) -> bool:
    """True when the turns are ``{role, content}`` objects (no ``from`` speaker anywhere)."""
    dicts = [t for t in turns if isinstance(t, dict)]
    return bool(dicts) and all(t.get("from") is None and t.get("role") is not None for t in dicts)


def _alpaca_turns(record: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("instruction", "output"):
        if not isinstance(record.get(key), str):
            raise DataFormatError(None, None, f"Alpaca record needs a string {key!r}", reason="missing_field")
    turns = []
    for position, pair in enumerate(record.get("history") or [], start=1):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise DataFormatError(
                None, None, f"history entry {position} must be [prompt, response]", reason="bad_turn"
            )
        turns += [_turn("human", pair[0], None, position), _turn("gpt", pair[1], None, position)]
    extra = record.get("input") or ""
    prompt = f"{record['instruction']}\n{extra}" if extra else record["instruction"]
    return [*turns, _turn("human", prompt, None, len(turns) + 1), _turn("gpt", record["output"], None, len(turns) + 2)]


def _openai_turns(record: dict[str, Any]) -> list[dict[str, Any]]:
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise DataFormatError(None, None, "'messages' must be a list of messages", reason="missing_field")
    out = []
    for position, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise DataFormatError(None, None, f"message {position} is not an object", reason="bad_turn")
        content = m.get("content")
        if content is None and m.get("tool_calls"):
            # An assistant message that only calls tools: its calls are what the model must learn to write.
            content = json.dumps([c.get("function", c) for c in m["tool_calls"]], ensure_ascii=False)
        elif isinstance(content, list):  # multi-part content: keep the text parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        weight = m.get("weight")  # the OpenAI fine-tuning format marks assistant turns to skip with weight 0
        out.append(_turn(m.get("role"), content, None if weight is None else bool(weight), position))
    return out


def _fold_system(record: dict[str, Any], turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge a top-level ``system`` prompt and a ``tools`` list into one leading system turn."""
    parts = [record["system"]] if isinstance(record.get("system"), str) and record["system"] else []
    tools = record.get("tools")
    if isinstance(tools, list | dict):
        tools = json.dumps(tools, ensure_ascii=False) if tools else ""
    if isinstance(tools, str) and tools.strip() not in ("", "[]"):
        parts.append(f"You can call the following tools:\n{tools}")
    if not parts:
        return turns
    if turns and turns[0]["from"] == "system":
        parts.insert(0, turns[0]["value"])
        turns = turns[1:]
    return [{"from": "system", "value": "\n\n".join(parts), "loss": None}, *turns]
