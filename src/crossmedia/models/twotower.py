"""Two-tower cross-modal hashing (DCMH-style), the first model of the pipeline.

Image tower: :class:`SmallCNN` global feature → linear → b real outputs F (or, for
precomputed image features, an MLP on them). Text tower:
bag-of-words MLP → b real outputs G. Objective (DCMH, Jiang & Li CVPR 2017, eq. 3), with F, G, B
kept for every training item:

    L = −Σ_ij (s_ij θ_ij − log(1 + e^θ_ij)) + γ(‖B − F‖² + ‖B − G‖²) + η(‖F·1‖² + ‖G·1‖²),
    θ_ij = ½ F_i·G_j,  B = sign(F + G)  (x ≥ 0 → +1)

DCMH alternates whole passes over the image net and the text net; here each mini-batch updates
both towers, each against the other modality's stored (detached) outputs for *all* training
items — the same gradients DCMH's per-modality steps use (so a step costs O(batch × N × bits):
the likelihood pairs the batch with every stored output; ``stored_likelihood_loss`` computes that
term with its gradient in closed form). B is refreshed from the stored F, G at
the start of every epoch. All terms are DCMH's sums divided by one constant (batch size ×
training-set size), which keeps DCMH's relative weighting and makes the step size independent of
the training-set size; the balance term is further divided by n (‖F·1‖² grows as n²). Retrieval: Hamming distance between sign codes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import label_similarity, similar_fraction, stored_likelihood_loss
from .base import DataInfo, RetrievalModel, train_seed
from .memory import CrossBatchMemory
from .encoders import BowMLP, SmallCNN
from .registry import register_model


@register_model("twotower")
class TwoTowerHashing(RetrievalModel):
    default_config = {
        "bits": 32,
        "cnn_channels": [16, 32, 64, 128],
        "grid": 3,
        "text_hidden": 1024,
        "dropout": 0.5,
        "gamma": 1.0,  # quantization term weight (DCMH γ)
        "eta": 1.0,  # bit-balance term weight (DCMH η)
        "pos_weight": "auto",  # weight of similar pairs: a number, "auto" (#dissimilar/#similar in train) or null
    }
    text_input = "bow"
    row_modules = ("cnn", "img_head", "txt")  # per-item encoders (data-parallel training shards their rows)

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        bits = int(config["bits"])
        if bits < 1:
            raise ConfigError(f"model.bits: expected a positive number of bits, got {bits}")
        self.dim = bits
        if info.image_feature_dim:  # precomputed global features (e.g. a pretrained CNN's)
            self.cnn = None
            self.img_head = BowMLP(info.image_feature_dim, bits, hidden=int(config["text_hidden"]),
                                   dropout=float(config["dropout"]))
        else:
            self.cnn = SmallCNN(tuple(config["cnn_channels"]), grid=int(config["grid"]))
            self.img_head = nn.Linear(self.cnn.out_dim, bits)
        self.txt = BowMLP(info.vocab_size, bits, hidden=int(config["text_hidden"]), dropout=float(config["dropout"]))
        # per-training-item state: DCMH's F and G (the outputs of every training item) and B;
        # checkpointed as extra state so an inference-only load does not need the training-set size
        self.memory = CrossBatchMemory()
        self.register_buffer("B_all", torch.zeros(0), persistent=False)

    pos_weight: float | None = None

    @property
    def F_all(self) -> torch.Tensor:
        """DCMH's F: the stored image outputs of all training items (N × bits)."""
        return self.memory.image

    @property
    def G_all(self) -> torch.Tensor:
        """DCMH's G: the stored text outputs of all training items (N × bits)."""
        return self.memory.text

    @property
    def train_labels(self) -> torch.Tensor:
        return self.memory.labels

    def get_extra_state(self) -> dict:
        return {"B_all": self.B_all, "pos_weight": self.pos_weight}

    def set_extra_state(self, state: dict) -> None:
        self.B_all = state["B_all"]
        self.pos_weight = state.get("pos_weight")

    def setup_training(self, ctx) -> None:
        self.memory.reset(ctx.train_labels, self.bits, torch.Generator().manual_seed(train_seed(ctx)))
        self.B_all = torch.where(self.F_all + self.G_all >= 0, 1.0, -1.0)
        pw = self.config.get("pos_weight")
        if pw == "auto":
            p = min(max(similar_fraction(self.train_labels), 1e-6), 1 - 1e-6)
            pw = (1 - p) / p
        self.pos_weight = None if pw is None else float(pw)

    def on_epoch_start(self, epoch: int, ctx) -> dict[str, float]:
        if epoch > 0 and self.F_all.numel():
            self.b_step(ctx.ranks)
        return {}

    def b_step(self, ranks) -> None:
        """DCMH's closed-form B = sign(F + G) (x ≥ 0 → +1): each process signs its span of the
        training items and the spans are all-gathered (one process: all items at once)."""
        n = self.F_all.shape[0]
        s, e = ranks.span(n)
        self.B_all = ranks.all_gather(torch.where(self.F_all[s:e] + self.G_all[s:e] >= 0, 1.0, -1.0), n)

    def encode_image(self, batch: dict) -> torch.Tensor:
        if self.cnn is None:
            return self.img_head(batch["image"])
        g, _ = self.cnn(batch["image"])
        return self.img_head(g)

    def encode_text(self, batch: dict) -> torch.Tensor:
        return self.txt(batch["bow"])

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        pos = batch["pos"]
        f = self.encode_image(batch)
        g = self.encode_text(batch)
        self.memory.write(pos, image=f, text=g)
        s = label_similarity(batch["labels"], self.train_labels)
        b = self.B_all[pos]
        gamma, eta = float(self.config["gamma"]), float(self.config["eta"])
        n, bsz = self.F_all.shape[0], f.shape[0]
        # DCMH's sums, all divided by the same constant (batch × n_train) so that the relative
        # weights of the three terms are DCMH's and the step size does not depend on n
        norm = float(bsz * n)
        pw = self.pos_weight
        lik = (stored_likelihood_loss(f, self.G_all, s, scale=0.5, pos_weight=pw)
               + stored_likelihood_loss(g, self.F_all, s, scale=0.5, pos_weight=pw)) / norm
        quant = (((b - f) ** 2).sum() + ((b - g) ** 2).sum()) / norm
        col_f = f.sum(0) + (self.F_all.sum(0) - self.F_all[pos].sum(0))
        col_g = g.sum(0) + (self.G_all.sum(0) - self.G_all[pos].sum(0))
        balance = ((col_f ** 2).sum() + (col_g ** 2).sum()) / (norm * n)
        loss = lik + gamma * quant + eta * balance
        return {"loss": loss, "likelihood": lik.detach(), "quantization": quant.detach(), "balance": balance.detach()}
