"""Everything a run needs from its data config: dataset, validated protocol, vocabulary (from
the training split only) and the tensors."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, DataError
from .dataset import TEXT_FIELDS, Dataset
from .protocol import Protocol
from .tensors import TensorData
from .text import Tokenizer, Vocabulary, resolve_tokenizer


@dataclass
class RunData:
    dataset: Dataset
    protocol: Protocol
    vocab: Vocabulary
    tensors: TensorData
    text_field: str = "tags"  # the resolved data.text_field (tags, caption, tokens or features)
    vocab_source: str = ""  # where the vocabulary came from (recorded in run.json)


def default_text_field(ds: Dataset) -> str:
    """The text field a run reads when ``data.text_field`` is not set: the field the dataset's
    prepared vocabulary was built from, else ``tags``, else the first field the dataset lists in
    ``text_fields`` (or carries), else ``features`` for datasets whose text is precomputed vectors."""
    prepared = (ds.meta.get("text") or {}).get("field")
    if prepared in TEXT_FIELDS and ds.has_field(prepared):
        return prepared
    if ds.has_field("tags"):
        return "tags"
    for f in list(ds.meta.get("text_fields") or []) + list(TEXT_FIELDS):
        if f in TEXT_FIELDS and ds.has_field(f):
            return f
    if ds.has_features("text"):
        return "features"
    raise DataError(f"{ds.root}: the items carry no text (no caption, tags or tokens field) and the dataset has no "
                    "text features")


def _prepared_vocabulary(ds: Dataset, field: str, protocol: Protocol) -> tuple[list[str], str] | None:
    """The vocabulary ``crossmedia data prepare`` wrote (``text/vocab.json``) when it was built
    from ``field`` on the train split of ``protocol``; else None."""
    import json

    meta = ds.meta.get("text") or {}
    rel = meta.get("vocabulary")
    if not rel or meta.get("field") != field or meta.get("protocol", protocol.name) != protocol.name or ds.root is None:
        return None
    path = ds.root / rel
    try:
        words = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: the prepared vocabulary listed in dataset.json is missing or not valid JSON") from None
    if not (isinstance(words, list) and len(words) >= 2 and all(isinstance(w, str) for w in words)):
        raise DataError(f"{path}: expected a JSON list of words starting with <pad>, <unk>")
    return words, f"prepared: {rel} ({meta.get('vocabulary_rule', 'from the train split')})"


def load_run_data(data_cfg: dict, vocab_words: list[str] | None = None) -> RunData:
    """Load the dataset at ``data_cfg["root"]`` with its protocol and the vocabulary: ``vocab_words``
    (a run's saved vocabulary) when given, else the dataset's prepared vocabulary (``data
    prepare``'s ``text/vocab.json``, built from the same field and protocol) unless
    ``data.min_count`` is set, else one built from the protocol's ``train`` items. An unset
    ``data.text_field`` becomes :func:`default_text_field`.

    Text comes from the items' words (``data.text_field`` tags/caption/tokens) or, with
    ``data.text_field = "features"`` — and for datasets whose text is only precomputed features
    (Wikipedia's LDA vectors) — from the dataset's ``text`` features, whose columns then form the
    "vocabulary". The load-time checks of :mod:`crossmedia.data.loaders.checks` run here; their
    warnings are added to the protocol's warnings (recorded with every result)."""
    from .loaders.checks import check_dataset

    root = data_cfg.get("root")
    if not root:
        raise ConfigError("data.root: no dataset folder given (pass --data DIR or set data.root)")
    image_source = data_cfg.get("image_source", "pixels")
    ds = Dataset.load(root, check_files=image_source == "pixels")  # runs on features need no image files
    proto = ds.protocol(data_cfg.get("protocol"))
    field = data_cfg.get("text_field") or default_text_field(ds)
    if field in TEXT_FIELDS and not ds.has_field(field) and any(ds.has_field(f) for f in TEXT_FIELDS):
        have = [f for f in TEXT_FIELDS if ds.has_field(f)] + (["features"] if ds.has_features("text") else [])
        raise ConfigError(f"data.text_field={field}: the items of {ds.root} have no {field!r} field "
                          f"(they have: {', '.join(have) or 'no text'}; set data.text_field={have[0] if have else '...'})")
    text_source = "features" if field == "features" or (
        not any(ds.has_field(f) for f in TEXT_FIELDS) and ds.has_features("text")) else "words"
    min_count = data_cfg.get("min_count")
    if text_source == "features":
        dim = int(ds.features("text").shape[1])
        words = list(vocab_words) if vocab_words is not None else text_feature_names(ds, dim)
        if len(words) != dim:
            raise DataError(f"{ds.root}: the run's vocabulary has {len(words)} entries but the text features have {dim} columns")
        vocab, source = Vocabulary(words), "the columns of the dataset's text features"
    else:
        texts = ds.texts(field)
        train_texts = [texts[i] for i in proto["train"]]
        tok = resolve_tokenizer(data_cfg.get("tokenizer"), dataset_tokenizer(ds), train_texts)
        if vocab_words is not None:
            vocab, source = Vocabulary(list(vocab_words), tok), "the run's saved vocabulary"
        elif (min_count is None and Tokenizer.parse(dataset_tokenizer(ds)).spec == tok.spec
              and (prepared := _prepared_vocabulary(ds, field, proto)) is not None):
            # the prepared vocabulary only when it was split into words the way this run splits them
            vocab, source = Vocabulary(prepared[0], tok), prepared[1]
        else:
            min_count = int(min_count or 1)
            vocab = Vocabulary.build(train_texts, min_count=min_count, tokenizer=tok)
            source = f"built from the {field!r} field of the train split, words with count >= {min_count}"
    if text_source == "words":
        from .unseen import unseen_words_from_config

        vocab.unseen = unseen_words_from_config(data_cfg, vocab)
    warnings = check_dataset(ds, proto, text_source=text_source, image_source=image_source)
    if text_source == "words":
        texts = ds.texts(field)
        if not any(t.strip() if isinstance(t, str) else len(t) for t in (texts[int(i)] for i in proto["train"])):
            msg = (f"every training item's {field!r} text is empty: the text side learns nothing (use another "
                   "data.text_field?)")
            warnings.append(msg)
            import sys

            print(f"warning: {msg}", file=sys.stderr)
    proto.warnings.extend(w for w in warnings if w not in proto.warnings)
    tensors = TensorData(ds, vocab, field, max_tokens=int(data_cfg.get("max_tokens", 32)),
                         image_source=image_source, text_source=text_source,
                         image_size=data_cfg.get("image_size"), loader=str(data_cfg.get("loader") or "memory"))
    return RunData(ds, proto, vocab, tensors, text_field=field, vocab_source=source)


def text_feature_names(ds: Dataset, dim: int) -> list[str]:
    """Column names of a dataset's text features (the "vocabulary" of feature-text runs)."""
    kind = str(ds.meta.get("features", {}).get("text_kind", "text")).split()[0].lower() or "text"
    return [f"<{kind}:{j}>" for j in range(dim)]


def dataset_tokenizer(ds: Dataset) -> str | None:
    """The tokenizer the dataset recorded (``dataset.json`` ``tokenizer``, or that of its prepared
    vocabulary), None when it recorded none."""
    return ds.meta.get("tokenizer") or (ds.meta.get("text") or {}).get("tokenizer")
