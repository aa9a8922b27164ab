"""Decontamination: exact removals by task id and by long n-gram, env boilerplate ignored."""

import envs
from train.decontam import DecontamIndex, ngrams


def rec(text, task_id=None):
    r = {
        "id": "x",
        "conversations": [
            {"from": "human", "value": text, "loss": None},
            {"from": "gpt", "value": "ok", "loss": True},
        ],
    }
    if task_id:
        r["meta"] = {"task_id": task_id}
    return r


BOILER = "you are a helpful agent and you must answer every question with one action in the usual format. "
QUESTIONS = [
    "how many ships left the harbour of port vesk before the winter storms of the year nine hundred",
    "which painter in the guild of lorrin sold the most canvases during the spring fair of the old town",
    "what is the total weight of the copper ingots stored in the northern warehouse after the last delivery",
    "name the river that runs past the monastery of saint alder and meets the sea near the salt flats",
    "who captained the vessel that carried the ambassador across the straits in the autumn of that year",
    "list the three villages that pay tithes to the abbey on the hill beyond the old stone bridge",
]


def test_ngrams_are_word_windows():
    assert ngrams("a b c d", n=3) == {("a", "b", "c"), ("b", "c", "d")}
    assert ngrams("A, b!", n=2) == {("a", "b")}


def test_task_ids_and_question_ngrams_are_removed_but_boilerplate_is_not():
    index = DecontamIndex.build(["db-test-000001"], {"env": [BOILER + q for q in QUESTIONS]})
    records = [
        rec("anything at all", task_id="db-test-000001"),  # an eval task's own trajectory
        rec("context: " + QUESTIONS[2] + " ... thanks"),  # quotes an eval question
        rec(
            BOILER + "a brand new question about something else entirely that no eval task asks"
        ),  # shares only boilerplate
        rec("how many ships left the harbour of port vesk"),  # too short a window to count
    ]
    kept, removed = index.filter(records)
    assert removed == {"task_id": 1, "ngram": 1}
    assert [r["conversations"][0]["value"][:8] for r in kept] == [BOILER[:8], "how many"]


def test_real_eval_prompts_catch_a_leaked_test_task():
    tasks = envs.generate_tasks("agenttune/DB-v0", "test", 10)
    with envs.make_env("agenttune/DB-v0") as env:
        prompts = [env.reset(options={"task": t})[0] for t in tasks]
    index = DecontamIndex.build([t.task_id for t in tasks], {"agenttune/DB-v0": prompts})
    # an external corpus that quotes a test prompt loses that record, and only that one
    corpus = [rec(prompts[3]), rec("Sort these numbers in descending order: 4, 9, 1"), rec("What is 2 + 2?")]
    kept, removed = index.filter(corpus)
    assert removed == {"task_id": 0, "ngram": 1} and len(kept) == 2
    # trajectories of train-seed tasks share the generator's phrasings by design: checked by task id only
    train = envs.generate_tasks("agenttune/DB-v0", "train", 10)
    with envs.make_env("agenttune/DB-v0") as env:
        rolled = [rec(env.reset(options={"task": t})[0], task_id=t.task_id) for t in train]
    rolled.append(rec("a test task's own trajectory", task_id=tasks[0].task_id))
    kept, removed = index.filter(rolled, check_ngrams=False)
    assert removed == {"task_id": 1, "ngram": 0} and len(kept) == 10
