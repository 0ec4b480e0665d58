"""Shared plumbing of the real-valued common-space models (ACMR, DSCMR).

Image tower: small CNN global vector (pixels) or the precomputed global feature → hidden
(ReLU, dropout); text tower: bag of words → hidden (ReLU, dropout); then a projection to the
``dim``-d common space, per modality or shared by both (DSCMR's weight-shared last layer).
``dim`` defaults to ``bits``, so that the sign-binarised and composite-quantized views of the
bench (:mod:`crossmedia.eval.codes`) have exactly ``bits`` bits. Retrieval: cosine similarity
of the real vectors (float32, 4·dim bytes per item).
"""

from __future__ import annotations

import torch
from torch import nn

from ..codecs import FloatCosineCodec
from ..errors import ConfigError
from .base import DataInfo, RetrievalModel
from .encoders import SmallCNN

COMMON_DEFAULTS = {
    "bits": 32,  # code size of the binarised / quantized views; also the common dimension when dim is null
    "dim": None,  # common-space dimension (null = bits)
    "hidden": 1024,
    "dropout": 0.5,
    "cnn_channels": [16, 32, 64, 128],
    "grid": 3,
}


class CommonSpaceModel(RetrievalModel):
    text_input = "bow"
    #: one projection to the common space shared by both modalities (DSCMR) or one each (ACMR)
    shared_projection = False

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        bits = int(config["bits"])
        if bits < 1:
            raise ConfigError(f"model.bits: expected a positive number of bits, got {bits}")
        self.dim = int(config["dim"] or bits)
        hidden, drop = int(config["hidden"]), float(config["dropout"])
        if info.image_feature_dim:
            self.cnn = None
            img_in = info.image_feature_dim
        else:
            self.cnn = SmallCNN(tuple(config["cnn_channels"]), grid=int(config["grid"]))
            img_in = self.cnn.out_dim
        self.img_body = nn.Sequential(nn.Linear(img_in, hidden), nn.ReLU(inplace=True), nn.Dropout(drop))
        self.txt_body = nn.Sequential(nn.Linear(info.vocab_size, hidden), nn.ReLU(inplace=True), nn.Dropout(drop))
        if self.shared_projection:
            self.proj = nn.Linear(hidden, self.dim)
        else:
            self.img_proj = nn.Linear(hidden, self.dim)
            self.txt_proj = nn.Linear(hidden, self.dim)

    def encode_image(self, batch: dict) -> torch.Tensor:
        x = batch["image"] if self.cnn is None else self.cnn(batch["image"])[0]
        h = self.img_body(x)
        return self.proj(h) if self.shared_projection else self.img_proj(h)

    def encode_text(self, batch: dict) -> torch.Tensor:
        h = self.txt_body(batch["bow"])
        return self.proj(h) if self.shared_projection else self.txt_proj(h)

    def codec(self) -> FloatCosineCodec:
        """Cosine of the float32 common-space vectors (4·dim bytes per item)."""
        return FloatCosineCodec(self.dim)
