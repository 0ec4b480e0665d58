"""When is a result relevant to a free-text query? One rule, used by ``crossmedia search``,
``crossmedia explain`` and the demo's pictures.

A query *names* a label when all the words of the label's name occur, in order, inside one
phrase of the query. Phrases are split at punctuation, conjunctions (``and``, ``or``, ``with``,
``but``) and spatial words (``above``, ``below``, ``left``, ``next`` …), so in "a red circle and a
blue square" the colour binds to the shape of its own object: the query names *red circle* and
*blue square*, not *blue circle*. A result is relevant when its labels share one with the labels
the query names. A query that names no label has no relevance judgement (results shown as
"unknown"); synonyms are not resolved ("a red disc" names nothing).

For a query given as a dataset item the rule is the evaluation's: the result shares a label with
the query item.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..data.text import tokenize

__all__ = ["FREE_TEXT_RULE", "ITEM_RULE", "query_phrases", "named_labels", "relevant"]

FREE_TEXT_RULE = ("shares a label the query names (all the label's words, in order, within one phrase of the query: "
                  "colour and shape bound to the same object)")
ITEM_RULE = "shares a label with the query item"

#: words that end a phrase: an attribute before them does not bind to a noun after them
PHRASE_BREAKS = frozenset({
    "and", "or", "with", "but", "plus", "above", "below", "under", "over", "beneath", "beside", "behind", "near",
    "next", "left", "right", "between", "top", "bottom", "than", "while", "without",
})
_PUNCT = re.compile(r"[,.;:!?()\[\]/|]+")


def query_phrases(query: str) -> list[list[str]]:
    """The query's tokens cut into phrases at punctuation and :data:`PHRASE_BREAKS`."""
    phrases: list[list[str]] = []
    for part in _PUNCT.split(query):
        cur: list[str] = []
        for w in tokenize(part):
            if w in PHRASE_BREAKS:
                if cur:
                    phrases.append(cur)
                cur = []
            else:
                cur.append(w)
        if cur:
            phrases.append(cur)
    return phrases


def _in_order(words: Sequence[str], phrase: Sequence[str]) -> bool:
    it = iter(phrase)
    return all(any(w == p for p in it) for w in words)


def named_labels(label_names: Sequence[str], query: str) -> np.ndarray:
    """(C,) bool: the labels ``query`` names (see the module's rule)."""
    phrases = query_phrases(query)
    out = np.zeros(len(label_names), dtype=bool)
    for j, name in enumerate(label_names):
        words = tokenize(name)
        out[j] = bool(words) and any(_in_order(words, p) for p in phrases)
    return out


def relevant(query_labels: np.ndarray | None, item_labels: np.ndarray) -> np.ndarray | None:
    """(N,) bool: items (rows of multi-hot ``item_labels``) sharing a label with ``query_labels``;
    None when the query names no label (no judgement)."""
    if query_labels is None or not np.asarray(query_labels).any():
        return None
    return (np.asarray(item_labels, dtype=np.int64) @ np.asarray(query_labels, dtype=np.int64)) > 0
