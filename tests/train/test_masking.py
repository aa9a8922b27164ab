"""Loss masks: exact labels on hand-written conversations, and AgentInstruct turns decoded back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.errors import MaskingError
from train.masking import IGNORE_INDEX, _concatenation_safe, tokenize_conversation
from train.tiny import SPECIAL_TOKENS, build_tiny_tokenizer, default_corpus

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DB_JSON = DATA / "agentinstruct" / "db.json"
# What a trained assistant turn ends with in each of our templates: the model must learn to stop.
END_OF_TURN = {"llama2": " </s>", "chatml": "<|im_end|>"}
X = IGNORE_INDEX


@pytest.fixture(scope="module", params=["llama2", "chatml"])
def tokenizer(request):
    return build_tiny_tokenizer(default_corpus(), vocab_size=2048, chat_template=request.param)


def byte_tokenizer(template: str):
    """No merges: one token per character (special tokens are one token each), so masks can be counted by hand."""
    return build_tiny_tokenizer(["unused"], vocab_size=256 + len(SPECIAL_TOKENS), chat_template=template)


def turn(who: str, value: str, loss: bool | None = None) -> dict:
    return {"from": who, "value": value, "loss": loss}


def test_chatml_two_turns_exact_mask():
    tok = byte_tokenizer("chatml")
    out = tokenize_conversation(tok, [turn("human", "hi"), turn("gpt", "yo")], max_length=100)
    text = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 25  # 4 special tokens + 21 characters
    assert out["input_ids"] == ids
    # untrained: <|im_start|> "user\nhi" <|im_end|> "\n" <|im_start|> "assistant\n"; trained: "yo" <|im_end|>
    assert out["labels"] == [X] * (1 + 7 + 1 + 1 + 1 + 10) + ids[21:24] + [X]
    assert tok.decode(ids[21:24]) == "yo<|im_end|>"
    assert out["truncated"] is False


def test_llama2_system_folded_and_loss_flags_respected():
    tok = byte_tokenizer("llama2")
    conv = [
        turn("system", "S"),
        turn("human", "hi", loss=True),  # a human turn is never trained, whatever its flag
        turn("gpt", "Ok.", loss=False),
        turn("human", "2+2?"),
        turn("gpt", "4"),  # loss None: the default for gpt is to train
    ]
    out = tokenize_conversation(tok, conv, max_length=200)
    text = "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nhi [/INST] Ok. </s><s>[INST] 2+2? [/INST] 4 </s>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert out["input_ids"] == ids
    assert out["labels"] == [X] * (len(ids) - 3) + ids[-3:]  # "4", " ", "</s>"
    assert tok.decode(ids[-3:]) == "4 </s>"


def test_nothing_trained_when_all_assistant_turns_are_off():
    out = tokenize_conversation(byte_tokenizer("chatml"), [turn("human", "a"), turn("gpt", "b", False)], 100)
    assert set(out["labels"]) == {X}


def test_truncation_keeps_the_start_and_reports_it():
    tok = byte_tokenizer("chatml")
    conv = [turn("human", "hi"), turn("gpt", "yo")]
    full = tokenize_conversation(tok, conv, max_length=100)
    cut = tokenize_conversation(tok, conv, max_length=22)
    assert cut["truncated"] is True
    assert cut["input_ids"] == full["input_ids"][:22]
    assert cut["labels"] == full["labels"][:22]


def test_prompt_tokens_match_the_inference_prompt(tokenizer):
    conv = [turn("system", "Be brief."), turn("human", "SELECT name FROM users;"), turn("gpt", "Thought: done.")]
    out = tokenize_conversation(tokenizer, conv, max_length=512)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "SELECT name FROM users;"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert out["input_ids"][:n] == prompt_ids
    assert set(out["labels"][:n]) == {X} and X not in out["labels"][n:-1]


def test_template_that_strips_text_is_handled():
    tok = byte_tokenizer("chatml")
    tok.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] | trim + '<|im_end|>\\n' }}"
        "{% endfor %}"
    )
    out = tokenize_conversation(tok, [turn("human", " q "), turn("gpt", "  answer \n")], max_length=100)
    assert tok.decode([t for t in out["labels"] if t != X]) == "answer<|im_end|>"


def test_prefix_space_tokenizer_falls_back_to_offsets():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from train.tiny import CHATML_TEMPLATE

    sp = Tokenizer(models.BPE(unk_token="<unk>"))
    sp.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")  # adds "▁" to every call, SentencePiece style
    sp.decoder = decoders.Metaspace(prepend_scheme="first")
    sp.train_from_iterator(default_corpus(), trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL_TOKENS))
    tok = PreTrainedTokenizerFast(tokenizer_object=sp, eos_token="<|im_end|>", unk_token="<unk>")
    tok.chat_template = CHATML_TEMPLATE
    assert not _concatenation_safe(tok)
    conv = [turn("human", "What is 2 + 3?"), turn("gpt", "It is 5.")]
    out = tokenize_conversation(tok, conv, max_length=100)
    messages = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "It is 5."}]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert out["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]  # one tokenization of the whole
    trained = tok.decode([t for t in out["labels"] if t != X])
    assert "is 5." in trained and trained.endswith("<|im_end|>") and "user" not in trained


def test_unknown_speaker_and_rejected_conversation_raise_masking_error():
    tok = byte_tokenizer("llama2")
    with pytest.raises(MaskingError, match="turn 1: speaker 'robot'"):
        tokenize_conversation(tok, [turn("robot", "x")], 10)
    tok.chat_template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(MaskingError, match="roles must alternate"):
        tokenize_conversation(tok, [turn("human", "x"), turn("gpt", "y")], 10)


@pytest.mark.skipif(not DB_JSON.is_file(), reason=f"shared AgentInstruct data not found at {DB_JSON}")
def test_agentinstruct_db_trained_tokens_decode_to_the_loss_true_turns(tokenizer):
    template = "llama2" if "[INST]" in tokenizer.chat_template else "chatml"
    records = json.loads(DB_JSON.read_text())
    assert len(records) == 538
    for record in records:  # all of them: about a millisecond each
        conv = record["conversations"]
        out = tokenize_conversation(tokenizer, conv, max_length=1 << 20)
        assert not out["truncated"]
        trained = tokenizer.decode([t for t in out["labels"] if t != X])
        expected = "".join(t["value"] + END_OF_TURN[template] for t in conv if t["from"] == "gpt" and t["loss"])
        assert trained == expected, record["id"]
        # and the whole sequence is exactly the template's rendering
        messages = [{"role": {"human": "user", "gpt": "assistant"}[t["from"]], "content": t["value"]} for t in conv]
        assert tokenizer.decode(out["input_ids"]) == tokenizer.apply_chat_template(messages, tokenize=False)


def test_our_rollouts_train_exactly_the_agents_own_turns(tokenizer):
    """Every env's episode opens with fixed turns (the acknowledgement, a one-shot example) marked
    ``loss: false``; the tokens trained on decode to the policy's own turns and nothing else."""
    import envs  # noqa: PLC0415 - only this test plays episodes
    from rollouts.episode import run_episode  # noqa: PLC0415
    from rollouts.policies.oracle import OraclePolicy  # noqa: PLC0415

    template = "llama2" if "[INST]" in tokenizer.chat_template else "chatml"
    for spec in envs.list_specs():
        if spec.id == "agenttune/OS-v0":
            continue  # needs a sandbox; its opening is built by the same code
        task = envs.generate_tasks(spec.id, "train", 1)[0]
        with envs.make_env(spec.id) as env:
            conv = run_episode(env, OraclePolicy(), task)["conversations"]
        fixed = any(t["from"] == "gpt" and t["loss"] is False for t in conv)  # the opening's acknowledgement, example
        assert fixed or spec.id == "agenttune/WebNav-v0", spec.id  # (Mind2Web's records have neither)
        out = tokenize_conversation(tokenizer, conv, max_length=1 << 20)
        trained = tokenizer.decode([t for t in out["labels"] if t != X])
        expected = "".join(t["value"] + END_OF_TURN[template] for t in conv if t["from"] == "gpt" and t["loss"])
        assert trained == expected, spec.id
