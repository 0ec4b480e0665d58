"""Per-word attention heatmaps: for each query word, the result image with the word's
attention over the image regions (a g × g grid, row-major — the layout of
:meth:`crossmedia.search.Index.explain`) upsampled smoothly and blended on top, in the style
of SCAN's (Lee et al., ECCV 2018) word-region attention figures."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["render_heatmap", "colormap"]


def colormap(x: np.ndarray) -> np.ndarray:
    """A perceptually ordered blue→yellow→red ramp for values in [0, 1]: (..., 3) uint8."""
    stops = np.array([[0.0, 0, 0, 120], [0.35, 30, 90, 255], [0.65, 255, 220, 40], [1.0, 220, 20, 20]])
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    out = np.stack([np.interp(x, stops[:, 0], stops[:, c]) for c in (1, 2, 3)], axis=-1)
    return out.round().astype(np.uint8)


def _panel(base: Image.Image, weights: np.ndarray, g: int | None, size: int, alpha: float) -> Image.Image:
    w = np.asarray(weights, dtype=np.float64)
    if g is None:  # regions without a square grid: a strip of cells
        g_h, g_w = 1, len(w)
    else:
        g_h = g_w = g
    grid = w.reshape(g_h, g_w)
    span = grid.max() - grid.min()
    grid = (grid - grid.min()) / span if span > 0 else np.zeros_like(grid)
    heat = Image.fromarray((grid * 255).round().astype(np.uint8), "L").resize((size, size), Image.BICUBIC)
    coloured = Image.fromarray(colormap(np.asarray(heat, dtype=np.float64) / 255.0), "RGB")
    return Image.blend(base, coloured, alpha)


def render_heatmap(words: list[str], attention: np.ndarray, g: int | None, image: Image.Image | None = None,
                   size: int = 192, alpha: float = 0.55) -> bytes:
    """PNG bytes: the image (grey when the index stores no image) then one panel per word,
    labelled with the word and its peak attention weight."""
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 2 or attention.shape[0] != len(words):
        raise ValueError(f"attention of shape {attention.shape} for {len(words)} words")
    base = (image.convert("RGB").resize((size, size), Image.BILINEAR) if image is not None
            else Image.new("RGB", (size, size), (128, 128, 128)))
    font = ImageFont.load_default()
    label_h, gap = 16, 6
    panels = [("image", base)] + [(f"{w}  (max {a.max():.2f})", _panel(base, a, g, size, alpha))
                                  for w, a in zip(words, attention)]
    canvas = Image.new("RGB", (len(panels) * (size + gap) + gap, size + label_h + 2 * gap), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    for i, (label, im) in enumerate(panels):
        x = gap + i * (size + gap)
        d.text((x, gap), label, fill=(0, 0, 0), font=font)
        canvas.paste(im, (x, gap + label_h))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
