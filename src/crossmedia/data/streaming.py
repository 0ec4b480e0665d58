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
  small and stay in memory in all modes;
* ``shards`` — the training batches come from tar shards read front to back
  (:mod:`crossmedia.data.shards`, ``data.shards``, ``data.shuffle_buffer``): the batch sizes of
  the epoch are kept, their items are those the shuffled shard stream delivers. Validation and
  the models' whole-training-set passes read the dataset folder like ``stream``.

``data.workers`` (0 = the training process itself) sets the number of ``DataLoader`` worker
processes that build batches ahead (started once and kept for the whole training); batches are
pinned for an asynchronous copy when training on CUDA. An augmentation hook (:data:`Augment`) may
transform each decoded image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, DataError
from . import shards as shardfmt

__all__ = ["LOADERS", "Augment", "LazyImages", "MappedRows", "decode_image", "BatchDataset", "EpochPlan", "batch_source",
           "row_split"]

LOADERS = ("memory", "stream", "shards")


def row_split(n: int, world: int) -> list[tuple[int, int]]:
    """(start, stop) of each rank's rows of an n-row batch: contiguous, sizes differ by ≤ 1."""
    base, extra = divmod(n, world)
    out, s = [], 0
    for r in range(world):
        e = s + base + (1 if r < extra else 0)
        out.append((s, e))
        s = e
    return out

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
    """Item ``(items, pos)`` = the batch of dataset items ``items`` (at training-split positions
    ``pos``) as a CPU batch dict with ``pos``; one batch per worker task keeps the per-item
    overhead out of the pipeline. The keys come from an :class:`EpochPlan`, so the dataset holds
    no per-epoch state and its worker processes can live across epochs."""

    def __init__(self, tensors):
        self.tensors = tensors

    def __getitem__(self, key) -> dict:
        items, pos = key
        b = self.tensors.batch(items, "cpu")
        b["pos"] = pos
        return b


class EpochPlan(torch.utils.data.Sampler):
    """The keys ``(items, pos)`` of the current epoch's batches, in order; replaced before each
    epoch (the sampler is read in the training process, the workers only receive keys)."""

    def __init__(self):
        self.keys: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __iter__(self):
        return iter(list(self.keys))

    def __len__(self) -> int:
        return len(self.keys)


def _to_device(b: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    return {k: (v if k == "lengths" else v.to(device, non_blocking=nb)) for k, v in b.items()}


def batch_source(rd, cfg: dict, device: torch.device, rank: int = 0, world: int = 1, gather=None):
    """A function ``(indices, chunks, epoch)`` → iterator of training batch dicts on ``device``,
    one per chunk of positions within ``indices`` (``pos``), built in ``data.workers`` processes.

    With ``data.loader=shards`` only the chunks' sizes are used: each batch holds that many items
    from the epoch's shard stream. In a data-parallel run (``world`` > 1) each rank then reads its
    own shards and builds its share of the batch (:func:`row_split`); ``gather(batch, sizes)``
    joins the shares into the global batch on every rank."""
    dc = cfg["data"]
    loader = str(dc.get("loader") or "memory")
    if loader not in LOADERS:
        raise ConfigError(f"data.loader: expected one of {', '.join(LOADERS)}, got {loader!r}")
    workers = int(dc.get("workers") or 0)
    if workers < 0 or workers > 64:
        raise ConfigError(f"data.workers: expected 0..64 worker processes, got {workers}")
    device = torch.device(device)
    if loader == "shards":
        return _shard_batches(rd, cfg, device, workers, rank, world, gather)

    plan, loader_of = EpochPlan(), []

    def batches(indices: torch.Tensor, chunks: list[torch.Tensor], epoch: int = 0):
        chunks = list(chunks)
        if workers == 0:
            for pos in chunks:
                b = rd.tensors.batch(indices[pos], device)
                b["pos"] = pos.to(device)
                yield b
            return
        if not loader_of:
            # one DataLoader for the whole training: its worker processes start once, not every epoch
            loader_of.append(torch.utils.data.DataLoader(
                BatchDataset(rd.tensors), batch_size=None, sampler=plan, num_workers=workers,
                pin_memory=device.type == "cuda", prefetch_factor=2, persistent_workers=True,
                # its own generator: starting the workers leaves the run's global random stream untouched
                generator=torch.Generator().manual_seed(0)))
        plan.keys = [(indices[pos], pos) for pos in chunks]
        for b in loader_of[0]:
            yield _to_device(b, device)

    return batches


def _shard_batches(rd, cfg: dict, device: torch.device, workers: int, rank: int, world: int, gather):
    dc = cfg["data"]
    folder = shardfmt.shards_folder(dc)
    manifest = shardfmt.read_manifest(folder, rd.dataset)  # before any shard is read
    buffer = shardfmt.check_buffer(dc.get("shuffle_buffer", 1000))
    source = str(dc.get("image_source") or "pixels")
    if manifest["image_source"] != source:
        raise ConfigError(f"data.shards: {folder} holds image {manifest['image_source']}, the run reads "
                          f"data.image_source={source}")
    if len(manifest["shards"]) < world:
        raise ConfigError(f"data.shards: {folder} has {len(manifest['shards'])} shards, fewer than the {world} "
                          "processes (write smaller shards: --shard-size)")
    if world > 1 and gather is None:
        raise ValueError("shards with several processes need a gather function")
    seed = int(cfg["train"]["seed"])
    size = dc.get("image_size")
    pin = device.type == "cuda"

    def batches(indices: torch.Tensor, chunks: list[torch.Tensor], epoch: int = 0):
        train_pos = shardfmt.train_positions(len(rd.tensors), indices)
        stream = shardfmt.ShardStream(folder, manifest, train_pos, size=size, seed=seed, epoch=epoch, rank=rank,
                                      world=world, buffer=buffer, cycle=world > 1)
        if workers == 0:
            items = iter(stream)
        else:
            items = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, pin_memory=False,
                                                     prefetch_factor=64,
                                                     generator=torch.Generator().manual_seed(epoch)))
        shape = None
        for chunk in chunks:
            spans = row_split(len(chunk), world)
            s, e = spans[rank]
            pos, rows = [], []
            for _ in range(e - s):
                item = next(items, None)
                if item is None:
                    raise DataError(f"data.shards: {folder} ran out of training items within epoch {epoch + 1} "
                                    f"(rank {rank}); the shards hold fewer training items than the split")
                if item[0] == "error":
                    raise DataError(item[1])
                p, x = item
                x = torch.as_tensor(x)
                if shape is None:
                    shape = tuple(x.shape)
                elif tuple(x.shape) != shape:
                    raise DataError(f"data.shards: item {int(indices[int(p)])} has shape {tuple(x.shape)}, expected "
                                    f"{shape} like the others (set data.image_size)")
                pos.append(int(p))
                rows.append(x)
            pos_t = torch.as_tensor(pos, dtype=torch.long)
            image = torch.stack(rows) if rows else torch.zeros(0, *(shape or ()))
            if pin:
                image = image.pin_memory()
            b = rd.tensors.batch(indices[pos_t], device, image=image)
            b["pos"] = pos_t.to(device)
            if world > 1:
                b = gather(b, [stop - start for start, stop in spans])
            yield b

    return batches
