"""General ability: the held-out loss against a direct computation, and lm-eval runs of tasks defined here.

The lm-eval tasks are YAMLs this module writes over local JSONL files, so nothing is downloaded. Their expected
scores are computed independently with the tiny model: multiple-choice accuracy from each choice's summed
log-probability, exact match from greedy answers written into the data as targets.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from eval.config import GeneralEvalConfig
from eval.errors import EvalError
from eval.general import LM_EVAL_RESULTS_FILE, general_metrics, headline, heldout_metrics, run_lm_eval

QUESTIONS = [(1, 2), (3, 4), (5, 6), (2, 2), (7, 1), (9, 3)]
GEN_PROMPTS = ["list the files", "count the rows", "open the door"]
MAX_GEN_TOKENS = 6


@pytest.fixture(scope="module", autouse=True)
def quiet_lm_eval():
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    """The tiny checkpoint's tokenizer and model (fp32), for the independent computations."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32).eval()
    return tokenizer, model


# ----------------------------------------------------------------------------- held-out loss

HELDOUT = [
    {"id": "a", "conversations": [{"from": "human", "value": "What is 2 plus 3?"}, {"from": "gpt", "value": "5"}]},
    {
        "id": "b",
        "conversations": [
            {"from": "system", "value": "Answer briefly."},
            {"from": "human", "value": "Name a colour."},
            {"from": "gpt", "value": "Blue, like the sky.", "loss": True},
            {"from": "human", "value": "Another one?"},
            {"from": "gpt", "value": "Red.", "loss": False},  # not trained: not scored
            {"from": "human", "value": "And one more?"},
            {"from": "gpt", "value": "Green, the colour of grass in spring."},
        ],
    },
    {"id": "c", "conversations": [{"from": "human", "value": "Sort 3 1 2."}, {"from": "gpt", "value": "1 2 3"}]},
]


def direct_heldout(tiny, records, seq_len):
    """The same quantities written out: one record at a time, each trained token's -log p and greedy guess."""
    import torch

    from train.masking import IGNORE_INDEX, tokenize_conversation

    tokenizer, model = tiny
    nll, correct, tokens = 0.0, 0, 0
    for r in records:
        row = tokenize_conversation(tokenizer, r["conversations"], seq_len)
        with torch.no_grad():
            logits = model(torch.tensor([row["input_ids"]])).logits[0].double()
        for t in range(1, len(row["labels"])):
            if row["labels"][t] != IGNORE_INDEX:
                logp = torch.log_softmax(logits[t - 1], dim=-1)
                nll -= logp[row["labels"][t]].item()
                correct += int(logits[t - 1].argmax().item() == row["labels"][t])
                tokens += 1
    return nll / tokens, correct / tokens, tokens


@pytest.mark.parametrize("seq_len", [2048, 40])
def test_heldout_metrics_match_a_direct_computation(tiny, tiny_checkpoint, seq_len):
    got = heldout_metrics(str(tiny_checkpoint), HELDOUT, seq_len=seq_len, batch_size=2, device="cpu")
    loss, accuracy, tokens = direct_heldout(tiny, HELDOUT, seq_len)
    assert got["tokens"] == tokens > 0
    assert got["loss"] == pytest.approx(loss, abs=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert got["token_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # deterministic: the same numbers in another batching
    assert heldout_metrics(
        str(tiny_checkpoint), HELDOUT, seq_len=seq_len, batch_size=3, device="cpu"
    ) == pytest.approx(got, rel=1e-6)


def test_heldout_metrics_need_scored_tokens(tiny_checkpoint):
    with pytest.raises(EvalError, match="no held-out records"):
        heldout_metrics(str(tiny_checkpoint), [], device="cpu")
    untrained = [
        {"id": "x", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo", "loss": False}]}
    ]
    with pytest.raises(EvalError, match="none of the 1 held-out records has an assistant token"):
        heldout_metrics(str(tiny_checkpoint), untrained, device="cpu")


# ----------------------------------------------------------------------------- lm-eval tasks written here


def greedy(tiny, prompt: str, max_tokens: int, stop: list[str]) -> str:
    """Greedy continuation of ``prompt`` (no BOS: the tiny tokenizer adds none), cut at the first stop string."""
    import torch

    tokenizer, model = tiny
    ids, out = tokenizer(prompt)["input_ids"], []
    with torch.no_grad():
        for _ in range(max_tokens):
            token = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            out.append(token)
    text = tokenizer.decode(out, skip_special_tokens=True)
    for s in stop:
        text = text.split(s)[0]
    return text


def choice_logprob(tiny, context: str, continuation: str) -> float:
    """log p(continuation | context) summed over its tokens, split as lm-eval splits a causal pair."""
    import torch

    tokenizer, model = tiny
    whole = tokenizer(context + continuation)["input_ids"]
    start = len(tokenizer(context)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), dim=-1)
    return sum(logp[t - 1, whole[t]].item() for t in range(start, len(whole)))


def mc_docs() -> list[dict[str, Any]]:
    return [
        {"question": f"What is {a} plus {b}?", "choices": [str(a + b), str(a + b + 1), str(a * b)], "answer": 0}
        for a, b in QUESTIONS
    ]


def task_yaml(name: str, data: Path, body: str) -> str:
    return (
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n{body}"
    )


MC_BODY = """output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
GEN_BODY = f"""output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: {MAX_GEN_TOKENS}
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory, tiny):
    """Task YAMLs and their data: tiny_mc (6 questions), tiny_mc_shots (the same, few-shot), tiny_gen (3 prompts
    whose first two targets are the tiny model's own greedy answers), tiny_suite (a group of tiny_mc), and tasks
    that must fail."""
    root = tmp_path_factory.mktemp("lm_eval_tasks")
    (root / "mc.jsonl").write_text("".join(json.dumps(d) + "\n" for d in mc_docs()))
    answers = [greedy(tiny, p, MAX_GEN_TOKENS, ["\n"]) for p in GEN_PROMPTS]
    assert answers[0] and answers[1]  # a non-empty answer to match
    targets = [answers[0], answers[1], answers[2] + " but longer"]
    (root / "gen.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in zip(GEN_PROMPTS, targets, strict=True))
    )
    (root / "mc.yaml").write_text(task_yaml("tiny_mc", root / "mc.jsonl", MC_BODY))
    (root / "mc_shots.yaml").write_text(task_yaml("tiny_mc_shots", root / "mc.jsonl", MC_BODY))
    (root / "gen.yaml").write_text(task_yaml("tiny_gen", root / "gen.jsonl", GEN_BODY))
    group = "group: tiny_suite\ntask: [tiny_mc]\naggregate_metric_list:\n  - metric: acc\nmetadata:\n  version: 1.0\n"
    (root / "suite.yaml").write_text(group)
    (root / "unsafe.yaml").write_text(task_yaml("tiny_unsafe", root / "mc.jsonl", "unsafe_code: true\n" + MC_BODY))
    hub = "task: tiny_from_hub\ndataset_path: agenttune-tests/never-cached\ntest_split: test\n" + MC_BODY
    (root / "hub.yaml").write_text(hub)
    return root


def expected_acc(tiny) -> float:
    right = 0
    for doc in mc_docs():
        context = f"Question: {doc['question']}\nAnswer:"
        scores = [choice_logprob(tiny, context, " " + c) for c in doc["choices"]]
        right += scores.index(max(scores)) == doc["answer"]
    return right / len(QUESTIONS)


@pytest.fixture(scope="module")
def hf_run(task_dir, tiny_checkpoint, tmp_path_factory):
    cfg = GeneralEvalConfig(
        tasks=["tiny_mc", "tiny_gen", "tiny_mc_shots", "tiny_suite"],
        include_path=str(task_dir),
        num_fewshot={"tiny_mc_shots": 2},
        batch_size=4,
    )
    out = tmp_path_factory.mktemp("lm_eval_out")
    return run_lm_eval(cfg, model_path=str(tiny_checkpoint), output_dir=out, device="cpu"), out


@pytest.mark.slow  # lm-eval scans its ~15,000 task YAMLs first: 10-40 s on 2 CPUs
def test_hf_model_scores_match_independent_scoring(hf_run, tiny):
    results, out = hf_run
    assert set(results) == {"tiny_mc", "tiny_gen", "tiny_mc_shots", "tiny_suite"}
    acc = expected_acc(tiny)
    assert results["tiny_mc"]["acc,none"] == pytest.approx(acc, abs=1e-9)
    assert results["tiny_gen"]["exact_match,none"] == pytest.approx(2 / 3, abs=1e-9)
    assert headline(results["tiny_mc"]) == ("acc,none", pytest.approx(acc))
    assert results["tiny_suite"]["acc,none"] == pytest.approx(acc, abs=1e-9)  # a group: its aggregate, by its name
    assert 6 * results["tiny_mc_shots"]["acc,none"] == pytest.approx(round(6 * results["tiny_mc_shots"]["acc,none"]))
    full = json.loads((out / LM_EVAL_RESULTS_FILE).read_text())
    assert full["tiny_mc_shots"]["n-shot"] == {"tiny_mc_shots": 2} and full["tiny_mc"]["n-shot"] == {"tiny_mc": 0}
    assert full["tiny_gen"]["results"]["tiny_gen"]["exact_match,none"] == results["tiny_gen"]["exact_match,none"]
    assert general_metrics(results) == {
        "eval/general/tiny_mc/acc": pytest.approx(acc),
        "eval/general/tiny_gen/exact_match": pytest.approx(2 / 3),
        "eval/general/tiny_mc_shots/acc": results["tiny_mc_shots"]["acc,none"],
        "eval/general/tiny_suite/acc": pytest.approx(acc),
    }


@pytest.mark.slow
def test_config_mistakes_name_the_task_and_the_key(task_dir, tiny_checkpoint, monkeypatch):
    import datasets

    def run(**kw):
        return run_lm_eval(GeneralEvalConfig(include_path=str(task_dir), **kw), model_path=str(tiny_checkpoint))

    with pytest.raises(EvalError, match=r"eval.general.tasks: unknown task 'tiny_mcq' .*did you mean tiny_mc"):
        run(tasks=["tiny_mc", "tiny_mcq"])
    with pytest.raises(EvalError, match=r"eval.general.num_fewshot: tiny_gen is not in eval.general.tasks"):
        run(tasks=["tiny_mc"], num_fewshot={"tiny_gen": 1})
    with pytest.raises(EvalError, match=r"task 'tiny_unsafe' runs model-written code .*allow_code_execution=true"):
        run(tasks=["tiny_unsafe"])
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(EvalError, match=r"eval.general.tasks: task 'tiny_from_hub': .*run once online to cache it"):
        run(tasks=["tiny_from_hub"])
    with pytest.raises(EvalError, match="include_path: .* is not a folder"):
        run_lm_eval(GeneralEvalConfig(tasks=["x"], include_path=str(task_dir / "nope")), model_path="unused")


# ----------------------------------------------------------------------------- through an endpoint


class CompletionsServer(ThreadingHTTPServer):
    """``/v1/completions`` over the tiny model, as vLLM answers it (echo + prompt logprobs), or as ``transformers
    serve`` does (``logprobs`` None) with ``prompt_logprobs=False``; one request at a time reaches the model."""

    daemon_threads = True

    def __init__(self, tiny, prompt_logprobs: bool = True):
        super().__init__(("127.0.0.1", 0), CompletionsHandler)
        self.tiny, self.prompt_logprobs, self.lock = tiny, prompt_logprobs, threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def complete(self, index: int, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        import torch

        tokenizer, model = self.tiny
        if not (body.get("echo") and body.get("logprobs")):
            text = greedy(self.tiny, prompt, body.get("max_tokens", 16), body.get("stop") or [])
            return {"index": index, "text": text, "logprobs": None, "finish_reason": "stop"}
        if not self.prompt_logprobs:
            return {"index": index, "text": prompt, "logprobs": None, "finish_reason": "length"}
        ids = tokenizer(prompt)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        picked = ids[1:] + [int(logp[-1].argmax())]  # the prompt's tokens after the first, then one generated
        token_logprobs = [None] + [logp[i, t].item() for i, t in enumerate(picked)]
        top = [None] + [{tokenizer.decode([int(logp[i].argmax())]): logp[i].max().item()} for i in range(len(ids))]
        return {
            "index": index,
            "text": prompt + tokenizer.decode([picked[-1]]),
            "logprobs": {"token_logprobs": token_logprobs, "top_logprobs": top},
            "finish_reason": "length",
        }


class CompletionsHandler(BaseHTTPRequestHandler):
    server: CompletionsServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._send({"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        with self.server.lock:
            choices = [self.server.complete(i, p, body) for i, p in enumerate(prompts)]
        self._send({"id": "cmpl", "object": "text_completion", "model": body["model"], "choices": choices})

    def _send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serving(server: CompletionsServer):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.mark.slow
def test_endpoint_scores_match_the_in_process_model(hf_run, task_dir, tiny, tiny_checkpoint):
    results, _ = hf_run
    cfg = GeneralEvalConfig(tasks=["tiny_mc", "tiny_gen"], include_path=str(task_dir), batch_size=2)
    with serving(CompletionsServer(tiny)) as server:
        try:
            got = run_lm_eval(cfg, endpoint=server.base_url, tokenizer_path=str(tiny_checkpoint))
        finally:
            server.shutdown()
    assert got["tiny_mc"]["acc,none"] == pytest.approx(results["tiny_mc"]["acc,none"], abs=1e-9)
    assert got["tiny_gen"]["exact_match,none"] == pytest.approx(2 / 3, abs=1e-9)


@pytest.mark.slow
def test_endpoint_without_prompt_logprobs_is_refused_for_multiple_choice(task_dir, tiny, tiny_checkpoint):
    cfg = GeneralEvalConfig(tasks=["tiny_gen", "tiny_mc"], include_path=str(task_dir))
    with serving(CompletionsServer(tiny, prompt_logprobs=False)) as server:
        try:
            with pytest.raises(EvalError, match="returns no prompt log-probabilities .*serve the model with vLLM"):
                run_lm_eval(cfg, endpoint=server.base_url, tokenizer_path=str(tiny_checkpoint))
            with pytest.raises(EvalError, match="need the model's tokenizer: pass tokenizer_path"):
                run_lm_eval(cfg, endpoint=server.base_url)
        finally:
            server.shutdown()


# ----------------------------------------------------------------------------- headline and metric names


def test_headline_prefers_acc_then_strict_exact_match_then_pass_at_1():
    mmlu = {"acc,none": 0.41, "acc_stderr,none": 0.01}
    gsm8k = {
        "exact_match,flexible-extract": 0.3,
        "exact_match,strict-match": 0.2,
        "exact_match_stderr,strict-match": 0.1,
    }
    humaneval = {"pass_at_k,create_test": 0.12, "pass_at_k_stderr,create_test": 0.02}
    mbpp = {"pass_at_1,extract_code": 0.3, "pass_at_1,none": 0.25}
    hellaswag = {"acc_norm,none": 0.6, "acc,none": 0.5}
    other = {"bleu,none": 12.0, "ter,none": 80.0}
    assert headline(mmlu) == ("acc,none", 0.41)
    assert headline(gsm8k) == ("exact_match,strict-match", 0.2)
    assert headline(humaneval) == ("pass_at_k,create_test", 0.12)
    assert headline(mbpp) == ("pass_at_1,none", 0.25)
    assert headline({"pass@1,create_test": 0.5, "pass@10,create_test": 0.7}) == ("pass@1,create_test", 0.5)
    assert headline(hellaswag) == ("acc,none", 0.5)
    assert headline(other) == ("bleu,none", 12.0)  # none preferred: the first reported
    with pytest.raises(EvalError, match="no metric"):
        headline({"acc_stderr,none": 0.1})


def test_general_metrics_are_valid_unambiguous_mlflow_names():
    from mlflow.utils.validation import _validate_metric_name

    results = {
        "mmlu": {"acc,none": 0.4, "acc_stderr,none": 0.01},
        "gsm8k_cot": {"exact_match,strict-match": 0.2, "exact_match,flexible-extract": 0.3},
        "humaneval": {"pass@1,create_test": 0.1, "pass_at_k,create_test": 0.1},
    }
    metrics = general_metrics(results, heldout={"loss": 2.0, "perplexity": 7.39, "token_accuracy": 0.4, "tokens": 99})
    assert metrics == {
        "eval/general/mmlu/acc": 0.4,
        "eval/general/gsm8k_cot/exact_match_strict-match": 0.2,
        "eval/general/gsm8k_cot/exact_match_flexible-extract": 0.3,
        "eval/general/humaneval/pass_at_1_create_test": 0.1,
        "eval/general/humaneval/pass_at_k_create_test": 0.1,
        "eval/general/heldout/loss": 2.0,
        "eval/general/heldout/perplexity": 7.39,
        "eval/general/heldout/token_accuracy": 0.4,
        "eval/general/heldout/tokens": 99.0,
    }
    for name in metrics:
        _validate_metric_name(name)
    with pytest.raises(EvalError, match="would both be logged as acc_x"):
        general_metrics({"t": {"acc_x,none": 0.1, "acc,x": 0.2}})
