"""Everything a run needs from its data config: dataset, validated protocol, vocabulary (from
the training split only) and the tensors."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, DataError
from .dataset import TEXT_FIELDS, Dataset
from .protocol import Protocol
from .tensors import TensorData
from .text import Vocabulary, resolve_tokenizer


@dataclass
class RunData:
    dataset: Dataset
    protocol: Protocol
    vocab: Vocabulary
    tensors: TensorData


def load_run_data(data_cfg: dict, vocab_words: list[str] | None = None) -> RunData:
    """Load the dataset at ``data_cfg["root"]`` with its protocol; build the vocabulary from the
    protocol's ``train`` items unless ``vocab_words`` (a saved vocabulary) is given.

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
    field = data_cfg["text_field"]
    text_source = "features" if field == "features" or (
        not any(ds.has_field(f) for f in TEXT_FIELDS) and ds.has_features("text")) else "words"
    if text_source == "features":
        dim = int(ds.features("text").shape[1])
        words = list(vocab_words) if vocab_words is not None else text_feature_names(ds, dim)
        if len(words) != dim:
            raise DataError(f"{ds.root}: the run's vocabulary has {len(words)} entries but the text features have {dim} columns")
        vocab = Vocabulary(words)
    else:
        texts = ds.texts(field)
        train_texts = [texts[i] for i in proto["train"]]
        tok = resolve_tokenizer(data_cfg.get("tokenizer"), dataset_tokenizer(ds), train_texts)
        if vocab_words is None:
            vocab = Vocabulary.build(train_texts, min_count=int(data_cfg.get("min_count", 1)), tokenizer=tok)
        else:
            vocab = Vocabulary(list(vocab_words), tok)
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
    return RunData(ds, proto, vocab, tensors)


def text_feature_names(ds: Dataset, dim: int) -> list[str]:
    """Column names of a dataset's text features (the "vocabulary" of feature-text runs)."""
    kind = str(ds.meta.get("features", {}).get("text_kind", "text")).split()[0].lower() or "text"
    return [f"<{kind}:{j}>" for j in range(dim)]


def dataset_tokenizer(ds: Dataset) -> str | None:
    """The tokenizer the dataset recorded (``dataset.json`` ``tokenizer``, or that of its prepared
    vocabulary), None when it recorded none."""
    return ds.meta.get("tokenizer") or (ds.meta.get("text") or {}).get("tokenizer")
