"""Shared plumbing of the real-valued common-space models (ACMR, DSCMR).

Image tower: small CNN global vector (pixels) or the precomputed global feature → hidden
(ReLU, dropout); text tower: bag of words → hidden (ReLU, dropout); then a projection to the
``dim``-d common space, per modality or shared by both (DSCMR's weight-shared last layer).
``image_layers`` / ``text_layers`` (lists of widths) replace the single ``hidden`` layer,
``activation`` (relu | tanh) is the hidden layers' nonlinearity and ``output_activation``
(null | tanh) the common space's — what the published configurations need (ACMR's released
code: tanh towers 512→100→40 and 40→100→40).
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
    "image_layers": None,  # widths of the image tower's hidden layers (null = [hidden])
    "text_layers": None,  # widths of the text tower's hidden layers (null = [hidden])
    "activation": "relu",  # relu | tanh (hidden layers)
    "output_activation": None,  # null | tanh (applied to the common-space vector)
    "cnn_channels": [16, 32, 64, 128],
    "grid": 3,
}

_ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}


def _tower(n_in: int, widths: list[int], activation: str, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(n_in, w), _ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = w
    return nn.Sequential(*layers)


def _widths(config: dict, key: str) -> list[int]:
    widths = config[key] if config[key] is not None else [config["hidden"]]
    if not isinstance(widths, list) or not widths or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ConfigError(f"model.{key}: expected a list of positive layer widths or null, got {config[key]!r}")
    return [int(w) for w in widths]


class CommonSpaceModel(RetrievalModel):
    text_input = "bow"
    row_modules = ("cnn", "img_body", "txt_body")  # per-item encoders (data-parallel training shards their rows)
    #: one projection to the common space shared by both modalities (DSCMR) or one each (ACMR)
    shared_projection = False

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        bits = int(config["bits"])
        if bits < 1:
            raise ConfigError(f"model.bits: expected a positive number of bits, got {bits}")
        self.dim = int(config["dim"] or bits)
        drop = float(config["dropout"])
        act, out_act = config["activation"], config["output_activation"]
        if act not in _ACTIVATIONS:
            raise ConfigError(f"model.activation: expected relu or tanh, got {act!r}")
        if out_act not in (None, "tanh"):
            raise ConfigError(f"model.output_activation: expected null or tanh, got {out_act!r}")
        img_w, txt_w = _widths(config, "image_layers"), _widths(config, "text_layers")
        if info.image_feature_dim:
            self.cnn = None
            img_in = info.image_feature_dim
        else:
            self.cnn = SmallCNN(tuple(config["cnn_channels"]), grid=int(config["grid"]))
            img_in = self.cnn.out_dim
        self.img_body = _tower(img_in, img_w, act, drop)
        self.txt_body = _tower(info.vocab_size, txt_w, act, drop)
        self.out_act = nn.Tanh() if out_act == "tanh" else nn.Identity()
        if self.shared_projection:
            if img_w[-1] != txt_w[-1]:
                raise ConfigError(f"model.image_layers / model.text_layers: the shared projection needs equal last "
                                  f"widths, got {img_w[-1]} and {txt_w[-1]}")
            self.proj = nn.Linear(img_w[-1], self.dim)
        else:
            self.img_proj = nn.Linear(img_w[-1], self.dim)
            self.txt_proj = nn.Linear(txt_w[-1], self.dim)

    def encode_image(self, batch: dict) -> torch.Tensor:
        x = batch["image"] if self.cnn is None else self.cnn(batch["image"])[0]
        h = self.img_body(x)
        return self.out_act(self.proj(h) if self.shared_projection else self.img_proj(h))

    def encode_text(self, batch: dict) -> torch.Tensor:
        h = self.txt_body(batch["bow"])
        return self.out_act(self.proj(h) if self.shared_projection else self.txt_proj(h))

    def codec(self) -> FloatCosineCodec:
        """Cosine of the float32 common-space vectors (4·dim bytes per item)."""
        return FloatCosineCodec(self.dim)

    def float_codec(self) -> FloatCosineCodec:
        """The native codec: the outputs are already float32 vectors compared by cosine."""
        return self.codec()
