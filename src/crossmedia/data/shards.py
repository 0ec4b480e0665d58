"""Sharded training input: a dataset's images (or precomputed image feature rows) in tar shards
read front to back, for collections on object stores or slow network file systems where many
small random reads are slow.

**Format.** A shard folder holds ``shard-NNNNN.tar`` files and ``shards.json``. Every shard is a
plain POSIX tar in the WebDataset layout: per item two members sharing a key (the dataset row,
9 digits) — ``KEY.png`` / ``KEY.jpg`` (the image file's own bytes, not re-encoded) or ``KEY.npy``
(the float32 global feature row), and ``KEY.json`` (``{"row": ..., "id": ...}``). Shard i holds the
dataset rows ``[first, first + count)`` in order. ``shards.json`` records the format, the
dataset's fingerprint (item count and the SHA-256 of its ``items.jsonl``), the image source, the
shard size and, per shard, its name, first row, count, byte size and SHA-256. Text rows and
labels are small and stay in the dataset folder (read into memory), so a run needs the dataset
folder as well; the sample's ``row`` is how it finds them, and its position in the training
split indexes the per-item state (memory banks, codes).

**Writing** (:func:`write_shards`, ``crossmedia data shard``) writes each shard to a temporary
file and renames it into place, then rewrites the manifest (also atomically); an interrupted
run continues where it stopped (shards already listed are checked by size and SHA-256 and kept).

**Reading** (:class:`ShardStream`, ``data.loader=shards``): every epoch the shard list is
permuted with a generator seeded by (seed, epoch); rank r of W takes every W-th shard of that
order, and DataLoader worker w of K every K-th of the rank's shards. Each worker decodes its
shards' training items and passes them through a shuffle buffer (``data.shuffle_buffer`` items,
numpy generator seeded by (seed, epoch, rank, worker)). Each shard's SHA-256 is checked as it is
read, each member's size is checked against the manifest's bound before it is read, and a
missing or corrupt shard is a one-line :class:`DataError`. With one process an epoch yields
every training item exactly once; with W processes each rank yields its share of every global
batch, cycling through its shards again (a new permutation) when they run out, so an epoch
holds as many samples as one pass but an item may appear twice or not at all.

Plain :mod:`tarfile` rather than the ``webdataset`` package: the format is just a tar, the
reader needs exact control of what it shares out (shards per rank and worker, seeded shuffles
from the run's seed, size bounds before reading, checksums), and the files stay readable by
``webdataset`` and by ``tar``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import tarfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, DataError
from ..io import atomic_path, write_json
from .dataset import Dataset

__all__ = ["SHARDS_FORMAT", "MANIFEST", "MAX_SHARD_SIZE", "MAX_MEMBER_BYTES", "MAX_SHUFFLE_BUFFER",
           "write_shards", "read_manifest", "ShardStream", "assign_shards", "iter_shard"]

SHARDS_FORMAT = "crossmedia-shards"
SHARDS_VERSION = 1
MANIFEST = "shards.json"
#: items per shard at most (``--shard-size``)
MAX_SHARD_SIZE = 1_000_000
#: bytes of one member (an image file, a feature row) at most
MAX_MEMBER_BYTES = 64 << 20
#: bytes of ``shards.json`` at most
MAX_MANIFEST_BYTES = 64 << 20
#: items of the shuffle buffer at most (``data.shuffle_buffer``)
MAX_SHUFFLE_BUFFER = 100_000
_IMAGE_EXTS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}


def _sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fingerprint(ds: Dataset) -> dict:
    items = ds.root / "items.jsonl"
    if not items.is_file():
        raise DataError(f"{items}: not found (a dataset folder is needed to write or read shards)")
    return {"n_items": len(ds), "items_sha256": _sha256_file(items)}


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.tar"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # the same bytes for the same data: resumable, checkable
    tar.addfile(info, io.BytesIO(data))


def write_shards(ds: Dataset, out: str | Path, shard_size: int = 1000, image_source: str = "pixels",
                 overwrite: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """Write ``ds``'s images (``pixels``) or global feature rows (``features``) into tar shards
    of ``shard_size`` items in ``out``; returns the manifest. Continues an interrupted run."""
    out = Path(out)
    if not isinstance(shard_size, int) or not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise ConfigError(f"--shard-size: expected 1..{MAX_SHARD_SIZE} items per shard, got {shard_size!r}")
    if image_source not in ("pixels", "features"):
        raise ConfigError(f"--image-source: expected pixels or features, got {image_source!r}")
    fp = _fingerprint(ds)
    n = len(ds)
    if image_source == "pixels":
        paths = ds.image_paths()
        for p in paths:
            if p.suffix.lower() not in _IMAGE_EXTS:
                raise DataError(f"{p}: expected a .png, .jpg or .jpeg image file")
        feats = None
    else:
        feats = ds.features("global")
        if feats.dtype.itemsize * int(np.prod(feats.shape[1:])) > MAX_MEMBER_BYTES:
            raise DataError(f"{ds.root}: a feature row of {feats.shape[1:]} exceeds {MAX_MEMBER_BYTES} bytes")
    head = {"format": SHARDS_FORMAT, "version": SHARDS_VERSION, "dataset": {"name": ds.name, **fp},
            "image_source": image_source, "shard_size": shard_size, "max_member_bytes": MAX_MEMBER_BYTES}
    done: list[dict] = []
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        prev = None
        if (out / MANIFEST).is_file():
            try:
                prev = read_manifest(out, check_files=False)
            except DataError:
                prev = None
        same = prev is not None and all(prev.get(k) == v for k, v in head.items())
        if not same and not overwrite:
            raise DataError(f"{out}: folder is not empty and holds no shards of this dataset with these settings "
                            "(pass --overwrite to replace it)")
        if not same:
            for p in out.iterdir():
                if p.is_file() and (p.name == MANIFEST or (p.name.startswith("shard-") and p.suffix == ".tar")
                                    or p.name.endswith(".tmp")):
                    p.unlink()
        else:
            for e in prev["shards"]:  # keep what an interrupted run finished, if intact
                p = out / e["name"]
                if p.is_file() and p.stat().st_size == e["bytes"] and _sha256_file(p) == e["sha256"]:
                    done.append(e)
                else:
                    break
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob(".*.tmp"):  # temporaries of an interrupted write
        p.unlink()
    n_shards = (n + shard_size - 1) // shard_size
    for i in range(len(done), n_shards):
        first, stop = i * shard_size, min(n, (i + 1) * shard_size)
        target = out / shard_name(i)
        with atomic_path(target) as tmp:
            with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
                for row in range(first, stop):
                    key = f"{row:09d}"
                    if feats is not None:
                        buf = io.BytesIO()
                        np.save(buf, np.asarray(feats[row], dtype=np.float32))
                        _add(tar, f"{key}.npy", buf.getvalue())
                    else:
                        p = paths[row]
                        size = p.stat().st_size
                        if size > MAX_MEMBER_BYTES:
                            raise DataError(f"{p}: image file of {size} bytes exceeds {MAX_MEMBER_BYTES}")
                        _add(tar, f"{key}.{_IMAGE_EXTS[p.suffix.lower()]}", p.read_bytes())
                    _add(tar, f"{key}.json", json.dumps({"row": row, "id": str(ds.items[row]["id"])}).encode())
        done.append({"name": target.name, "first": first, "count": stop - first, "bytes": target.stat().st_size,
                     "sha256": _sha256_file(target)})
        write_json(out / MANIFEST, {**head, "complete": len(done) == n_shards, "shards": done})
        if echo is not None:
            echo(f"{target.name}: rows {first}..{stop - 1} ({len(done)}/{n_shards})")
    manifest = {**head, "complete": True, "shards": done}
    write_json(out / MANIFEST, manifest)
    return manifest


def read_manifest(folder: str | Path, ds: Dataset | None = None, check_files: bool = True) -> dict:
    """``folder``'s ``shards.json``, validated (and matched against ``ds`` when given): sizes
    bounded, rows contiguous, shard files present with their recorded byte sizes."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: not found (write shards with `crossmedia data shard DATA --out {folder}`)")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise DataError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(m, dict) or m.get("format") != SHARDS_FORMAT or m.get("version") != SHARDS_VERSION:
        raise DataError(f"{path}: expected a {SHARDS_FORMAT} manifest, version {SHARDS_VERSION}")
    shards = m.get("shards")
    if not isinstance(shards, list):
        raise DataError(f"{path}: 'shards' must be a list")
    nxt = 0
    for k, e in enumerate(shards):
        ok = (isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"] == shard_name(k)
              and all(isinstance(e.get(f), int) and not isinstance(e.get(f), bool) for f in ("first", "count", "bytes"))
              and isinstance(e.get("sha256"), str) and len(e["sha256"]) == 64)
        if not ok or e["first"] != nxt or not 1 <= e["count"] <= MAX_SHARD_SIZE or e["bytes"] < 0:
            raise DataError(f"{path}: shard entry {k} is malformed (expected name {shard_name(k)}, first {nxt}, "
                            f"count 1..{MAX_SHARD_SIZE}, bytes, sha256)")
        nxt += e["count"]
        if check_files:
            p = folder / e["name"]
            if not p.is_file():
                raise DataError(f"{p}: shard listed in {MANIFEST} is missing")
            if p.stat().st_size != e["bytes"]:
                raise DataError(f"{p}: shard is {p.stat().st_size} bytes, {MANIFEST} says {e['bytes']} (corrupt or truncated)")
    if ds is not None:
        fp = _fingerprint(ds)
        have = m.get("dataset") or {}
        if have.get("n_items") != fp["n_items"] or have.get("items_sha256") != fp["items_sha256"]:
            raise DataError(f"{path}: the shards were written from another dataset than {ds.root} "
                            f"({have.get('n_items')} items vs {fp['n_items']}, or items.jsonl changed); write them again")
        if not m.get("complete") or nxt != len(ds):
            raise DataError(f"{path}: the shards hold {nxt} of {len(ds)} items (an interrupted `crossmedia data shard`; "
                            "run it again to finish)")
    return m


class _HashingReader(io.RawIOBase):
    """A read-only file wrapper hashing every byte read."""

    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.f.read(len(b))
        self.h.update(data)
        b[: len(data)] = data
        return len(data)


def iter_shard(path: Path, entry: dict, max_member: int = MAX_MEMBER_BYTES) -> Iterator[tuple[int, str, bytes]]:
    """(row, extension, payload bytes) of every item of one shard, in order; the shard's SHA-256
    is checked when its end is reached."""
    name = path.name
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot open shard ({e.__class__.__name__})") from None
    with f:
        reader = _HashingReader(f)
        pending: dict[str, tuple[str, bytes]] = {}
        seen = 0
        try:
            with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
                for member in tar:
                    if not member.isfile() or member.size > max_member:
                        raise DataError(f"{path}: member {member.name!r} is not a file of at most {max_member} bytes")
                    key, _, ext = member.name.partition(".")
                    if not key.isdigit() or ext not in ("png", "jpg", "npy", "json"):
                        raise DataError(f"{path}: unexpected member {member.name!r}")
                    data = tar.extractfile(member).read()
                    if key in pending:
                        (e1, d1) = pending.pop(key)
                        meta, (pext, payload) = (d1, (ext, data)) if e1 == "json" else (data, (e1, d1))
                        row = int(json.loads(meta)["row"])
                        if row != int(key) or not entry["first"] <= row < entry["first"] + entry["count"]:
                            raise DataError(f"{path}: item {key} is outside the rows {MANIFEST} lists for {name}")
                        seen += 1
                        yield row, pext, payload
                    else:
                        pending[key] = (ext, data)
                while reader.read(1 << 20):  # the tar's end padding, for the checksum
                    pass
        except (tarfile.TarError, json.JSONDecodeError, KeyError, ValueError, EOFError) as e:
            raise DataError(f"{path}: corrupt shard ({e.__class__.__name__})") from None
        if pending or seen != entry["count"]:
            raise DataError(f"{path}: holds {seen} complete items, {MANIFEST} says {entry['count']}")
        if reader.h.hexdigest() != entry["sha256"]:
            raise DataError(f"{path}: SHA-256 differs from {MANIFEST} (corrupt shard)")


def decode_payload(ext: str, payload: bytes, size: int | None, where: str) -> np.ndarray:
    """An image member as an (3, H, W) uint8 array resized to size × size (bilinear, as the other
    loaders), or a feature member as a float32 vector."""
    if ext == "npy":
        try:
            return np.load(io.BytesIO(payload), allow_pickle=False).astype(np.float32, copy=False)
        except ValueError as e:
            raise DataError(f"{where}: cannot read feature row ({e})") from None
    try:
        with Image.open(io.BytesIO(payload)) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{where}: cannot decode image ({e.__class__.__name__})") from None


def assign_shards(n_shards: int, seed: int, epoch: int, rank: int, world: int, worker: int, workers: int,
                  cycle: int = 0) -> list[int]:
    """The shards (indices) a DataLoader worker of a rank reads in an epoch: a permutation seeded
    by (seed, epoch, cycle), every ``world``-th from ``rank``, then every ``workers``-th from
    ``worker``. Over the ranks and workers the shards are a partition of all shards."""
    g = torch.Generator().manual_seed((int(seed) * 1000003 + int(epoch)) * 1009 + int(cycle))
    order = torch.randperm(n_shards, generator=g).tolist()
    return order[rank::world][worker::workers]


class ShardStream(torch.utils.data.IterableDataset):
    """(position in the training split, image uint8 (3, S, S) or feature row) of the training
    items in a shard folder, for one rank, one epoch (see the module docstring)."""

    def __init__(self, folder: Path, manifest: dict, train_pos: np.ndarray, *, size: int | None, seed: int,
                 epoch: int, rank: int, world: int, buffer: int, cycle: bool):
        self.folder, self.shards, self.train_pos = Path(folder), manifest["shards"], train_pos
        self.size, self.seed, self.epoch, self.rank, self.world = size, seed, epoch, rank, world
        self.buffer, self.cycle = buffer, cycle
        self.max_member = int(manifest.get("max_member_bytes", MAX_MEMBER_BYTES))

    def _items(self, worker: int, workers: int) -> Iterator[tuple[int, np.ndarray]]:
        for c in itertools.count():
            got = 0
            for k in assign_shards(len(self.shards), self.seed, self.epoch, self.rank, self.world, worker, workers, c):
                e = self.shards[k]
                path = self.folder / e["name"]
                for row, ext, payload in iter_shard(path, e, min(self.max_member, MAX_MEMBER_BYTES)):
                    pos = int(self.train_pos[row])
                    if pos >= 0:  # a training item
                        got += 1
                        yield pos, decode_payload(ext, payload, self.size, f"{path} item {row}")
            if not self.cycle or got == 0:
                return

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        rng = np.random.default_rng([int(self.seed), int(self.epoch), int(self.rank), worker])
        buf: list = []
        try:
            for item in self._items(worker, workers):
                if len(buf) < self.buffer:
                    buf.append(item)
                    continue
                j = int(rng.integers(len(buf)))
                out, buf[j] = buf[j], item
                yield out
            for j in rng.permutation(len(buf)).tolist():
                yield buf[j]
        except DataError as e:  # raised in the training process, as one line
            yield ("error", str(e))


def train_positions(n_items: int, train_idx) -> np.ndarray:
    """Dataset row → position in the training split (−1 for other rows)."""
    pos = np.full(n_items, -1, dtype=np.int64)
    idx = np.asarray(train_idx, dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    return pos


def shards_folder(dc: dict) -> Path:
    """``data.shards`` (default ``DATA/shards``), checked to be a folder."""
    p = Path(dc.get("shards") or Path(str(dc["root"])) / "shards")
    if not p.is_dir():
        raise DataError(f"data.shards: {p} is not a folder (write shards with `crossmedia data shard DATA --out {p}`)")
    return p


def check_buffer(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SHUFFLE_BUFFER:
        raise ConfigError(f"data.shuffle_buffer: expected 1..{MAX_SHUFFLE_BUFFER} items, got {value!r}")
    return value

