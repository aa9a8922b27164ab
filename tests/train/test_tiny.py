"""The tiny local checkpoint: loads like a hub model, generates, is deterministic and built once."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from train.errors import CheckpointError
from train.tiny import STAMP, build_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def test_round_trip_and_generate(tiny_dir):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.model_type == "llama" and model.config.max_position_embeddings >= 2048
    assert (tiny_dir / "model.safetensors").is_file()
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    assert len(tok) == model.config.vocab_size == 2048
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<s>[INST] What is 2 + 3? [/INST] "
    inputs = tok(prompt, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 4)


def test_tokenizer_covers_code_and_sql_without_unknowns(tiny_dir):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = "SELECT `a`, COUNT(*) FROM t WHERE x <> 'é' AND y ~ \"z\" {[|\\]} ; -- naïve ✓\n\tls -la | grep ^d"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == text


def test_chatml_template_and_eos(tmp_path):
    path = build_tiny_checkpoint(tmp_path / "chatml", chat_template="chatml", vocab_size=512, layers=1)
    tok = AutoTokenizer.from_pretrained(path)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>"
    assert AutoModelForCausalLM.from_pretrained(path).generation_config.eos_token_id == tok.eos_token_id


def test_deterministic_across_builds(tiny_dir, tmp_path):
    again = build_tiny_checkpoint(tmp_path / "again")
    assert (again / "tokenizer.json").read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    a = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(again).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_existing_checkpoint_is_reused_and_others_refused(tiny_dir, tmp_path):
    mtime = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_checkpoint(tiny_dir) == tiny_dir
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == mtime
    assert json.loads((tiny_dir / STAMP).read_text())["vocab_size"] == 2048
    with pytest.raises(CheckpointError, match="different settings \\(hidden_size\\)"):
        build_tiny_checkpoint(tiny_dir, hidden_size=32)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not a tiny checkpoint"):
        build_tiny_checkpoint(tmp_path / "other")
    assert not [p for p in tiny_dir.parent.iterdir() if ".tmp-" in p.name]  # no temp folders left behind


def test_pretraining_lowers_the_general_loss_and_is_part_of_the_stamp(tmp_path):
    from train.corpus import generate_general_records
    from train.masking import tokenize_conversation
    from train.tiny import PRETRAIN_LOG, Pretraining

    corpus = [t["value"] for r in generate_general_records(200, 0) for t in r["conversations"]]
    small = {
        "vocab_size": 512,
        "hidden_size": 32,
        "layers": 1,
        "heads": 2,
        "corpus": corpus,
        "chat_template": "chatml",
    }
    plain = build_tiny_checkpoint(tmp_path / "plain", **small)
    spec = Pretraining(steps=40, records=200, batch_size=8, lr=5e-3)
    trained = build_tiny_checkpoint(tmp_path / "pre", pretrain=spec, **small)
    curve = json.loads((trained / PRETRAIN_LOG).read_text())
    assert curve["steps"] == 40 and curve["final_loss"] < curve["first_loss"]
    assert json.loads((trained / STAMP).read_text())["pretrain"] == {
        "steps": 40,
        "records": 200,
        "batch_size": 8,
        "lr": 5e-3,
    }
    assert not (plain / PRETRAIN_LOG).exists() and "pretrain" not in json.loads((plain / STAMP).read_text())

    def heldout_loss(path) -> float:  # records the pretraining never drew (another seed)
        tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
        losses = []
        for r in generate_general_records(20, seed=99):
            s = tokenize_conversation(tok, r["conversations"], 256)
            ids, labels = torch.tensor([s["input_ids"]]), torch.tensor([s["labels"]])
            with torch.no_grad():
                losses.append(model(input_ids=ids, labels=labels).loss.item())
        return sum(losses) / len(losses)

    assert heldout_loss(trained) < heldout_loss(plain) - 0.5
    # the same settings reuse the checkpoint; other pretraining settings are another model
    before = (trained / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_checkpoint(tmp_path / "pre", pretrain=spec, **small) == trained
    assert (trained / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(CheckpointError):
        build_tiny_checkpoint(tmp_path / "pre", pretrain=Pretraining(steps=41, records=200, batch_size=8), **small)
