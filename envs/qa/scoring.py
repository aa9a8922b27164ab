"""HotpotQA's answer metrics: exact match and token F1 after normalisation.

    normalize_answer("The Orvane Labs!")   # "orvane labs"
    exact_match("the Velford", "Velford")  # True
    f1_score("Velford city", "Velford")    # 0.666...

Normalisation follows HotpotQA's official evaluation script: lowercase, drop
punctuation, drop the articles a/an/the, collapse whitespace. As there, a yes/no
answer gets no partial credit from F1.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_NO_PARTIAL_CREDIT = {"yes", "no", "noanswer"}


def normalize_answer(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_score(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    if (predicted in _NO_PARTIAL_CREDIT or expected in _NO_PARTIAL_CREDIT) and predicted != expected:
        return 0.0
    common = sum((Counter(predicted.split()) & Counter(expected.split())).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted.split()), common / len(expected.split())
    return 2 * precision * recall / (precision + recall)
