"""Queries: a text string or an image (PIL image, file path, uint8 array, or a feature vector
for runs on precomputed features) turned into the batch dict a model encodes, and the
:class:`Hit` a search returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..features.preprocess import open_query_image

__all__ = ["Hit", "text_batch", "image_batch", "known_words"]


@dataclass(frozen=True)
class Hit:
    """One ranked result: the item ``id``, its ``score`` (higher = more similar: an inner product
    for AQD/float engines, −Hamming distance for binary codes, the fine-grained score when
    reranked), its 1-based ``rank`` and the ``modality`` of the retrieved item."""

    id: str
    score: float
    rank: int
    modality: str

    def to_dict(self) -> dict:
        return asdict(self)


def known_words(vocab, query: str) -> list[str]:
    """The query's words that the model's vocabulary knows, in order (<pad>/<unk> excluded)."""
    return [w for w in vocab.tokenize(query) if vocab.index.get(w, 1) > 1]


def text_batch(info, vocab, query: str) -> dict:
    """Batch dict of one text query (``bow``, ``tokens``, ``lengths``), the way the run's
    tensors make them. An empty query, or one with no known word (nor, with ``data.unseen_words``,
    one mapped onto the vocabulary), is a :class:`UserError`."""
    if info.text_field == "features" or not vocab.words or vocab.words[0] != "<pad>":  # feature "vocabulary"
        raise UserError("this index's model reads precomputed text features, not words; text queries are not possible")
    if not isinstance(query, str) or not query.strip():
        raise UserError("query: empty text; give some words to search for")
    if not vocab.bag(query):  # its known words, and with data.unseen_words the words its unseen ones map to
        sample = ", ".join(vocab.words[2:8])
        raise UserError(f"query {query!r}: none of its words is in the model's vocabulary ({len(vocab) - 2} words, "
                        f"e.g. {sample})")
    tokens, lengths = vocab.sequences([query], int(info.max_tokens))
    return {"bow": torch.from_numpy(vocab.bow([query])), "tokens": torch.from_numpy(tokens),
            "lengths": torch.from_numpy(lengths)}


def image_batch(info, image) -> dict:
    """Batch dict of one image query. Pixel models: a PIL image, a path or an (H, W, 3) uint8 /
    (3, H, W) float array, resized to the model's input size as the run's loader does. Models on
    precomputed features: a (F,) global feature vector, or a dict with ``image`` (F,) and
    ``regions`` (R, F') arrays."""
    from PIL import Image

    if isinstance(image, dict):
        out = {}
        for key, val in image.items():
            t = torch.as_tensor(np.asarray(val, dtype=np.float32))
            out[key] = t.unsqueeze(0) if (key == "image" and t.ndim == 1) or (key == "regions" and t.ndim == 2) else t
        if "image" not in out:
            raise UserError("image query dict: needs an 'image' entry")
        for key, t in out.items():
            if not bool(torch.isfinite(t).all()):
                raise UserError(f"image query {key!r}: contains NaN or infinite values")
        return out
    if info.image_feature_dim:
        arr = np.array(image, dtype=np.float32) if isinstance(image, (np.ndarray, list, torch.Tensor)) else None
        if arr is None or arr.shape[-1] != int(info.image_feature_dim) or arr.ndim != 1:
            raise UserError(f"this index's model reads precomputed image features: give a ({info.image_feature_dim},) "
                            "feature vector (or a dict with 'image' and 'regions'), not an image file")
        if not np.isfinite(arr).all():
            raise UserError("image query: the feature vector contains NaN or infinite values")
        return {"image": torch.from_numpy(arr).unsqueeze(0)}
    if isinstance(image, (str, Path)):
        pil = open_query_image(image)
    elif isinstance(image, Image.Image):
        pil = image.convert("RGB")
    else:
        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
            arr = arr.transpose(1, 2, 0)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise UserError(f"image query: expected an (H, W, 3) array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(np.asarray(arr, dtype=np.float32) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
        pil = Image.fromarray(arr)
    size = info.image_size
    if size is not None and pil.size != (size, size):
        pil = pil.resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(pil, dtype=np.uint8).transpose(2, 0, 1).copy()).float().div_(255.0)
    return {"image": x.unsqueeze(0)}
