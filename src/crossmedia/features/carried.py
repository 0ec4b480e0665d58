"""The image feature extractor an index carries, so that an index built from a run trained on
precomputed image features (``data.image_source=features``) still takes raw images as queries.

At ``index build`` the backbone named in the dataset's feature header (``header.json`` written
by ``crossmedia features extract``) is rebuilt with the same weights (SHA-256 checked) and
checked against the stored features of one item; its weights and preprocessing are then stored
in the index (``extractor.pt``). A query image is decoded, preprocessed as the header says and
run through the backbone: global vector and region grid, exactly what training read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

__all__ = ["EXTRACTOR_FILE", "extractor_for_dataset", "ImageEncoder"]

EXTRACTOR_FILE = "extractor.pt"


def _header(ds) -> tuple[dict, Path] | None:
    rel = (ds.meta.get("features") or {}).get("image_header")
    if not rel or ds.root is None:
        return None
    path = Path(ds.root) / rel
    try:
        return json.loads(path.read_text(encoding="utf-8")), path
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def extractor_for_dataset(ds) -> tuple[dict | None, str | None]:
    """(blob to store in an index, None) for the backbone that made ``ds``'s image features, or
    (None, why not) when it cannot be rebuilt faithfully (no header, weights file gone, weights
    or outputs differ)."""
    from .backbones import build_backbone

    found = _header(ds)
    if found is None:
        return None, "the dataset records no feature header (features not made by `crossmedia features extract`)"
    h, path = found
    w = h.get("weights") or {}
    weights = "random" if not w.get("pretrained") else w.get("source")
    if weights != "random" and not (weights and Path(weights).is_file()):
        weights = None  # the backbone's default (installed) weights; the SHA-256 below decides
    try:
        bb = build_backbone(str(h["backbone"]), weights)
    except UserError as e:
        return None, f"cannot rebuild backbone {h.get('backbone')!r} of {path} ({e})"
    if w.get("sha256") and bb.weights.get("sha256") != w.get("sha256"):
        return None, f"the {h['backbone']} weights found here differ from those that made {path} (SHA-256)"
    ok = _check_against_stored(bb, ds)
    if ok is not None:
        return None, ok
    blob = {"backbone": bb.name, "state_dict": bb.module.state_dict(), "preprocessing": bb.preprocessing,
            "input_size": bb.input_size, "feature_dim": bb.feature_dim, "grid": list(bb.grid), "weights": bb.weights,
            "regions": bool(h.get("regions")), "dtype": h.get("dtype", "float32"), "header": str(path)}
    return blob, None


def _check_against_stored(bb, ds) -> str | None:
    """None when the rebuilt backbone reproduces the stored global features of the first item
    with a readable image; else why not."""
    from .preprocess import DECODE_ERRORS, load_image

    g = ds.features("global")
    for i, it in enumerate(ds.items[:20]):
        if "image" not in it or not (Path(ds.root) / it["image"]).is_file():
            continue
        try:
            x = torch.from_numpy(load_image(Path(ds.root) / it["image"], bb.preprocessing)).unsqueeze(0)
        except DECODE_ERRORS:
            continue
        mine = bb(x)[0][0].numpy()
        stored = np.asarray(g[i], dtype=np.float32)
        if not stored.any():
            continue
        if not np.allclose(mine, stored, rtol=2e-2, atol=2e-2 * float(np.abs(stored).max())):
            return f"the rebuilt {bb.name} does not reproduce the stored features of item {it['id']!r}"
        return None
    return "no item image could be read to check the rebuilt backbone against the stored features"


class ImageEncoder:
    """Raw image (path, PIL image, (H, W, 3) uint8 array) → the batch a features-trained model
    reads: ``image`` (1, F) and, when the features had them, ``regions`` (1, R, F)."""

    def __init__(self, blob: dict):
        from .backbones import build_backbone

        self.blob = blob
        self.backbone = build_backbone(blob["backbone"], "random")
        self.backbone.module.load_state_dict(blob["state_dict"])
        self.backbone.module.eval()

    @property
    def name(self) -> str:
        return self.blob["backbone"]

    @torch.no_grad()
    def __call__(self, image) -> dict:
        from PIL import Image

        from .preprocess import open_query_image, preprocess_image

        if isinstance(image, (str, Path)):
            pil = open_query_image(image)
        elif isinstance(image, Image.Image):
            pil = image
        else:
            arr = np.asarray(image)
            if arr.ndim != 3 or arr.shape[-1] != 3:
                raise UserError(f"image query: expected an (H, W, 3) array, got shape {arr.shape}")
            pil = Image.fromarray(arr.astype(np.uint8))
        x = torch.from_numpy(preprocess_image(pil, self.blob["preprocessing"])).unsqueeze(0)
        dtype = np.float16 if self.blob.get("dtype") == "float16" else np.float32
        g, r = self.backbone(x)
        out = {"image": torch.from_numpy(g.numpy().astype(dtype).astype(np.float32))}
        if self.blob.get("regions"):
            out["regions"] = torch.from_numpy(r.numpy().astype(dtype).astype(np.float32))
        return out
