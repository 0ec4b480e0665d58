"""Load-time checks for the pitfalls users report (DATASETS.md): mismatched splits, unlabelled
items kept, vocabulary built with test text, train/query overlap, missing images or feature
rows. Each problem is a :class:`DataError` naming the file and what was found; softer findings
are returned as warnings (recorded with every result computed on the protocol).

Train/query overlap, indices and split counts are checked by :meth:`Protocol.validate`, missing
images by :meth:`Dataset.load`; this module adds the checks that need dataset metadata.
"""

from __future__ import annotations

import json

import numpy as np

from ...errors import DataError
from ..text import tokenize


def check_dataset(ds, protocol, *, text_source: str | None = None, image_source: str | None = None) -> list[str]:
    warnings: list[str] = []
    meta = ds.meta
    where = ds.root / "dataset.json" if ds.root else f"dataset {ds.name!r}"
    _check_standard(ds, protocol, where)
    if meta.get("labels_required"):
        empty = np.flatnonzero(ds.labels.sum(1) == 0)
        if empty.size:
            raise DataError(
                f"{ds.root / 'items.jsonl' if ds.root else ds.name}: {empty.size} item(s) have no label "
                f"(first: {ds.items[int(empty[0])]['id']!r}); the standard protocol keeps only labelled items"
            )
    feats = meta.get("features") or {}
    for kind in ("global", "regions", "text"):
        if kind in feats and ds.root is not None:
            path = ds.root / feats[kind]
            if not path.is_file():
                raise DataError(f"{path}: feature file listed in dataset.json is missing")
            arr = np.load(path, mmap_mode="r")
            rows = arr.shape[0]
            if rows != len(ds):
                raise DataError(f"{path}: has {rows} rows, expected one per item ({len(ds)})")
            from .base import nonfinite_rows

            bad = nonfinite_rows(arr)
            if bad.size:
                raise DataError(f"{path}: {bad.size} row(s) hold NaN or infinite values (first rows: "
                                f"{', '.join(str(int(i)) for i in bad[:5])}); fix the features or drop those items")
    if image_source == "features" and feats.get("missing"):
        used = np.unique(np.concatenate([protocol[s] for s in protocol.splits]))
        missing = np.intersect1d(np.asarray(feats["missing"], dtype=np.int64), used)
        if missing.size:
            report = feats.get("report", "the extraction report")
            raise DataError(
                f"{ds.root / report if ds.root else report}: {missing.size} item(s) used by protocol {protocol.name!r} have no "
                f"image features (their images failed to decode; first: {ds.items[int(missing[0])]['id']!r})"
            )
    warnings += _check_vocabulary(ds, protocol)
    if "text" in feats and ds.root is not None:
        warnings += _check_feature_columns(ds, protocol, ds.root / feats["text"])
    return warnings


def _check_standard(ds, protocol, where) -> None:
    std = ds.meta.get("standard")
    if not std:
        return
    ref = std.get("reference", "the published protocol")
    n = std.get("n_items")
    if n is not None and int(n) != len(ds):
        raise DataError(f"{where}: the dataset has {len(ds)} items but the standard {ds.name} release has {n} ({ref}); "
                        "re-prepare it from a complete download (or with --nonstandard)")
    counts = (std.get("protocols") or {}).get(protocol.name)
    if counts:
        for split, c in counts.items():
            if split in protocol.splits and len(protocol[split]) != int(c):
                raise DataError(
                    f"{ds.root / 'protocols' / (protocol.name + '.json') if ds.root else protocol.name}: split {split!r} has "
                    f"{len(protocol[split])} items but the standard {ds.name} protocol has {c} ({ref})"
                )


def _check_vocabulary(ds, protocol) -> list[str]:
    text = ds.meta.get("text") or {}
    if not text.get("vocabulary") or ds.root is None:
        return []
    path = ds.root / text["vocabulary"]
    if not path.is_file():
        raise DataError(f"{path}: vocabulary listed in dataset.json is missing")
    if text.get("protocol") != protocol.name:
        try:
            same = np.array_equal(np.sort(ds.protocol(text.get("protocol"))["train"]), np.sort(protocol["train"]))
        except DataError:
            same = False
        if not same:
            return [f"{text['vocabulary']} was built from the train split of protocol {text.get('protocol')!r}, not "
                    f"{protocol.name!r}; runs build their own vocabulary from {protocol.name!r}'s train split"]
    try:
        words = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid JSON (expected a list of words)") from None
    field = text.get("field")
    if not field or not ds.has_field(field):
        return []
    texts = ds.texts(field)
    seen: set[str] = set()
    for i in protocol["train"]:
        seen.update(tokenize(texts[i]))
    leaked = [w for w in words[2:] if w not in seen]
    if leaked:
        raise DataError(f"{path}: vocabulary leakage: {len(leaked)} word(s) never occur in the 'train' split of protocol "
                        f"{protocol.name!r} (first: {leaked[0]!r}); build the vocabulary from train text only")
    return []


def _check_feature_columns(ds, protocol, path) -> list[str]:
    """Columns of the text features that are non-zero only outside the training split suggest a
    vocabulary made with test text (e.g. a tag BoW computed on the whole collection)."""
    kind = (ds.meta.get("features") or {}).get("text_kind", "")
    if "lda" in kind.lower():  # dense topic vectors: every column is used everywhere
        return []
    x = np.load(path, mmap_mode="r")
    train = np.asarray(protocol["train"])
    in_train = np.zeros(x.shape[1], dtype=bool)
    anywhere = np.zeros(x.shape[1], dtype=bool)
    for s in range(0, x.shape[0], 8192):
        block = np.asarray(x[s : s + 8192]) != 0
        anywhere |= block.any(0)
    for s in range(0, len(train), 8192):
        in_train |= (np.asarray(x[np.sort(train[s : s + 8192])]) != 0).any(0)
    only_outside = np.flatnonzero(anywhere & ~in_train)
    if only_outside.size:
        return [f"possible vocabulary leakage: {only_outside.size} of {x.shape[1]} text feature columns are non-zero only "
                f"outside the 'train' split of protocol {protocol.name!r} (first: column {int(only_outside[0])})"]
    return []
