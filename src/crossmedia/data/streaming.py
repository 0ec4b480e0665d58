"""Streaming input: images decoded from disk per batch, precomputed features read from memory
maps, and a ``torch.utils.data`` pipeline (worker processes, pinned memory) that prepares the
next batches while the model trains on the current one.

``data.loader``:

* ``memory`` (default) — every image is decoded into one uint8 tensor before training (fast
  for small datasets; memory grows with the dataset);
* ``stream`` — :class:`LazyImages` keeps only the file paths and decodes (PNG/JPEG, any size)
  the rows a batch needs, resized by the declared transform (``data.image_size``, bilinear,
  the same as the ``memory`` path, so both give identical batches); precomputed image features
  stay memory-mapped (:class:`MappedRows`). Text rows (bag of words, token ids) and labels are
  small and stay in memory in both modes.

``data.workers`` (0 = the training process itself) sets the number of ``DataLoader`` worker
processes that build batches ahead; batches are pinned for an asynchronous copy when training on
CUDA. An augmentation hook (:data:`Augment`) may transform each decoded image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, DataError

__all__ = ["LOADERS", "Augment", "LazyImages", "MappedRows", "decode_image", "BatchDataset", "batch_source"]

LOADERS = ("memory", "stream")

#: an augmentation: (H×W×3 uint8 image, item index) → H×W×3 uint8 image of the same size
Augment = Callable[[np.ndarray, int], np.ndarray]


def decode_image(path: str | Path, size: int | None) -> np.ndarray:
    """One image file as an H×W×3 uint8 array, resized (bilinear) to size × size when given."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{path}: cannot decode image ({e.__class__.__name__})") from None


class LazyImages:
    """Image files indexed like the ``memory`` path's (N, 3, S, S) uint8 tensor; rows are decoded
    when indexed. Without a declared ``size`` all images must share the first image's size."""

    def __init__(self, paths: Sequence[Path], size: int | None = None, augment: Augment | None = None):
        self.paths = [str(p) for p in paths]
        self.augment = augment
        if size is None and self.paths:
            with Image.open(self.paths[0]) as im:
                w, h = im.size
            self.hw = (h, w)
        else:
            self.hw = (size or 1, size or 1)
        self.size = size

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), 3, *self.hw)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx) -> torch.Tensor:
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1).tolist()
        out = np.empty((len(idx), 3, *self.hw), dtype=np.uint8)
        for k, i in enumerate(idx):
            arr = decode_image(self.paths[i], self.size)
            if self.augment is not None:
                arr = self.augment(arr, i)
            if arr.shape[:2] != self.hw:
                raise DataError(f"{self.paths[i]}: image is {arr.shape[1]}x{arr.shape[0]}, expected "
                                f"{self.hw[1]}x{self.hw[0]} like the others (set data.image_size)")
            out[k] = arr.transpose(2, 0, 1)
        return torch.from_numpy(out)


class MappedRows:
    """A memory-mapped feature array (np.load mmap_mode='r') indexed by rows into float32 tensors."""

    def __init__(self, array: np.ndarray):
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, idx) -> torch.Tensor:
        idx = np.asarray(torch.as_tensor(idx, dtype=torch.long).reshape(-1))
        order = np.argsort(idx, kind="stable")  # read the file in order, then put rows back
        rows = np.empty((len(idx), *self.array.shape[1:]), dtype=np.float32)
        rows[order] = self.array[idx[order]]
        return torch.from_numpy(rows)


class BatchDataset(torch.utils.data.Dataset):
    """Item i = the i-th batch (of training-split positions ``chunks[i]``) as a CPU batch dict
    with ``pos``; one batch per worker task keeps the per-item overhead out of the pipeline."""

    def __init__(self, tensors, indices: torch.Tensor, chunks: list[torch.Tensor]):
        self.tensors, self.indices, self.chunks = tensors, indices, chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> dict:
        pos = self.chunks[i]
        b = self.tensors.batch(self.indices[pos], "cpu")
        b["pos"] = pos
        return b


def _to_device(b: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    return {k: (v if k == "lengths" else v.to(device, non_blocking=nb)) for k, v in b.items()}


def batch_source(rd, cfg: dict, device: torch.device):
    """A function ``(indices, chunks)`` → iterator of training batch dicts on ``device``, one per
    chunk of positions within ``indices`` (``pos``), built in ``data.workers`` processes."""
    dc = cfg["data"]
    loader = str(dc.get("loader") or "memory")
    if loader not in LOADERS:
        raise ConfigError(f"data.loader: expected one of {', '.join(LOADERS)}, got {loader!r}")
    workers = int(dc.get("workers") or 0)
    if workers < 0 or workers > 64:
        raise ConfigError(f"data.workers: expected 0..64 worker processes, got {workers}")
    device = torch.device(device)

    def batches(indices: torch.Tensor, chunks: list[torch.Tensor]):
        chunks = list(chunks)
        if workers == 0:
            for pos in chunks:
                b = rd.tensors.batch(indices[pos], device)
                b["pos"] = pos.to(device)
                yield b
            return
        dl = torch.utils.data.DataLoader(BatchDataset(rd.tensors, indices, chunks), batch_size=None, shuffle=False,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         prefetch_factor=2,
                                         # its own generator: starting the workers leaves the
                                         # run's global random stream untouched
                                         generator=torch.Generator().manual_seed(len(chunks)))
        for b in dl:
            yield _to_device(b, device)

    return batches
