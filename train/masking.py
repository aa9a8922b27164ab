"""Tokenize a canonical conversation with the model's own chat template and mask the loss to assistant turns.

How the mask is built (any chat template, one pass per conversation):

1. Render the conversation twice with ``tokenizer.apply_chat_template``: once with every message's text replaced
   by a numbered sentinel (the *skeleton*: the template's own text between messages), once for real.
2. Walk the real text along the skeleton to find where each message's text sits (the template may have stripped
   it, so the stripped text is accepted too). This is linear in the text, with no re-rendering of prefixes.
3. A trained assistant turn covers its text plus the template text after it up to and including the first
   end-of-turn marker (``</s>``, ``<|im_end|>``, ...), so the model learns to stop.
4. Cut the text into alternating untrained / trained segments, tokenize them separately (one batched call,
   ``add_special_tokens=False``: the template already writes BOS) and concatenate; labels copy the ids of trained
   segments and are -100 elsewhere. The prompt segment therefore tokenizes exactly like the inference prompt
   (``add_generation_prompt=True``) when the template puts its generation prompt right before the reply.

Tokenizers that add a prefix space to every call (SentencePiece ``Metaspace``) cannot be tokenized piecewise;
for those the full text is tokenized once and tokens are labelled by their character offsets instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import TemplateError

from train.errors import MaskingError

IGNORE_INDEX = -100
ROLES = {"system": "system", "human": "user", "gpt": "assistant"}
# Text that closes an assistant turn in common templates; the tokenizer's eos token is always one too.
END_OF_TURN_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use code points: never produced by a template
_SENTINEL = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def tokenize_conversation(tokenizer: Any, conversations: list[dict[str, Any]], max_length: int) -> dict[str, Any]:
    """Return ``{"input_ids", "labels", "truncated"}`` for one canonical conversation.

    ``labels`` is -100 except on assistant (``gpt``) turns whose ``loss`` is true or None, and on the
    end-of-turn token after each of them. Sequences longer than ``max_length`` keep their start.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    messages, trained = _to_messages(conversations)
    text, spans = render_with_spans(tokenizer, messages, trained)
    if _concatenation_safe(tokenizer):
        input_ids, labels = _tokenize_segments(tokenizer, text, spans)
    else:
        input_ids, labels = _tokenize_by_offsets(tokenizer, text, spans)
    truncated = len(input_ids) > max_length
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length], "truncated": truncated}


def tokenize_conversations(
    tokenizer: Any, conversations: list[list[dict[str, Any]]], max_length: int
) -> list[dict[str, Any]]:
    """``tokenize_conversation`` over a batch: the same ids, labels and truncation for each conversation, for less
    CPU. The concatenation check is made once, the template's skeleton is rendered once per sequence of roles
    (it holds only sentinels, so the roles fix it), and the segments of all conversations go to the tokenizer in
    one call (the mix stage's tokenize step; about 2 ms of CPU per sample one at a time, see README Performance).
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    skeletons: dict[tuple[str, ...], str] = {}
    rendered = []
    for conversation in conversations:
        messages, trained = _to_messages(conversation)
        rendered.append(render_with_spans(tokenizer, messages, trained, skeletons=skeletons))
    if _concatenation_safe(tokenizer):
        pieces = [_segments(text, spans) for text, spans in rendered]
        flat = [s for segs in pieces for s, _ in segs]
        encoded = iter(tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else [])
        results = []
        for segs in pieces:
            input_ids: list[int] = []
            labels: list[int] = []
            for (_, train), ids in zip(segs, encoded, strict=False):
                input_ids += ids
                labels += ids if train else [IGNORE_INDEX] * len(ids)
            results.append((input_ids, labels))
    else:
        results = [_tokenize_by_offsets(tokenizer, text, spans) for text, spans in rendered]
    return [
        {"input_ids": ids[:max_length], "labels": labels[:max_length], "truncated": len(ids) > max_length}
        for ids, labels in results
    ]


def token_counter(tokenizer_path: str) -> Callable[[dict[str, Any]], int]:
    """``record -> tokens``: how many tokens a record's conversation takes in training (its chat-template
    rendering, uncut), for the filter's token budget."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)

    def count(record: dict[str, Any]) -> int:
        messages, _ = _to_messages(record["conversations"])
        return len(tokenizer(_render(tokenizer, messages), add_special_tokens=False)["input_ids"])

    return count


def render_with_spans(
    tokenizer: Any,
    messages: list[dict[str, str]],
    trained: list[bool],
    *,
    skeletons: dict[tuple[str, ...], str] | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages`` with the chat template; return the text and the character spans to train on.

    ``skeletons``: a cache of skeleton renders by sequence of roles, for a caller rendering many conversations
    with one tokenizer."""
    if any(_OPEN in m["content"] or _CLOSE in m["content"] for m in messages):
        raise MaskingError("a message contains the private-use characters U+E000/U+E001 used as masking sentinels")
    roles = tuple(m["role"] for m in messages)
    skeleton = skeletons.get(roles) if skeletons is not None else None
    if skeleton is None:
        skeleton = _render(tokenizer, [{**m, "content": f"{_OPEN}{i}{_CLOSE}"} for i, m in enumerate(messages)])
        if skeletons is not None:
            skeletons[roles] = skeleton
    text = _render(tokenizer, messages)
    parts = _SENTINEL.split(skeleton)  # [literal, index, literal, index, ..., literal]
    literals, order = parts[0::2], [int(i) for i in parts[1::2]]
    if len(set(order)) != len(order) or order != sorted(order):
        raise MaskingError(
            "the chat template repeats or reorders messages; masking needs each rendered once, in order"
        )
    missing = [i for i, t in enumerate(trained) if t and i not in order]
    if missing:
        raise MaskingError(f"the chat template dropped trained assistant turn(s) {missing}; check the conversation")
    spans: list[tuple[int, int]] = []
    pos = _expect(text, 0, literals[0])
    for k, i in enumerate(order):
        start, pos = pos, _locate(text, pos, messages[i]["content"], literals[k + 1], i)
        if trained[i]:
            spans.append((start, pos + _end_of_turn(literals[k + 1], tokenizer.eos_token)))
        pos = _expect(text, pos, literals[k + 1])
    if pos != len(text):
        raise MaskingError("the rendered conversation has text the masking walk did not account for")
    return text, spans


def _to_messages(conversations: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[bool]]:
    messages, trained = [], []
    for n, turn in enumerate(conversations, start=1):
        role = ROLES.get(turn.get("from"))
        if role is None:
            raise MaskingError(f"turn {n}: speaker {turn.get('from')!r} is not one of {', '.join(ROLES)}")
        messages.append({"role": role, "content": turn["value"]})
        loss = turn.get("loss")
        trained.append(role == "assistant" and (loss is None or bool(loss)))
    return messages, trained


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    except (TemplateError, ValueError) as err:
        raise MaskingError(f"the chat template rejected the conversation: {err}") from err


def _expect(text: str, pos: int, literal: str) -> int:
    if not text.startswith(literal, pos):
        raise MaskingError(f"the chat template renders differently around character {pos}; cannot locate turns")
    return pos + len(literal)


def _locate(text: str, pos: int, content: str, following: str, index: int) -> int:
    """End of message ``index``'s text, which starts at ``pos`` as given or stripped by the template."""
    for candidate in (content, content.strip()):
        end = pos + len(candidate)
        if text.startswith(candidate, pos) and text.startswith(following, end):
            return end
    raise MaskingError(f"the chat template changes the text of message {index} beyond stripping; cannot mask it")


def _end_of_turn(following: str, eos_token: str | None) -> int:
    """Length of the template text after a trained turn that is trained too: up to the first end-of-turn marker."""
    markers = (eos_token, *END_OF_TURN_MARKERS) if eos_token else END_OF_TURN_MARKERS
    ends = [i + len(m) for m in markers if (i := following.find(m)) >= 0]
    return min(ends, default=0)


def _segments(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    out, pos = [], 0
    for start, end in spans:
        out += [(text[pos:start], False), (text[start:end], True)]
        pos = end
    out.append((text[pos:], False))
    return [(s, t) for s, t in out if s]


def _tokenize_segments(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    segments = _segments(text, spans)
    encoded = tokenizer([s for s, _ in segments], add_special_tokens=False)["input_ids"]
    input_ids: list[int] = []
    labels: list[int] = []
    for (_, train), ids in zip(segments, encoded, strict=True):
        input_ids += ids
        labels += ids if train else [IGNORE_INDEX] * len(ids)
    return input_ids, labels


def _tokenize_by_offsets(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Label tokens lying wholly inside a trained span; a token straddling a boundary stays untrained."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels, k = [], 0
    for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        inside = k < len(spans) and spans[k][0] <= start and end <= spans[k][1] and end > start
        labels.append(token if inside else IGNORE_INDEX)
    return list(enc["input_ids"]), labels


def _concatenation_safe(tokenizer: Any) -> bool:
    """True if tokenizing pieces separately and concatenating gives back the text (no per-call prefix space)."""
    pieces = tokenizer(["ab", "cd"], add_special_tokens=False)["input_ids"]
    return tokenizer.decode(pieces[0] + pieces[1], clean_up_tokenization_spaces=False) == "abcd"
