"""Everything a run needs from its data config: dataset, validated protocol, vocabulary (from
the training split only) and the tensors."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .dataset import Dataset
from .protocol import Protocol
from .tensors import TensorData
from .text import Vocabulary


@dataclass
class RunData:
    dataset: Dataset
    protocol: Protocol
    vocab: Vocabulary
    tensors: TensorData


def load_run_data(data_cfg: dict, vocab_words: list[str] | None = None) -> RunData:
    """Load the dataset at ``data_cfg["root"]`` with its protocol; build the vocabulary from the
    protocol's ``train`` items unless ``vocab_words`` (a saved vocabulary) is given."""
    root = data_cfg.get("root")
    if not root:
        raise ConfigError("data.root: no dataset folder given (pass --data DIR or set data.root)")
    ds = Dataset.load(root)
    proto = ds.protocol(data_cfg.get("protocol"))
    field = data_cfg["text_field"]
    if vocab_words is None:
        texts = ds.texts(field)
        vocab = Vocabulary.build([texts[i] for i in proto["train"]], min_count=int(data_cfg.get("min_count", 1)))
    else:
        vocab = Vocabulary(list(vocab_words))
    tensors = TensorData(ds, vocab, field, max_tokens=int(data_cfg.get("max_tokens", 32)),
                         image_source=data_cfg.get("image_source", "pixels"))
    return RunData(ds, proto, vocab, tensors)
