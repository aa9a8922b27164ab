"""AgentInstruct read both ways it is published: the hub's flagged from/value turns and re-publications' role/content
turns without flags give the same role/loss sequence, for records of all six tasks (written here, in our words,
laid out as the released ones) and for the 538 real DB records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.agentinstruct import is_acknowledgement, opens_task, prompt_positions
from train.errors import DataFormatError
from train.formats import detect_format, load_corpus, read_records, to_canonical

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DB_JSON = DATA / "agentinstruct" / "db.json"

H, T, F = None, True, False  # the loss flags: user turn, trained agent turn, prompt turn


def hub(task: str, *turns: tuple[str, str, bool | None]) -> dict:
    """A record in the hub's shape: ``(speaker, text, loss)`` turns."""
    return {"id": f"{task}_0", "conversations": [{"from": w, "value": v, "loss": loss} for w, v, loss in turns]}


# One record per task, laid out as the released split opens (see train/agentinstruct.py), written in our words.
RECORDS = {
    "db": hub(
        "db",
        ("human", "Help me answer questions with a SQLite database. Reply with one SQL statement per turn.", H),
        ("gpt", "Ok.", F),
        ("human", "How many pets are older than 3?\nThe table is pets with columns name, age.", H),
        ("gpt", "Count the rows with age above 3.\nAction: Operation\n```sql\nSELECT COUNT(*) FROM pets\n```", T),
        ("human", "[(2,)]", H),
        ("gpt", "Two pets are older than 3.\nAction: Answer\nFinal Answer: [2]", T),
    ),
    "webshop": hub(
        "webshop",
        ("human", "You are shopping on a web site. Each turn, search or click one of the buttons offered.", H),
        ("gpt", "Ok.", F),
        ("human", "Observation:\nShop [SEP] Instruction: [SEP] a red mug under 10 dollars [SEP] Search", H),
        ("gpt", "Thought:\nI should search for the mug.\n\nAction:\nsearch[red mug]", T),
        ("human", "Observation:\nBack to Search [SEP] M01 [SEP] Red mug [SEP] $8.00", H),
        ("gpt", "Thought:\nM01 fits.\n\nAction:\nclick[M01]", T),
    ),
    "alfworld": hub(
        "alfworld",
        ("human", "Act in a house to finish a chore. Each turn, write THOUGHT and ACTION lines.", H),
        ("gpt", "OK. I'll follow your instructions and try my best to solve the task.", F),
        ("human", "Here is your task. You are in a kitchen with a fridge 1 and a table 1. Put an apple on it.", H),
        ("gpt", "THOUGHT: The apple may be in the fridge.\n ACTION: open fridge 1", T),
        ("human", "You open the fridge 1. In it, you see an apple 1.", H),
        ("gpt", "THOUGHT: There it is.\n ACTION: take apple 1 from fridge 1", T),
    ),
    "kg": hub(
        "kg",
        ("human", "Answer questions from a knowledge base with get_relations and get_neighbors.", H),
        ("gpt", "I've understood your instruction, start please.", F),
        ("human", "Question: who wrote the book Sea Tales?\nEntities: [Sea Tales]", H),
        ("gpt", "Thought: Look at the relations of Sea Tales.\nAction: get_relations(Sea Tales)", F),
        ("human", "Observation: [book.written_work.author]", H),
        ("gpt", "Thought: The author relation answers it.\nFinal Answer: #0", F),
        ("human", "A new question: which river flows through Town X?\nEntities: [Town X]", H),
        ("gpt", "Thought: Start from Town X.\nAction: get_relations(Town X)", T),
        ("human", "Observation: [geography.river.cities]", H),
        ("gpt", "Thought: Follow the river relation.\nAction: get_neighbors(Town X, geography.river.cities)", T),
    ),
    "os": hub(
        "os",
        ("human", "You act on a Linux shell for me. Answer with Think and Act.\nNow, my problem is:\n\ncount /etc", H),
        ("gpt", "Think: List the folder first.\n\nAct: bash\n\n```bash\nls /etc\n```", F),
        ("human", "The output of the OS:\nhosts passwd [truncated because the output is too long]", H),
        ("gpt", "Think: Count with wc instead.\n\nAct: bash\n\n```bash\nls -1 /etc | wc -l\n```", F),
        ("human", "The output of the OS:\n220", H),
        ("gpt", "Think: The answer is 220.\n\nAct: answer(220)", F),
        ("human", "Now, I will start a new problem in a new OS. My problem is:\n\nHow many users have bash?", H),
        ("gpt", "Think: Read /etc/passwd.\n\nAct: bash\n\n```bash\ngrep -c bash /etc/passwd\n```", T),
        ("human", "The output of the OS:\n\n1", H),
        ("gpt", "Think: One user.\n\nAct: answer(1)", T),
    ),
    "mind2web": hub(
        "mind2web",
        ("human", "'''\n<html> <button id=0> Sign in </button> </html>\n'''\nTask: sign in\nA. None\nB. <button>", H),
        ("gpt", "Thought: The sign-in button does it.\nAnswer: B.\nAction: CLICK", T),
    ),
}


def republish(record: dict, **extra) -> dict:
    """The same record as re-publications write it: role/content turns, no flags, other top-level keys."""
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    turns = [{"role": roles[t["from"]], "content": t["value"]} for t in record["conversations"]]
    return {"conversations": turns, "source": "AgentInstruct", "task": record["id"].rsplit("_", 1)[0], **extra}


def flags(record: dict) -> list[tuple[str, bool | None]]:
    return [(t["from"], t["loss"]) for t in record["conversations"]]


@pytest.mark.parametrize("task", sorted(RECORDS))
def test_both_shapes_give_the_released_role_loss_sequence(task):
    released = RECORDS[task]
    assert detect_format(released) == detect_format(republish(released)) == "agentinstruct"
    from_hub = to_canonical(released, "agentinstruct", task, 0)
    from_copy = to_canonical(republish(released), "agentinstruct", task, 0)
    assert flags(from_copy) == flags(from_hub) == [(t["from"], t["loss"]) for t in released["conversations"]]
    assert [t["value"] for t in from_copy["conversations"]] == [t["value"] for t in released["conversations"]]


# The AgentBench generators put a one-shot example after the acknowledgement in ALFWorld and KG: whether or not the
# released split kept it, the re-publication reads right.
VARIANTS = {
    "alfworld with its example": hub(
        "alfworld",
        ("human", "Act in a house to finish a chore. Each turn, write THOUGHT and ACTION lines.", H),
        ("gpt", "OK. I'll follow your instructions and try my best to solve the task.", F),
        ("human", "Here is one example.\nYou are in a hall with a shelf 1. Your task is to: look at a book.", H),
        ("gpt", "THOUGHT: The book is on the shelf.\n ACTION: go to shelf 1", F),
        ("human", "On the shelf 1, you see a book 1.", H),
        ("gpt", "ACTION: examine book 1", F),
        ("human", "Here is your task. You are in a garden with a bench 1. Your task is to: find a ball.", H),
        ("gpt", "THOUGHT: Try the bench.\n ACTION: go to bench 1", T),
    ),
    "kg without its example": hub(
        "kg",
        ("human", "Answer questions from a knowledge base with get_relations and get_neighbors.", H),
        ("gpt", "I've understood your instruction, start please.", F),
        ("human", "Question: which river flows through Town X?\nEntities: [Town X]", H),
        ("gpt", "Thought: Start from Town X.\nAction: get_relations(Town X)", T),
        ("human", "Observation: [geography.river.cities]", H),
        ("gpt", "Thought: Follow it.\nAction: get_neighbors(Town X, geography.river.cities)", T),
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_layout_variants_of_the_generators_read_right(name):
    released = VARIANTS[name]
    from_copy = to_canonical(republish(released), detect_format(republish(released)), "x", 0)
    assert flags(from_copy) == [(t["from"], t["loss"]) for t in released["conversations"]]


def test_all_six_tasks_in_both_shapes_from_one_file(tmp_path):
    lines = [json.dumps(r) for r in RECORDS.values()] + [json.dumps(republish(r)) for r in RECORDS.values()]
    path = tmp_path / "agentinstruct.jsonl"
    path.write_text("\n".join(lines) + "\n")
    corpus = load_corpus(path)
    assert corpus.formats == {"agentinstruct": 12} and corpus.skipped == {}
    hub_part, copy_part = corpus.records[:6], corpus.records[6:]
    assert [flags(r) for r in copy_part] == [flags(r) for r in hub_part]
    not_trained = sum(loss is False for r in copy_part for _, loss in flags(r))
    assert not_trained == 1 + 1 + 1 + 3 + 3 + 0  # db, webshop, alfworld: the "Ok."; kg: ack + 2 example; os: 3


def test_parquet_republication_reads_the_same(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([republish(r) for r in RECORDS.values()]), tmp_path / "ai.parquet")
    records, skipped = read_records(tmp_path / "ai.parquet")
    assert skipped == {} and [flags(r) for r in records] == [flags(r) for r in RECORDS.values()]


def test_hf_folder_of_republished_rows_reads_the_same(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    (tmp_path / "ai").mkdir()
    (tmp_path / "ai" / "data.jsonl").write_text("".join(json.dumps(republish(r)) + "\n" for r in RECORDS.values()))
    corpus = load_corpus(f"hf://{tmp_path / 'ai'}")
    assert corpus.formats == {"agentinstruct": 6}
    assert [flags(r) for r in corpus.records] == [flags(r) for r in RECORDS.values()]


@pytest.mark.skipif(not DB_JSON.is_file(), reason=f"shared AgentInstruct data not found at {DB_JSON}")
def test_real_db_records_republished_get_their_flags_back(tmp_path):
    released = json.loads(DB_JSON.read_text())
    path = tmp_path / "db_roles.json"
    path.write_text(json.dumps([republish(r, id=r["id"]) for r in released]))
    records, skipped = read_records(path)
    assert skipped == {} and len(records) == 538
    for source, record in zip(released, records, strict=True):
        assert flags(record) == flags(source), source["id"]


# ----------------------------------------------------------------------------- the rule, edge by edge


def turns_of(*pairs: tuple[str, str]) -> dict:
    return {"conversations": [{"role": role, "content": text} for role, text in pairs]}


def test_acknowledgement_is_read_through_case_whitespace_and_wording():
    for ack in ("OK", "  ok.\n", "Okay.", "Sure, I am ready.", "Understood.", "I have  understood your  instruction."):
        record = turns_of(("user", "Rules."), ("assistant", ack), ("user", "Task."), ("assistant", "Action: go"))
        assert flags(to_canonical(record, "agentinstruct", "x", 0)) == [("human", H), ("gpt", F)] + [
            ("human", H),
            ("gpt", T),
        ], ack
    opener = "now,   I will start\na new problem in a new OS. My problem is: x"
    assert opens_task(opener) and opens_task("  A NEW QUESTION: y") and not opens_task("The output of the OS: 3")


def test_agent_turns_that_act_or_run_long_are_not_acknowledgements():
    assert not is_acknowledgement("OK.\nAction: Operation\n```sql\nSELECT 1\n```")  # a second line: it acts
    assert not is_acknowledgement("Sure " + "word " * 25)  # longer than an acknowledgement
    assert not is_acknowledgement("Okra is a vegetable.")  # "ok" must be a word of its own
    assert not is_acknowledgement("Thought: I should look first.")


def test_general_chat_in_role_shape_keeps_every_reply_trained():
    record = turns_of(
        ("system", "Be kind."),
        ("user", "hi"),
        ("assistant", "Hello! What can I do for you today?\nAsk me anything."),
        ("user", "a joke"),
        ("assistant", "Ok, here is one: ..."),
    )
    assert flags(to_canonical(record, "agentinstruct", "x", 0)) == [
        ("system", H),
        ("human", H),
        ("gpt", T),
        ("human", H),
        ("gpt", T),  # an "Ok" later in the chat is not the reply to the instruction
    ]


def test_a_lone_ok_answer_is_trained_and_flags_given_are_kept():
    only = turns_of(("user", "Is 2 even? Answer OK or no."), ("assistant", "OK"))
    assert flags(to_canonical(only, "agentinstruct", "x", 0)) == [("human", H), ("gpt", T)]
    flagged = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Ok.", "loss": 1}]}
    with pytest.raises(DataFormatError, match="'loss' must be true, false or null"):
        to_canonical(flagged, "agentinstruct", "x", 0)
    kept = {
        "conversations": [
            {"role": "user", "content": "q", "loss": None},
            {"role": "assistant", "content": "Ok.", "loss": True},
            {"role": "user", "content": "r", "loss": None},
            {"role": "assistant", "content": "s", "loss": False},
        ]
    }
    expected = [("human", H), ("gpt", T), ("human", H), ("gpt", F)]
    assert flags(to_canonical(kept, detect_format(kept), "x", 0)) == expected


def test_from_value_turns_without_flags_stay_sharegpt():
    record = {"conversations": [{"from": "human", "value": "Rules."}, {"from": "gpt", "value": "Ok."}]}
    assert detect_format(record) == "sharegpt"
    assert flags(to_canonical(record, "sharegpt", "x", 0)) == [("human", None), ("gpt", None)]


def test_prompt_positions_without_an_assistant_turn_or_with_a_system_instruction():
    assert prompt_positions(["human"], ["q"]) == set()
    assert prompt_positions(["system", "human", "gpt", "human", "gpt"], ["rules", "go", "Ok.", "task", "x"]) == {2}


# ----------------------------------------------------------------------------- malformed re-publications


def test_malformed_republication_names_the_line_and_turn(tmp_path):
    good = json.dumps(republish(RECORDS["db"]))
    bad_role = turns_of(("user", "Rules."), ("robot", "Ok."))
    no_content = {"conversations": [{"role": "user", "content": "Rules."}, {"role": "assistant"}]}
    path = tmp_path / "ai.jsonl"
    path.write_text("\n".join([good, json.dumps(bad_role), json.dumps(no_content), good]) + "\n")
    with pytest.raises(DataFormatError, match=r"ai\.jsonl, line 2: turn 2: unknown role 'robot'; expected one of"):
        read_records(path)
    records, skipped = read_records(path, on_bad_record="skip")
    assert len(records) == 2 and skipped == {"bad_role": 1, "bad_value": 1}
    path.write_text(json.dumps([json.loads(good), no_content]))
    path = path.rename(tmp_path / "ai.json")
    with pytest.raises(DataFormatError, match=r"ai\.json, record 2: turn 2: 'content' must be a string, got NoneType"):
        read_records(path)


# ----------------------------------------------------------------------------- through the loss mask


@pytest.mark.parametrize(("template", "end"), [("chatml", "<|im_end|>"), ("llama2", " </s>")])
def test_republished_records_train_exactly_the_loss_true_turns(template, end):
    from train.masking import tokenize_conversation
    from train.tiny import SPECIAL_TOKENS, build_tiny_tokenizer

    tok = build_tiny_tokenizer(["unused"], vocab_size=256 + len(SPECIAL_TOKENS), chat_template=template)
    for task, released in {**RECORDS, **VARIANTS}.items():
        conv = to_canonical(republish(released), "agentinstruct", task, 0)["conversations"]
        out = tokenize_conversation(tok, conv, max_length=1 << 16)
        trained = tok.decode([t for t in out["labels"] if t != -100])
        expected = "".join(t["value"] + end for t in released["conversations"] if t["loss"])
        assert trained == expected, task
