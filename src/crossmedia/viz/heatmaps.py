"""Per-word attention heatmaps (DAFSN's visual comparisons; AttnGAN's attention figures): the
image, then one panel per query word with that word's attention over the image's g × g regions
upsampled onto it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..io import atomic_path

__all__ = ["attention_overlay", "attention_heatmaps"]


def attention_overlay(image: Image.Image, attn: np.ndarray, grid: int | None, size: int = 144,
                      alpha: float = 0.55) -> Image.Image:
    """``image`` resized to ``size`` with the (g², ) attention row drawn over it (inferno colour map,
    scaled to the row's maximum so every word's map uses the full range). ``grid`` None (regions
    that do not form a square grid): the R weights as a strip of cells."""
    from matplotlib import colormaps  # matplotlib loads slowly: only when a figure is drawn

    a = np.asarray(attn, dtype=np.float64)
    a = a.reshape(grid, grid) if grid else a.reshape(1, -1)
    a = a / max(a.max(), 1e-12)
    heat = Image.fromarray((a * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    rgb = (colormaps["inferno"](np.asarray(heat) / 255.0)[..., :3] * 255).astype(np.uint8)
    base = image.convert("RGB").resize((size, size), Image.NEAREST)
    return Image.blend(base, Image.fromarray(rgb), alpha)


def attention_heatmaps(image: Image.Image, words: Sequence[str], attn: np.ndarray, grid: int | None,
                       path: str | Path, title: str | None = None, size: int = 144, per_row: int = 6) -> Path:
    """Write a PNG: the image, then one overlay per word (``attn`` is n_words × g², or
    n_words × R with ``grid`` None)."""
    attn = np.asarray(attn)
    if attn.ndim != 2 or attn.shape[0] != len(words) or (grid and attn.shape[1] != grid * grid):
        raise ValueError(f"attention has shape {attn.shape}, expected ({len(words)}, "
                         f"{grid * grid if grid else 'R'})")
    panels = [(image.convert("RGB").resize((size, size), Image.NEAREST), "image")]
    panels += [(attention_overlay(image, attn[i], grid, size), f"{w}  (max {attn[i].max():.2f})")
               for i, w in enumerate(words)]
    font = ImageFont.load_default()
    label_h, pad = 14, 6
    title_h = 18 if title else 0
    cols = min(per_row, len(panels))
    rows = (len(panels) + cols - 1) // cols
    canvas = Image.new("RGB", (pad + cols * (size + pad), title_h + rows * (size + label_h + pad) + pad), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    if title:
        d.text((pad, 3), title, fill=(0, 0, 0), font=font)
    for k, (im, label) in enumerate(panels):
        r, c = divmod(k, cols)
        x, y = pad + c * (size + pad), title_h + r * (size + label_h + pad) + pad
        d.text((x, y), label, fill=(0, 0, 0), font=font)
        canvas.paste(im, (x, y + label_h))
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
