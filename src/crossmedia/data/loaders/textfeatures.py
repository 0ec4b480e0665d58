"""Text features written with a prepared dataset: tokenisation (:func:`crossmedia.data.text.tokenize`),
a vocabulary built from the **training split only** (of the dataset's default protocol), and

- tag datasets: bag-of-words rows (binary) and tf-idf rows, as sparse ``.npz`` matrices;
- caption datasets: token-id sequences (``tokens.npy`` (N, L) int32, ``lengths.npy``), and for
  items with several captions every caption's (``all_tokens.npy``, ``all_lengths.npy``,
  ``caption_item.npy`` = the item each caption belongs to).

Column ``j`` of every matrix is word ``j`` of ``text/vocab.json`` (0 = ``<pad>``, 1 = ``<unk>``,
both always 0 in BoW/tf-idf rows), the same indexing as :class:`crossmedia.data.text.Vocabulary`.

tf-idf: ``tf`` = the BoW value (binary for tags, counts for captions); ``idf(w) = ln((1 + N) /
(1 + df(w))) + 1`` with ``N``, ``df`` counted on the training split only; rows L2-normalised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ...io import atomic_path, write_json
from ..text import Vocabulary

TFIDF_RULE = "tf = BoW value; idf = ln((1 + N_train) / (1 + df_train)) + 1; rows L2-normalised"


def build_vocabulary(texts: Sequence, train_idx: np.ndarray, min_count: int = 1, tokenizer=None) -> Vocabulary:
    """Vocabulary of the training texts only (words by descending count)."""
    return Vocabulary.build([texts[i] for i in train_idx], min_count=min_count, tokenizer=tokenizer)


def bow_matrix(vocab: Vocabulary, texts: Sequence, binary: bool = True) -> sp.csr_matrix:
    """The rows of :meth:`Vocabulary.bow` as a scipy CSR matrix (same values)."""
    rows, cols, vals = [], [], []
    vocab.prepare_unseen(texts)
    for i, t in enumerate(texts):
        bag = vocab.bag(t, binary)
        if not bag:
            continue
        rows.append(np.full(len(bag), i))
        cols.append(np.fromiter(bag.keys(), dtype=np.int64, count=len(bag)))
        vals.append(np.fromiter(bag.values(), dtype=np.float32, count=len(bag)))
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, np.int64)
        v = np.zeros(0, np.float32)
    return sp.csr_matrix((v, (r, c)), shape=(len(texts), len(vocab)), dtype=np.float32)


def idf_weights(bow: sp.csr_matrix, train_idx: np.ndarray) -> np.ndarray:
    train = bow[np.asarray(train_idx)]
    df = np.asarray((train > 0).sum(0)).ravel().astype(np.float64)
    idf = np.log((1.0 + train.shape[0]) / (1.0 + df)) + 1.0
    idf[:2] = 0.0  # <pad>, <unk>
    return idf.astype(np.float32)


def tfidf_matrix(bow: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    m = sp.csr_matrix(bow.multiply(idf[None, :]), dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)


def token_sequences(vocab: Vocabulary, texts: Sequence, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    return vocab.sequences(texts, max_len, dtype=np.int32)


def _save_npz(path: Path, m: sp.csr_matrix) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            sp.save_npz(f, m)


def write_text_outputs(root: Path, ds, protocol, text_field: str | None, opts) -> dict | None:
    """Write ``text/`` for ``ds`` (vocabulary from ``protocol``'s train split); return the
    ``dataset.json`` ``text`` entry, or None for datasets without raw text."""
    if not text_field or not ds.has_field(text_field):
        return None
    texts = ds.texts(text_field)
    train = protocol["train"]
    vocab = build_vocabulary(texts, train, min_count=opts.vocab_min_count, tokenizer=ds.meta.get("tokenizer"))
    out = root / "text"
    out.mkdir(exist_ok=True)
    write_json(out / "vocab.json", vocab.to_list())
    meta = {
        "field": text_field,
        "vocabulary": "text/vocab.json",
        "vocabulary_size": len(vocab) - 2,
        "vocabulary_rule": f"words of the '{text_field}' field of the 'train' split of protocol {protocol.name!r} "
                           f"with count >= {opts.vocab_min_count}; index 0 <pad>, 1 <unk>",
        "protocol": protocol.name,
        "tokenizer": vocab.tokenizer.spec,
    }
    if text_field == "tags":
        bow = bow_matrix(vocab, texts, binary=True)
        idf = idf_weights(bow, train)
        _save_npz(out / "bow.npz", bow)
        _save_npz(out / "tfidf.npz", tfidf_matrix(bow, idf))
        np.save(out / "idf.npy", idf)
        meta.update(bow="text/bow.npz", tfidf="text/tfidf.npz", idf="text/idf.npy", tfidf_rule=TFIDF_RULE,
                    bow_rule="binary: 1 if the tag is present")
    else:
        tokens, lengths = token_sequences(vocab, texts, opts.max_tokens)
        np.save(out / "tokens.npy", tokens)
        np.save(out / "lengths.npy", lengths)
        meta.update(tokens="text/tokens.npy", lengths="text/lengths.npy", max_tokens=int(opts.max_tokens))
        if ds.has_field("captions"):  # every caption of every item (COCO, Flickr30K, Pascal Sentence)
            caps, owner = [], []
            for i, it in enumerate(ds.items):
                caps += list(it["captions"])
                owner += [i] * len(it["captions"])
            all_tokens, all_lengths = token_sequences(vocab, caps, opts.max_tokens)
            np.save(out / "all_tokens.npy", all_tokens)
            np.save(out / "all_lengths.npy", all_lengths)
            np.save(out / "caption_item.npy", np.asarray(owner, dtype=np.int64))
            meta.update(all_tokens="text/all_tokens.npy", all_lengths="text/all_lengths.npy",
                        caption_item="text/caption_item.npy")
    return meta
