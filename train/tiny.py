"""Build a tiny random Llama-architecture model and its tokenizer locally, saved in Hugging Face format.

Tests and the offline demo use it as the base model, so nothing is downloaded. The checkpoint loads with
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` like any hub model. With a
``Pretraining``, the fresh model is first trained briefly on generated general chat records, so that it starts
like a (very small) chat model rather than from random weights, as the paper's Llama-2-chat does.

Usage::

    python -c "from train.tiny import build_tiny_checkpoint; print(build_tiny_checkpoint('runs/tiny'))"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from train.corpus import generate_general_records
from train.errors import CheckpointError

ChatTemplateName = Literal["llama2", "chatml"]

# Written last into a finished checkpoint: its presence means "complete", its content says how it was built.
STAMP = "agenttune_tiny.json"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]

PRETRAIN_LOG = "pretrain.json"  # beside the stamp when the base was pretrained: its loss curve and time
# Pretraining records come from their own generator seed, so they are not the mix's generated general corpus
# (seeded with the run seed), whose held-out slice measures general ability.
PRETRAIN_SEED_OFFSET = 7_919
PRETRAIN_MAX_TOKENS = 512  # generated records are far shorter; a cap, not a packing length


@dataclass(frozen=True)
class Pretraining:
    """A short next-token training of the fresh tiny model on ``records`` generated general conversations
    (``train.corpus``), loss on the assistant turns as in fine-tuning: AdamW (0.9, 0.95), weight decay 0.1
    off norms, cosine decay after 5% warm-up, gradient clip 1.0, plain torch on this process's CPUs."""

    steps: int
    records: int = 4000
    batch_size: int = 32
    lr: float = 3e-3


# Llama-2 chat layout. Unlike Meta's template it does not strip message text (so masks decode to the exact turn
# text) and `add_generation_prompt` adds the space that precedes every assistant reply, so a prompt at inference
# ends exactly where the trained tokens start.
LLAMA2_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = none -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ bos_token + '[INST] ' }}"
    "{%- if loop.first and system is not none -%}{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}{%- endif -%}"
    "{{ message['content'] + ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' + message['content'] + ' ' + eos_token }}"
    "{%- else -%}{{ raise_exception('unsupported role ' + message['role'] + '; use system, user or assistant') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ ' ' }}{%- endif -%}"
)
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unsupported role ' + message['role'] + '; use system, user or assistant') }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
CHAT_TEMPLATES = {"llama2": LLAMA2_TEMPLATE, "chatml": CHATML_TEMPLATE}
# ChatML models stop on <|im_end|>; Llama-2 on </s>.
EOS_TOKENS = {"llama2": "</s>", "chatml": "<|im_end|>"}

# Agent-style text so the tokenizer learns merges for SQL, shell and ReAct keywords, not only chat prose.
AGENT_SNIPPETS = (
    "Thought: I need to query the table first.\nAction: Operation\n```sql\nSELECT * FROM `employees` WHERE "
    "`salary` > 5000 ORDER BY `name` ASC LIMIT 10;\n```",
    "INSERT INTO orders (id, customer, total) VALUES (1, 'Alice', 19.99);",
    "UPDATE products SET price = price * 1.1 WHERE category = 'books';",
    "DELETE FROM sessions WHERE expires_at < NOW();",
    "SELECT COUNT(*), AVG(score) FROM results GROUP BY team HAVING COUNT(*) >= 2;",
    "[('Paris', 2148000), ('Rome', 2873000)]",
    'Action: Answer\nFinal Answer: ["42"]',
    "Think: I should list the files.\nAct: bash\n```bash\nls -la /home/user | grep '.txt' | wc -l\n```",
    "The output of the OS:\n3\nAct: answer(3)",
    "def add(a: int, b: int) -> int:\n    return a + b\n",
    "for i in range(10):\n    print(i ** 2)  # {'key': [1, 2, 3]}\n",
    "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST] Hi! </s>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n",
)


def build_tiny_checkpoint(
    out_dir: str | Path,
    *,
    vocab_size: int = 2048,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    corpus: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    corpus_id: str | None = None,
    chat_template: ChatTemplateName = "llama2",
    max_position_embeddings: int = 4096,
    pretrain: Pretraining | None = None,
) -> Path:
    """Build (or reuse) a tiny Llama checkpoint at ``out_dir`` and return its path.

    Deterministic for the same arguments. If ``out_dir`` already holds a checkpoint built with the same
    arguments it is reused as is; the build happens in a temporary folder renamed into place when complete.
    The tokenizer's training text is ``corpus`` (default: ``default_corpus()``). When the text is costly to
    make, pass a function as ``corpus`` and a ``corpus_id`` that names it: a checkpoint with the same id is
    then reused without making the text at all. ``pretrain`` (steps > 0) trains the fresh model before it is
    saved (``pretrain_model``); its settings are part of the stamp, so a changed pretraining is a new model.
    """
    out_dir = Path(out_dir)
    texts: list[str] | None = None
    if corpus_id is None:
        texts = list((corpus() if callable(corpus) else corpus) if corpus is not None else default_corpus())
        corpus_id = "sha256:" + hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    settings = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "layers": layers,
        "heads": heads,
        "seed": seed,
        "chat_template": chat_template,
        "max_position_embeddings": max_position_embeddings,
        "corpus": corpus_id,
    }
    if pretrain is not None and pretrain.steps > 0:  # absent otherwise: earlier stamps stay valid
        settings["pretrain"] = asdict(pretrain)
    if _is_complete(out_dir, settings):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only; the checkpoint should read like any folder
    try:
        if texts is None:
            texts = list((corpus() if callable(corpus) else corpus) if corpus is not None else default_corpus())
        tokenizer = build_tiny_tokenizer(texts, vocab_size=vocab_size, chat_template=chat_template)
        tokenizer.save_pretrained(tmp)
        model = _build_model(tokenizer, settings)
        if "pretrain" in settings:
            curve = pretrain_model(model, tokenizer, Pretraining(**settings["pretrain"]), seed=seed)
            (tmp / PRETRAIN_LOG).write_text(json.dumps(curve, indent=1))
        model.save_pretrained(tmp)
        (tmp / STAMP).write_text(json.dumps(settings, indent=1, sort_keys=True))
        _move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not _is_complete(out_dir, settings):  # another process won a race with different settings
        raise CheckpointError(f"{out_dir} was built concurrently with different settings; choose another out_dir")
    return out_dir


def build_tiny_tokenizer(texts: Iterable[str], *, vocab_size: int, chat_template: ChatTemplateName = "llama2"):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for transformers, with a chat template.

    Byte-level means every string is encodable (no unknown tokens), whatever the corpus covered.
    A ``vocab_size`` of 256 + the special tokens gives a tokenizer with no merges: one token per byte.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if chat_template not in CHAT_TEMPLATES:
        raise CheckpointError(f"unknown chat_template {chat_template!r}; use one of {', '.join(CHAT_TEMPLATES)}")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token=EOS_TOKENS[chat_template],
        unk_token="<unk>",
        pad_token="<pad>",
        clean_up_tokenization_spaces=False,  # decode must give back the exact text
    )
    tokenizer.chat_template = CHAT_TEMPLATES[chat_template]
    return tokenizer


def default_corpus() -> list[str]:
    """The tokenizer's default training text: generated chat turns plus agent-style SQL/shell snippets."""
    texts = [t["value"] for r in generate_general_records(2000, seed=0) for t in r["conversations"]]
    return texts + list(AGENT_SNIPPETS) * 20


def pretrain_model(model: Any, tokenizer: Any, spec: Pretraining, *, seed: int) -> dict[str, Any]:
    """Train ``model`` in place on generated general records (see ``Pretraining``); returns its loss curve.

    Records are drawn in shuffled passes and padded per batch (they are a few dozen tokens each, so packing
    would gain little). Deterministic for the same arguments and thread count.
    """
    import torch
    import torch.nn.functional as F
    from transformers import get_scheduler

    from train.masking import IGNORE_INDEX, tokenize_conversation

    records = generate_general_records(spec.records, seed + PRETRAIN_SEED_OFFSET)
    samples = [tokenize_conversation(tokenizer, r["conversations"], PRETRAIN_MAX_TOKENS) for r in records]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "norm" in n]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=spec.lr, betas=(0.9, 0.95))
    warmup = max(1, round(0.05 * spec.steps))
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=warmup, num_training_steps=spec.steps)
    rng = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for _ in range(spec.steps):
        while len(order) < spec.batch_size:
            order += torch.randperm(len(samples), generator=rng).tolist()
        batch, order = [samples[i] for i in order[: spec.batch_size]], order[spec.batch_size :]
        width = max(len(s["input_ids"]) for s in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), IGNORE_INDEX)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, s in enumerate(batch):
            n = len(s["input_ids"])
            ids[row, :n], labels[row, :n], mask[row, :n] = torch.tensor(s["input_ids"]), torch.tensor(s["labels"]), 1
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "steps": spec.steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "first_loss": losses[0],
        "final_loss": sum(tail) / len(tail),  # mean of the last tenth of the steps
        "loss_every_10_steps": losses[::10],
    }


def _build_model(tokenizer: Any, settings: dict[str, Any]):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden_size"],
        intermediate_size=4 * settings["hidden_size"],
        num_hidden_layers=settings["layers"],
        num_attention_heads=settings["heads"],
        num_key_value_heads=settings["heads"],
        max_position_embeddings=settings["max_position_embeddings"],
        **ids,
    )
    torch.manual_seed(settings["seed"])
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(**ids)
    return model


def _is_complete(out_dir: Path, settings: dict[str, Any]) -> bool:
    """True if ``out_dir`` holds a finished checkpoint with ``settings``; raises if it holds something else."""
    stamp = out_dir / STAMP
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return False
    if not stamp.is_file():
        raise CheckpointError(
            f"{out_dir} exists but is not a tiny checkpoint built by agenttune (no {STAMP}); "
            "delete it or choose another out_dir"
        )
    found = json.loads(stamp.read_text())
    if found != settings:
        changed = sorted(k for k in settings.keys() | found.keys() if found.get(k) != settings.get(k))
        raise CheckpointError(
            f"{out_dir} holds a tiny checkpoint built with different settings ({', '.join(changed)}); "
            "delete it or choose another out_dir"
        )
    return True


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()  # an empty folder (e.g. made by a test fixture) is not a checkpoint
    try:
        os.rename(tmp, out_dir)
    except OSError:
        # Another process finished first; the caller checks that its checkpoint matches.
        if not (out_dir / STAMP).is_file():
            raise
