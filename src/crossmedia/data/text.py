"""Text side: tokenisation, a vocabulary built from the training split only, bag-of-words rows.

Building the vocabulary from test captions is a common leak (DATASETS.md, pitfalls);
:meth:`Vocabulary.build` takes the training texts only and maps everything else to ``<unk>``.

Tokenizers (the ``data.tokenizer`` setting; one :class:`Tokenizer` is recorded with the dataset
and the run and used identically at prepare, train and query time):

``ascii``
    the original rule: lower-case ``[a-z0-9]+('[a-z]+)?``; every other character is dropped;
    a tag list is lower-cased as it is. Runs that recorded no tokenizer used this one.
``words``
    word rule for space-separated languages (English, German, French, Spanish, …): NFKC,
    case-folded runs of letters/digits (any script) with inner apostrophes; a tag is split the
    same way.
``jieba``
    Chinese word segmentation (the ``jieba`` package, extra ``cjk``) of CJK runs, the word rule
    elsewhere.
``chars:N``
    character n-grams (1..N, default 2) of runs of scripts written without spaces (Han, kana,
    Thai, …), the word rule elsewhere.
``auto``
    detected from the data by :func:`detect_tokenizer`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # crossmedia.data.unseen imports this module
    from .unseen import UnseenWords

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# scripts written without spaces between words: CJK ideographs (+ext. A, compatibility), kana, Thai, Lao, Khmer, Myanmar
_NOSPACE = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_NOSPACE_RUN = re.compile(f"[{_NOSPACE}]+")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff]")
KINDS = ("ascii", "words", "jieba", "chars")


@dataclass(frozen=True)
class Tokenizer:
    """A tokenizer by name (see the module docs); ``spec`` round-trips through :meth:`parse`."""

    kind: str = "words"
    n: int = 2  # chars: longest n-gram

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"data.tokenizer: expected one of auto, {', '.join(KINDS)} (chars:N), got {self.kind!r}")
        if self.kind == "chars" and not 1 <= int(self.n) <= 4:
            raise ConfigError(f"data.tokenizer: chars:N needs N in 1..4, got {self.n}")

    @property
    def spec(self) -> str:
        return f"chars:{self.n}" if self.kind == "chars" else self.kind

    @classmethod
    def parse(cls, spec: "str | Tokenizer | None") -> "Tokenizer":
        """``"words"``, ``"ascii"``, ``"jieba"``, ``"chars"`` / ``"chars:3"``; None → ``ascii``
        (what runs and datasets that recorded no tokenizer were made with)."""
        if isinstance(spec, Tokenizer):
            return spec
        if spec is None:
            return cls("ascii")
        text = str(spec).strip().lower()
        kind, _, n = text.partition(":")
        if kind == "chars":
            try:
                return cls("chars", int(n) if n else 2)
            except ValueError:
                raise ConfigError(f"data.tokenizer {spec!r}: expected chars:N with an integer N") from None
        if n:
            raise ConfigError(f"data.tokenizer {spec!r}: only chars takes a parameter (chars:N)")
        if kind == "jieba":
            _jieba()  # fail early, with the install hint
        return cls(kind)

    def __call__(self, text: "str | Sequence[str]") -> list[str]:
        if self.kind == "ascii":
            if isinstance(text, str):
                return _TOKEN.findall(text.lower())
            return [str(w).lower() for w in text]
        if isinstance(text, str):
            return self._tokens(text)
        return [t for w in text for t in self._tokens(str(w))]

    def _tokens(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        if self.kind == "words":
            return _WORD.findall(text)
        out: list[str] = []
        for word in _WORD.findall(text):
            pos = 0
            for m in _NOSPACE_RUN.finditer(word):
                if m.start() > pos:
                    out.append(word[pos:m.start()])
                out += self._segment(m.group())
                pos = m.end()
            if pos < len(word):
                out.append(word[pos:])
        return out

    def _segment(self, run: str) -> list[str]:
        if self.kind == "jieba":
            return [w for w in _jieba().lcut(run, HMM=False) if w.strip()]
        grams = []
        for k in range(1, int(self.n) + 1):
            grams += [run[i:i + k] for i in range(len(run) - k + 1)]
        return grams


_JIEBA = None


def _jieba():
    global _JIEBA
    if _JIEBA is None:
        try:
            import logging

            import jieba
        except ImportError:
            raise ConfigError("data.tokenizer jieba: the jieba package is not installed "
                              "(pip install 'crossmedia[cjk]'), or use data.tokenizer=chars:2") from None
        jieba.setLogLevel(logging.WARNING)
        _JIEBA = jieba
    return _JIEBA


def detect_tokenizer(texts: Sequence["str | Sequence[str]"], sample: int = 5000) -> Tokenizer:
    """``words`` unless at least 30 % of the letters are in scripts written without spaces; then
    ``jieba`` for mostly-Han text (Chinese) when jieba is installed, ``chars:2`` otherwise (e.g.
    Japanese, whose kana jieba does not segment)."""
    letters = nospace = han = kana = 0
    for t in list(texts)[:sample]:
        s = t if isinstance(t, str) else " ".join(map(str, t))
        for ch in s:
            if ch.isalpha():
                letters += 1
        nospace += sum(len(m) for m in _NOSPACE_RUN.findall(s))
        han += len(_HAN.findall(s))
        kana += len(_KANA.findall(s))
    if not letters or nospace < 0.3 * letters:
        return Tokenizer("words")
    if han >= 0.8 * nospace and kana < 0.05 * nospace:
        try:
            _jieba()
            return Tokenizer("jieba")
        except ConfigError:
            pass
    return Tokenizer("chars", 2)


def resolve_tokenizer(setting: "str | None", recorded: "str | None", texts) -> Tokenizer:
    """The tokenizer of a run or a prepare step: an explicit ``setting`` wins; ``auto``/None
    takes the one the dataset recorded, else detects it from ``texts``."""
    if setting not in (None, "", "auto"):
        return Tokenizer.parse(setting)
    if recorded:
        return Tokenizer.parse(recorded)
    return detect_tokenizer(texts)


def coverage(texts: Sequence["str | Sequence[str]"], tokenizer: Tokenizer) -> dict:
    """How much of the text the tokenizer keeps: ``dropped_share`` = non-space characters not in
    any token / all non-space characters, ``empty`` = texts with no token (of non-empty ones)."""
    total = kept = empty = nonempty = 0
    for t in texts:
        s = t if isinstance(t, str) else " ".join(map(str, t))
        chars = sum(1 for ch in s if not ch.isspace() and unicodedata.category(ch)[0] in "LN")
        if not s.strip():
            continue
        nonempty += 1
        toks = tokenizer(t)
        total += chars
        if tokenizer.kind == "chars":  # n-grams overlap: count the characters of the 1-grams
            kept += sum(len(w) for w in toks if len(w) == 1 or not _NOSPACE_RUN.fullmatch(w))
        else:
            kept += sum(len(w) for w in toks)
        if not toks:
            empty += 1
    dropped = max(0, total - kept)
    return {"texts": nonempty, "empty": empty, "characters": total,
            "dropped_share": round(dropped / total, 4) if total else 0.0}


def coverage_warnings(cov: dict, field: str, tokenizer: Tokenizer, max_dropped: float = 0.2,
                      max_empty: float = 0.02) -> list[str]:
    out = []
    if cov["dropped_share"] > max_dropped:
        out.append(f"text field {field!r}: tokenizer {tokenizer.spec} drops {cov['dropped_share']:.0%} of the letters/digits "
                   f"(try data.tokenizer=words, jieba or chars:2)")
    if cov["texts"] and cov["empty"] > max_empty * cov["texts"]:
        out.append(f"text field {field!r}: {cov['empty']} of {cov['texts']} texts have no token under tokenizer {tokenizer.spec}")
    return out


def tokenize(text: "str | Sequence[str]", tokenizer: "Tokenizer | str | None" = None) -> list[str]:
    """Tokens of a string (or a tag list) under ``tokenizer`` (default ``ascii``: lower-case
    word tokens; a list of words is lower-cased as it is)."""
    return Tokenizer.parse(tokenizer)(text)


@dataclass
class Vocabulary:
    """Word ↔ index. Index 0 is ``<pad>``, 1 is ``<unk>``; then words by descending count."""

    words: list[str]
    tokenizer: Tokenizer = Tokenizer("ascii")
    #: maps tokens the vocabulary lacks onto its words in :meth:`bag` (``data.unseen_words``,
    #: :class:`crossmedia.data.unseen.UnseenWords`); None: they are dropped
    unseen: "UnseenWords | None" = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        self.tokenizer = Tokenizer.parse(self.tokenizer)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, texts: Sequence[str | Sequence[str]], min_count: int = 1,
              tokenizer: "Tokenizer | str | None" = None) -> "Vocabulary":
        tok = Tokenizer.parse(tokenizer)
        counts = Counter(w for t in texts for w in tok(t))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + words, tok)

    def tokenize(self, text: str | Sequence[str]) -> list[str]:
        return self.tokenizer(text)

    def encode(self, text: str | Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(w, unk) for w in self.tokenizer(text)]

    def bag(self, text: str | Sequence[str], binary: bool = True) -> dict[int, float]:
        """One text's bag of words, id → value: 1 per word (``binary``) or its count, plus, with
        :attr:`unseen` set, the weights its unseen tokens add (never ``<pad>``/``<unk>``)."""
        toks = self.tokenizer(text)
        out: dict[int, float] = {}
        for w in toks:
            j = self.index.get(w, 1)
            if j > 1:
                out[j] = 1.0 if binary else out.get(j, 0.0) + 1.0
        if self.unseen is not None:
            out.update(self.unseen.weights(toks))
        return out

    def prepare_unseen(self, texts: Sequence[str | Sequence[str]]) -> None:
        """Map all unseen tokens of ``texts`` at once (batched) before they are read one by one."""
        if self.unseen is not None:
            self.unseen.prepare(w for t in texts for w in self.tokenizer(t))

    def bow(self, texts: Sequence[str | Sequence[str]], binary: bool = True) -> np.ndarray:
        """(N, V) float32 bag-of-words rows (:meth:`bag`); ``<pad>``/``<unk>`` columns stay 0."""
        out = np.zeros((len(texts), len(self)), dtype=np.float32)
        self.prepare_unseen(texts)
        for i, t in enumerate(texts):
            for j, v in self.bag(t, binary).items():
                out[i, j] = v
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
