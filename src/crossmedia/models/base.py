"""What every retrieval model offers the trainer, the evaluator and the index.

A model encodes a batch of images and a batch of texts into retrieval representations, says
how a query representation is scored against a database representation (a metrics scorer:
Hamming over binary codes, AQD over quantization codes, cosine over real vectors), and
computes its training losses for a batch. Models with alternating optimisation (DCMH's
binary-code step, CMSL's codebook/ICM step) hook ``on_epoch_start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class DataInfo:
    """Facts about the training data a model is built for (saved with the checkpoint)."""

    n_labels: int
    vocab: list[str]
    image_size: int | None = None
    image_channels: int = 3
    text_field: str = "tags"
    max_tokens: int = 32
    image_feature_dim: int | None = None  # precomputed features instead of pixels
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TrainContext:
    """What a model may look at while training: the run's data (dataset, protocol, vocabulary,
    tensors), the training split's item indices, the device and the resolved config. Only the
    training split may be used to fit anything (graphs, vocabularies, codebooks)."""

    run_data: Any
    train_idx: torch.Tensor
    device: torch.device
    config: dict

    @property
    def train_labels(self) -> torch.Tensor:
        return self.run_data.tensors.labels[self.train_idx].to(self.device)

    def batches(self, indices=None, batch_size: int = 256, desc: str = "encoding train"):
        """Batch dicts over ``indices`` (default: the training split), with ``pos`` = position
        within ``indices``."""
        from ..progress import progress

        idx = self.train_idx if indices is None else torch.as_tensor(indices, dtype=torch.long)
        for s in progress(range(0, len(idx), batch_size), desc=desc, unit="batch"):
            b = self.run_data.tensors.batch(idx[s : s + batch_size], self.device)
            b["pos"] = torch.arange(s, min(s + batch_size, len(idx)), device=self.device)
            yield b


class RetrievalModel(nn.Module):
    """Base class for registered models. ``batch`` dicts carry ``image`` (float B×3×H×W in
    [0,1] or features), ``bow`` (B×V), ``tokens``/``lengths``, ``labels`` (B×C float) and
    ``pos`` (positions within the training split, for models that keep per-item state)."""

    default_config: dict = {}
    #: this model's own training recipe: ``train.*`` values applied over the global defaults and
    #: under any config file or ``--set`` (e.g. ``{"lr": 2e-3, "lr_decay": 0.98}``)
    train_defaults: dict = {}
    model_name = "base"
    #: what the text side consumes: "bow" or "tokens"
    text_input = "bow"
    #: the kind of representation used for ranking: "binary", "quantized" or "real"
    code_kind = "binary"

    #: True when the model offers a fine-grained (word/region-level) score for reranking
    supports_fine_grained: bool = False

    def __init__(self, config: dict, info: DataInfo):
        super().__init__()
        self.config = dict(config)
        self.info = info

    # --- training ---------------------------------------------------------
    def setup_training(self, ctx: "TrainContext") -> None:
        """Called once before training (and before a checkpoint is loaded on resume): build
        per-training-item state, graphs over the training split, etc."""

    def on_epoch_start(self, epoch: int, ctx: "TrainContext") -> dict[str, float]:
        """Alternating-optimisation step run before each epoch; returns numbers to log."""
        return {}

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        """Return a dict of loss terms; ``loss`` is the one minimised."""
        raise NotImplementedError

    def configure_optimizer(self, lr: float, weight_decay: float = 0.0,
                            betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
        """Adam over the model's parameter groups (``train.lr``, ``train.weight_decay``,
        ``train.adam_betas``); ``train.optimizer=sgd`` reuses the groups with plain SGD."""
        return torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay, betas=tuple(betas))

    # --- retrieval --------------------------------------------------------
    def encode_image(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def encode_text(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def to_codes(self, x: torch.Tensor) -> np.ndarray:
        """Continuous representation → what is stored in the database (default: ±1 int8)."""
        return np.where(x.detach().cpu().numpy() >= 0, 1, -1).astype(np.int8)

    def scorer(self, query: torch.Tensor, database: torch.Tensor):
        """A metrics scorer ranking ``database`` for each ``query`` (continuous outputs of the
        encoders). Default: Hamming distance between binarised codes."""
        from ..metrics import HammingScorer

        return HammingScorer(self.to_codes(query), self.to_codes(database))

    def ranking_spec(self) -> dict:
        return {"representation": self.code_kind, "distance": "hamming", "binarisation": "x >= 0 -> +1"}

    # --- fine-grained (reranking, heatmaps) ---------------------------------
    def fine_grained_scores(self, images: dict, texts: dict) -> torch.Tensor:
        """(n_images × n_texts) fine-grained similarity between every image of the ``images``
        batch dict and every text of the ``texts`` batch dict (higher = more similar); used to
        rerank a first-stage top-N. Batch dicts are what ``RunTensors.batch`` yields."""
        raise NotImplementedError(f"{self.model_name} has no fine-grained score")

    def word_region_attention(self, images: dict, texts: dict) -> list[torch.Tensor]:
        """For pairs (image i, text i): attention of each of text i's words over image i's
        regions, one (n_words_i × n_regions) tensor per pair, rows sum to 1; used for heatmaps."""
        raise NotImplementedError(f"{self.model_name} has no word-region attention")
