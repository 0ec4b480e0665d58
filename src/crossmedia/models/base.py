"""What every retrieval model offers the trainer, the evaluator and the index.

A model encodes a batch of images and a batch of texts into retrieval representations, says
how its representations are stored and compared (its :class:`~crossmedia.codecs.Codec`:
Hamming over sign codes, AQD over quantization codes, cosine over float vectors), and computes
its training losses for a batch. Models with alternating optimisation (DCMH's
binary-code step, CMSL's codebook/ICM step) hook ``on_epoch_start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..codecs import Codec, FloatIPCodec, SignCodec
from ..progress import progress


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


class Ranks:
    """How a model's whole-training-set steps (CMSL's ICM codes and codebook update, the
    B-step of DCMH and twotower) share their items among the processes of a data-parallel run.

    Each process computes its :meth:`span` of the n training positions, then
    :meth:`all_gather` joins the processes' rows (in position order) and :meth:`all_reduce_sum`
    adds up per-process sums (e.g. normal equations). This class is the single process: the span
    is everything and both collectives return their input unchanged, so a one-process run does
    exactly the computation it would do without them. ``crossmedia.train.distributed`` provides
    the multi-process implementation."""

    rank: int = 0
    world: int = 1

    def span(self, n: int) -> tuple[int, int]:
        """(start, stop) of this process's contiguous share of n positions."""
        return 0, n

    def all_gather(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """The rows of every process's ``x`` (its :meth:`span` of n positions), concatenated in
        position order: n rows on every process."""
        return x

    def all_reduce_sum(self, x: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of ``x`` over the processes."""
        return x

    def mean(self, values: torch.Tensor, n: int) -> float:
        """The mean of the n values of which this process holds ``values`` (its span)."""
        return float(values.mean()) if n else 0.0


@dataclass
class TrainContext:
    """What a model may look at while training: the run's data (dataset, protocol, vocabulary,
    tensors), the training split's item indices, the device and the resolved config. Only the
    training split may be used to fit anything (graphs, vocabularies, codebooks). ``ranks``
    splits whole-training-set steps over the processes of a data-parallel run (one process:
    :class:`Ranks` itself)."""

    run_data: Any
    train_idx: torch.Tensor
    device: torch.device
    config: dict
    ranks: Ranks = field(default_factory=Ranks)

    @property
    def train_labels(self) -> torch.Tensor:
        return self.run_data.tensors.labels[self.train_idx].to(self.device)

    def batches(self, indices=None, batch_size: int = 256, desc: str = "encoding train"):
        """Batch dicts over ``indices`` (default: the training split), with ``pos`` = position
        within ``indices``."""
        idx = self.train_idx if indices is None else torch.as_tensor(indices, dtype=torch.long)
        for s in progress(range(0, len(idx), batch_size), desc=desc, unit="batch"):
            b = self.run_data.tensors.batch(idx[s : s + batch_size], self.device)
            b["pos"] = torch.arange(s, min(s + batch_size, len(idx)), device=self.device)
            yield b


#: token ids below this are not words: 0 = ``<pad>``, 1 = ``<unk>`` (out of vocabulary)
FIRST_WORD_ID = 2
#: batch key of a model's own region features (the output of :meth:`RetrievalModel.image_regions`);
#: ``batch["regions"]`` is always the *dataset's* precomputed region features
REGION_FEATURES = "region_features"


def attention_rows(tokens: torch.Tensor) -> torch.Tensor:
    """Bool mask over one text's token ids: the positions that get a row in
    :meth:`RetrievalModel.word_region_attention` — in-vocabulary words (id ≥ 2), in order;
    ``<pad>`` and ``<unk>`` get none."""
    return tokens >= FIRST_WORD_ID


def train_seed(ctx: TrainContext) -> int:
    """The run's ``train.seed``: the seed of every random stream a model draws while training."""
    return int(ctx.config["train"]["seed"])


class RetrievalModel(nn.Module):
    """The contract between a registered model and the rest of crossmedia.

    **Batches.** ``batch`` dicts carry ``image`` (float B×3×H×W in [0,1], or precomputed global
    features B×F), optionally ``regions`` (the dataset's precomputed region features B×R×F'),
    ``bow`` (B×V), ``tokens``/``lengths`` (token ids, 0 = ``<pad>``, 1 = ``<unk>``), ``labels``
    (B×C float) and, in training, ``pos`` (positions within the training split).

    **What every model declares** (consumers read these; they never probe with ``hasattr``):

    * ``dim`` (int): width of :meth:`encode_image` / :meth:`encode_text` outputs;
    * ``bits`` (int, the ``bits`` option every model's config has): the code length the model is
      compared at — its own code length for hashing/quantization models, the length of the
      ``sign`` / ``cq`` / ``pq`` views for real-valued ones;
    * :meth:`codec` (a :class:`crossmedia.codecs.Codec`): how the outputs are stored and ranked;
    * :meth:`float_codec`: the outputs kept as float32 and compared as the model's training
      similarity compares them — what its codes approximate (``eval --codes float``);
    * ``text_input``: ``"bow"`` or ``"tokens"``;
    * ``supports_fine_grained`` (bool): whether :meth:`image_regions`, :meth:`fine_grained_scores`
      and :meth:`word_region_attention` exist (else they raise ``NotImplementedError``);
    * ``region_grid`` (int or None): g when the R regions of :meth:`image_regions` form a g × g
      grid, row-major (so an attention row reshapes to g × g); None otherwise.

    **Region features.** :meth:`image_regions` gives what a search index stores per image so that
    reranking and heatmaps need neither pixels nor a backbone: the image side of the fine-grained
    score, as far as it does not depend on the text (CMSL and DAFSN: the regions after their
    learned projection, so the stored width is the model's attention width, not the backbone's);
    :meth:`fine_grained_scores` and :meth:`word_region_attention` accept an image batch or
    ``{REGION_FEATURES: image_regions(b)}`` and score both alike.

    **Attention rows.** :meth:`word_region_attention` gives, per (image i, text i) pair, one row
    per in-vocabulary word of text i in order (:func:`attention_rows`: ``<unk>`` and ``<pad>``
    get no row), over the R regions; rows sum to 1.
    """

    default_config: dict = {}
    #: this model's own training recipe: ``train.*`` values applied over the global defaults and
    #: under any config file or ``--set`` (e.g. ``{"lr": 2e-3, "lr_decay": 0.98}``)
    train_defaults: dict = {}
    #: options whose default changed after runs were recorded without them: dotted path under
    #: ``model.`` → the value a recorded config *lacking* the option stands for (the behaviour
    #: before the option existed). The quality bench reads a missing option as this value, not as
    #: today's default, so a changed default never relabels an old result (an option absent from
    #: this map is read as its default). Every change of a default adds its old value here.
    absent_means: dict = {}
    model_name = "base"
    #: what the text side consumes: "bow" or "tokens"
    text_input = "bow"
    #: True when the model offers a fine-grained (word/region-level) score for reranking
    supports_fine_grained: bool = False
    #: g of the g × g region grid of :meth:`image_regions`, or None
    region_grid: int | None = None
    #: width of the encoders' outputs (set by every model's constructor)
    dim: int
    #: names of submodules that map each batch row independently (per-item encoders: no
    #: statistics across rows, e.g. no BatchNorm in training mode; their parameters used nowhere
    #: else); data-parallel training runs them on each process's share of the global batch
    #: (:mod:`crossmedia.train.distributed`). A name may refer to None for some configs.
    row_modules: tuple[str, ...] = ()

    def __init__(self, config: dict, info: DataInfo):
        super().__init__()
        self.config = dict(config)
        self.info = info

    @property
    def bits(self) -> int:
        """The ``bits`` option (see the class docstring)."""
        return int(self.config["bits"])

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
        """(B, dim) continuous image representations."""
        raise NotImplementedError

    def encode_text(self, batch: dict) -> torch.Tensor:
        """(B, dim) continuous text representations."""
        raise NotImplementedError

    def codec(self) -> Codec:
        """The codec of the model's own stored representation, ready to encode (its learned state
        taken from the model). Default: sign codes of the ``bits``-wide outputs, Hamming."""
        return SignCodec(self.bits, self.dim)

    def float_codec(self) -> Codec:
        """The continuous outputs as float32 vectors, compared as the model's training similarity
        compares them, so that the cost of :meth:`codec`'s codes can be measured. Default: inner
        product (the relaxed codes of the hashing models, θ = ⟨u, v⟩; CMSL/CDQ's AQD approximates
        it); cosine models override it."""
        return FloatIPCodec(self.dim)

    # --- fine-grained (reranking, heatmaps) ---------------------------------
    def image_regions(self, batch: dict) -> torch.Tensor:
        """(B, R, F) region features of the batch's images as the fine-grained score consumes
        them (see the class docstring)."""
        raise NotImplementedError(f"{self.model_name} has no region features")

    def fine_grained_scores(self, images: dict, texts: dict) -> torch.Tensor:
        """(n_images × n_texts) fine-grained similarity between every image of ``images`` and
        every text of ``texts`` (higher = more similar); used to rerank a first-stage top-N.
        ``images`` is an image batch or ``{REGION_FEATURES: ...}``; ``texts`` needs ``tokens``."""
        raise NotImplementedError(f"{self.model_name} has no fine-grained score")

    def word_region_attention(self, images: dict, texts: dict) -> list[torch.Tensor]:
        """For pairs (image i, text i): one (n_words_i × R) tensor per pair, a row per
        in-vocabulary word of text i (:func:`attention_rows`), rows sum to 1; for heatmaps."""
        raise NotImplementedError(f"{self.model_name} has no word-region attention")
