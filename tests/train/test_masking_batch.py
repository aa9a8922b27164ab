"""tokenize_conversations (the mix stage's batched form) gives exactly what tokenize_conversation gives, per record."""

from __future__ import annotations

import pytest

from train.formats import read_records
from train.masking import tokenize_conversation, tokenize_conversations
from train.tiny import build_tiny_tokenizer, default_corpus

from .test_masking import DATA, turn


@pytest.fixture(scope="module", params=["llama2", "chatml"])
def tokenizer(request):
    return build_tiny_tokenizer(default_corpus(), vocab_size=2048, chat_template=request.param)


def hand_written() -> list[list[dict]]:
    return [
        [turn("human", "List the files."), turn("gpt", "Thought: look.\nAction: ls")],
        [turn("system", "Be brief."), turn("human", "2 + 3?"), turn("gpt", "5", loss=False), turn("human", "x2?")]
        + [turn("gpt", "10")],
        [turn("human", " spaced "), turn("gpt", "  answer \n")],
        [turn("human", "q")],  # nothing to train
        [turn("human", "List the files."), turn("gpt", "Thought: look again.\nAction: ls -la")],  # same roles as #1
    ]


def test_a_batch_matches_one_at_a_time(tokenizer):
    convs = hand_written()
    for max_length in (4096, 12):  # and with truncation
        expected = [tokenize_conversation(tokenizer, c, max_length) for c in convs]
        assert tokenize_conversations(tokenizer, convs, max_length) == expected
    assert tokenize_conversations(tokenizer, [], 10) == []


def test_real_corpora_match_one_at_a_time(tokenizer):
    files = [DATA / "agentinstruct" / "db.json", *sorted((DATA / "general").glob("*.json"))]
    if not all(f.exists() for f in files):
        pytest.skip(reason=f"shared data not found under {DATA} (the ../shared/data folder beside the checkout)")
    convs = [r["conversations"] for f in files for r in read_records(f)[0][:60]]
    expected = [tokenize_conversation(tokenizer, c, 2048) for c in convs]
    assert tokenize_conversations(tokenizer, convs, 2048) == expected
    assert sum(e["truncated"] for e in expected) < len(expected)


def test_a_tokenizer_that_is_not_concatenation_safe_matches_too():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from train.tiny import CHATML_TEMPLATE, SPECIAL_TOKENS

    sp = Tokenizer(models.BPE(unk_token="<unk>"))
    sp.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    sp.decoder = decoders.Metaspace(prepend_scheme="first")
    sp.train_from_iterator(default_corpus(), trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL_TOKENS))
    tok = PreTrainedTokenizerFast(tokenizer_object=sp, eos_token="<|im_end|>", unk_token="<unk>")
    tok.chat_template = CHATML_TEMPLATE
    convs = hand_written()
    assert tokenize_conversations(tok, convs, 100) == [tokenize_conversation(tok, c, 100) for c in convs]


def test_bad_length_is_refused():
    with pytest.raises(ValueError, match="max_length"):
        tokenize_conversations(None, [], 0)
