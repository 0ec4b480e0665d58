"""Text side: tokenisation, a vocabulary built from the training split only, bag-of-words rows.

Building the vocabulary from test captions is a common leak (DATASETS.md, pitfalls);
:meth:`Vocabulary.build` takes the training texts only and maps everything else to ``<unk>``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str | Sequence[str]) -> list[str]:
    """Lower-case word tokens of a string; a list of words (tags) is lower-cased as it is."""
    if isinstance(text, str):
        return _TOKEN.findall(text.lower())
    return [str(w).lower() for w in text]


@dataclass
class Vocabulary:
    """Word ↔ index. Index 0 is ``<pad>``, 1 is ``<unk>``; then words by descending count."""

    words: list[str]

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, texts: Sequence[str | Sequence[str]], min_count: int = 1) -> "Vocabulary":
        counts = Counter(w for t in texts for w in tokenize(t))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + words)

    def encode(self, text: str | Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(w, unk) for w in tokenize(text)]

    def bow(self, texts: Sequence[str | Sequence[str]], binary: bool = True) -> np.ndarray:
        """(N, V) float32 bag-of-words rows (binary or counts); ``<pad>``/``<unk>`` columns stay 0."""
        out = np.zeros((len(texts), len(self)), dtype=np.float32)
        for i, t in enumerate(texts):
            for j in self.encode(t):
                if j > 1:
                    out[i, j] = 1.0 if binary else out[i, j] + 1.0
        return out

    def sequences(self, texts: Sequence[str | Sequence[str]], max_len: int,
                  dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
        """Token ids padded with ``<pad>`` (0) to ``max_len`` (longer texts are cut) and lengths."""
        ids = np.zeros((len(texts), max_len), dtype=dtype)
        lengths = np.zeros(len(texts), dtype=dtype)
        for i, t in enumerate(texts):
            seq = self.encode(t)[:max_len]
            ids[i, : len(seq)] = seq
            lengths[i] = len(seq)
        return ids, lengths

    def to_list(self) -> list[str]:
        return list(self.words)
