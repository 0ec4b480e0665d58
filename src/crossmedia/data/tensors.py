"""Tensors for training and encoding: images, bag-of-words / token rows and labels of a dataset,
prepared once and sliced into batch dicts (the format :class:`RetrievalModel` consumes)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..progress import progress
from .dataset import Dataset
from .streaming import LOADERS, LazyImages, MappedRows
from .text import Vocabulary

#: a words' bag-of-words matrix larger than this (N × V × 4 bytes) is kept sparse (CSR) and
#: densified batch by batch
SPARSE_BOW_BYTES = 64 << 20


def load_images(paths: Sequence, size: int | None = None, desc: str = "loading images") -> np.ndarray:
    """Decode image files into a uint8 (N, 3, H, W) array, resizing to ``size`` when given."""
    out = None
    for i, p in enumerate(progress(paths, desc=desc, unit="img")):
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if size is not None and im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"{p}: cannot decode image ({e.__class__.__name__})") from None
        if out is None:
            out = np.empty((len(paths), 3, arr.shape[0], arr.shape[1]), dtype=np.uint8)
        elif arr.shape[:2] != out.shape[2:]:
            raise DataError(f"{p}: image is {arr.shape[1]}x{arr.shape[0]}, expected {out.shape[3]}x{out.shape[2]} like the others")
        out[i] = arr.transpose(2, 0, 1)
    if out is None:
        return np.zeros((0, 3, size or 1, size or 1), dtype=np.uint8)
    return out


class TensorData:
    """All items of a dataset as tensors: ``image`` (uint8 pixels or float features), ``bow``,
    ``tokens``/``lengths`` and ``labels``. The vocabulary must come from the training split.
    A large bag-of-words matrix (over :data:`SPARSE_BOW_BYTES`) is held sparse; read rows with
    :meth:`bow_rows` (batches are always dense).
    With ``text_source="features"`` the ``bow`` rows are the dataset's precomputed text features
    (``vocab`` then names their columns) and ``tokens``/``lengths`` are empty."""

    def __init__(self, dataset: Dataset, vocab: Vocabulary, text_field: str, image_size: int | None = None,
                 max_tokens: int = 32, image_source: str = "pixels", text_source: str = "words",
                 loader: str = "memory"):
        self.dataset = dataset
        self.vocab = vocab
        self.text_field = text_field
        self.text_source = text_source
        if text_source == "features":  # precomputed text vectors (e.g. LDA) stand in for the BoW rows
            feats = np.array(dataset.features("text"), dtype=np.float32)  # a writable copy of the memory map
            if feats.ndim != 2 or feats.shape[1] != len(vocab):
                raise DataError(f"dataset {dataset.name!r}: text features have shape {feats.shape}; "
                                f"expected (N, {len(vocab)}) to match the vocabulary of the run")
            self.bow = torch.from_numpy(feats)
            tok = np.zeros((len(dataset), max_tokens), dtype=np.int64)
            lengths = np.zeros(len(dataset), dtype=np.int64)
        elif text_source == "words":
            texts = dataset.texts(text_field)
            if len(texts) * len(vocab) * 4 > SPARSE_BOW_BYTES:
                from .loaders.textfeatures import bow_matrix

                self.bow = bow_matrix(vocab, texts, binary=True)  # scipy CSR, same values as Vocabulary.bow
            else:
                self.bow = torch.from_numpy(vocab.bow(texts))
            tok, lengths = vocab.sequences(texts, max_tokens)
        else:
            raise DataError(f"text source must be 'words' or 'features', got {text_source!r}")
        self.tokens = torch.from_numpy(tok)
        self.lengths = torch.from_numpy(lengths)
        self.labels = torch.from_numpy(dataset.labels.astype(np.float32))
        self.image_source = image_source
        self.regions = None  # precomputed region features (N, R, F), a memory map sliced per batch
        if loader not in LOADERS:
            raise DataError(f"data.loader: expected one of {', '.join(LOADERS)}, got {loader!r}")
        self.loader = loader
        lazy = loader in ("stream", "shards")  # shards: training batches from the shards, the rest like stream
        if image_source == "pixels" and lazy:  # decoded per batch (data.streaming)
            self.images = LazyImages(dataset.image_paths(), size=image_size)
        elif image_source == "pixels":
            self.images = torch.from_numpy(load_images(dataset.image_paths(), size=image_size))
        elif image_source == "features" and lazy:  # rows read from the memory map
            self.images = MappedRows(dataset.features("global"))
        elif image_source == "features":
            self.images = torch.from_numpy(np.array(dataset.features("global"), dtype=np.float32))
        else:
            raise DataError(f"image source must be 'pixels' or 'features', got {image_source!r}")
        if image_source == "features" and dataset.has_features("regions"):  # a memory map on every loader
            self.regions = dataset.features("regions")

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def image_size(self) -> int | None:
        return int(self.images.shape[-1]) if self.image_source == "pixels" else None

    @property
    def bow_is_sparse(self) -> bool:
        return not isinstance(self.bow, torch.Tensor)

    def bow_rows(self, idx) -> torch.Tensor:
        """Dense float32 bag-of-words rows of the items ``idx``."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        if self.bow_is_sparse:
            return torch.from_numpy(np.asarray(self.bow[idx.numpy()].todense(), dtype=np.float32))
        return self.bow[idx]

    def batch(self, idx: torch.Tensor | np.ndarray, device: str | torch.device = "cpu",
              image: torch.Tensor | None = None) -> dict:
        """The batch dict of items ``idx``; ``image`` (their images, already read: uint8 pixels or
        feature rows) replaces the read from :attr:`images`."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        img = self.images[idx] if image is None else image
        if self.image_source == "pixels":
            img = img.float().div_(255.0)
        out = {
            "index": idx,
            "image": img.to(device),
            "bow": self.bow_rows(idx).to(device),
            "tokens": self.tokens[idx].to(device),
            "lengths": self.lengths[idx],
            "labels": self.labels[idx].to(device),
        }
        if self.regions is not None:
            out["regions"] = torch.from_numpy(np.asarray(self.regions[idx.numpy()], dtype=np.float32)).to(device)
        return out
