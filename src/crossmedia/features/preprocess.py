"""Decode and preprocess one image as a backbone's header says (resize, centre crop, scale,
normalise). Decoding failures are returned, not raised, so extraction can report and skip them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def load_image(path: str | Path, pre: dict) -> np.ndarray:
    """(3, S, S) float32 normalised array; raises OSError/ValueError for an undecodable file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's EXIF/ICC chatter
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.load()
    return preprocess_image(im, pre)


def open_query_image(path: str | Path) -> Image.Image:
    """A user's query image file decoded to RGB; a one-line :class:`UserError` when it is missing
    or not decodable."""
    from ..errors import UserError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: image file not found")
    try:
        with Image.open(p) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"{p}: cannot decode image ({e.__class__.__name__})") from None


def preprocess_image(im: Image.Image, pre: dict) -> np.ndarray:
    """A decoded image as the backbone's ``pre`` says: (3, S, S) float32, normalised."""
    im = im.convert("RGB")
    if "resize" in pre:
        w, h = pre["resize"]
        im = im.resize((int(w), int(h)), Image.BILINEAR)
    else:
        short = int(pre["resize_shorter_side"])
        w, h = im.size
        scale = short / min(w, h)
        nw, nh = max(short, round(w * scale)), max(short, round(h * scale))
        im = im.resize((nw, nh), Image.BILINEAR)
        crop = int(pre["center_crop"])
        left, top = (nw - crop) // 2, (nh - crop) // 2
        im = im.crop((left, top, left + crop, top + crop))
    x = np.asarray(im, dtype=np.float32) / 255.0
    mean = np.asarray(pre["mean"], dtype=np.float32)
    std = np.asarray(pre["std"], dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)
