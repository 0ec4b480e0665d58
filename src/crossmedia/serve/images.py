"""Uploaded images: validated by decoding (never by the file name or the client's content
type), with the dimensions checked from the header *before* the pixels are decoded so a small
file cannot expand into a huge bitmap (decompression bomb)."""

from __future__ import annotations

import io
import warnings

from ..errors import UserError

__all__ = ["ALLOWED_FORMATS", "decode_upload", "ImageRejected"]

#: formats a browser can send and PIL decodes safely
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")


class ImageRejected(UserError):
    """The upload is not an acceptable image; ``status`` is the HTTP code to answer with."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_image"):
        super().__init__(message)
        self.status, self.code = status, code


def decode_upload(data: bytes, limits, name: str = "file"):
    """The RGB :class:`PIL.Image.Image` in ``data``; :class:`ImageRejected` when it is empty,
    too large, not a decodable image of an allowed format, or too many pixels."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageRejected(f"{name}: empty upload; expected an image file")
    if len(data) > limits.max_upload_bytes:
        raise ImageRejected(f"{name}: {len(data)} bytes, the limit is {limits.max_upload_bytes}", 413, "too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            w, h = im.size
            if w < 1 or h < 1 or max(w, h) > limits.max_image_side or w * h > limits.max_image_pixels:
                raise ImageRejected(f"{name}: image is {w}×{h} pixels; the limits are {limits.max_image_side} per side "
                                    f"and {limits.max_image_pixels} in all", 413, "image_too_big")
            fmt = im.format
            im.load()  # the real decode: truncated or corrupt data fails here
            rgb = im.convert("RGB")
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL refuses to even open a header declaring that many pixels: it is too big, not undecodable
        raise ImageRejected(f"{name}: image declares more pixels than PIL will open; the limits are "
                            f"{limits.max_image_side} per side and {limits.max_image_pixels} in all", 413,
                            "image_too_big") from None
    except UnidentifiedImageError as e:
        raise ImageRejected(f"{name}: not a decodable image (accepted formats: {', '.join(ALLOWED_FORMATS)}; "
                            f"{e.__class__.__name__})", 415, "unsupported_image") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated / corrupt files
        raise ImageRejected(f"{name}: corrupt or truncated image ({e.__class__.__name__})") from None
    rgb.info["format"] = fmt
    return rgb
