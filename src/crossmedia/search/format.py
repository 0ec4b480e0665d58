"""The on-disk index format: a folder with a manifest, arrays and the model.

    manifest.json   format "crossmedia-index", format_version, model reference (name, run,
                    checkpoint, fingerprint), the codec (name, kind, JSON parameters, spec),
                    counts, and for every other file its size and sha256
    manifest.json.sha256   the sha256 of manifest.json itself (verified on every load)
    items.jsonl     one item a line (row order of every array): id, text, labels, image path
    model.pt        the model needed to encode queries and rerank (a weights-only
                    :mod:`crossmedia.models.checkpoint` file)
    *.npy           codes per modality (image_db, text_db), the codec's array state
                    (codec_<name>.npy, e.g. codec_codebooks), rerank features (regions, tokens)

These files make one version of an index; the index folder holds its versions and a pointer to
the live one, swapped atomically (:mod:`crossmedia.search.store`), so a reader never sees a
half-written index. On load the manifest's own checksum and format version are checked and (by
default) every file's checksum verified, so a corrupted or foreign folder is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import write_json
from . import store

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "sha256_file", "write_index_dir", "read_manifest", "verify_files",
           "load_array", "read_items", "model_fingerprint"]

FORMAT = "crossmedia-index"
FORMAT_VERSION = 3  # 2: the codec (name + state) in the manifest; model.pt a models.checkpoint file
#                     3: rerank regions are the model's image_regions (CMSL: projected, no longer the raw features)
MANIFEST = "manifest.json"
MANIFEST_SUM = MANIFEST + ".sha256"


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def model_fingerprint(state_dict: dict) -> str:
    """sha256 over the model's weights and buffers (names, dtypes, shapes, bytes) — what makes
    codes comparable: two indexes (or an index and a run) with the same fingerprint encode alike.
    Training-only extra state is left out."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor) or name.endswith("_extra_state"):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def write_index_dir(out: str | Path, manifest: dict, arrays: dict[str, np.ndarray], items: list[dict],
                    model_blob: dict | None = None, model_file: str | Path | None = None,
                    extra_files: dict[str, Path] | None = None, overwrite: bool = False,
                    base: str | None = None, update: bool = False) -> Path:
    """Write a new version of the index folder ``out`` and make it live atomically
    (:func:`crossmedia.search.store.new_version`; ``update``/``base``: replace live version
    ``base`` of an existing index); ``manifest`` gets the format fields and the files' checksums.
    The model comes as a dict to ``torch.save`` or as an existing ``model.pt`` (hard-linked or copied)."""
    import shutil

    import torch

    out = Path(out)
    with store.new_version(out, overwrite=overwrite, base=base, update=update) as tmp:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        with open(tmp / "items.jsonl", "w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(it, separators=(",", ":"), ensure_ascii=False) + "\n")
        if model_blob is not None:
            torch.save(model_blob, tmp / "model.pt")
        elif model_file is not None:
            store.link_or_copy(model_file, tmp / "model.pt")
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / name)
        files = {}
        for p in sorted(tmp.iterdir()):
            if p.name != MANIFEST and p.is_file():
                files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        man = {"format": FORMAT, "format_version": FORMAT_VERSION, **{k: v for k, v in manifest.items()
                                                                      if k not in ("format", "format_version", "files")}}
        man["files"] = files
        write_json(tmp / MANIFEST, man)
        (tmp / MANIFEST_SUM).write_text(f"{sha256_file(tmp / MANIFEST)}  {MANIFEST}\n", encoding="ascii")
    return out


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    mp = path / MANIFEST
    if not path.is_dir():
        raise DataError(f"{path}: index folder not found")
    if not mp.is_file():
        raise DataError(f"{mp}: not found; {path} is not a crossmedia index (build one with `crossmedia index build`)")
    _check_manifest_sum(path)
    try:
        man = json.loads(mp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{mp}: not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise DataError(f"{mp}: expected \"format\": \"{FORMAT}\"")
    ver = man.get("format_version")
    if ver != FORMAT_VERSION:
        raise DataError(f"{mp}: format_version {ver!r} is not supported by this crossmedia (reads version "
                        f"{FORMAT_VERSION}); rebuild the index with `crossmedia index build`")
    if not isinstance(man.get("files"), dict):
        raise DataError(f"{mp}: field 'files' must map file names to their size and sha256")
    return man


def _check_manifest_sum(path: Path) -> None:
    sp = path / MANIFEST_SUM
    try:
        recorded = sp.read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        raise DataError(f"{sp}: missing or unreadable; the manifest's checksum is required (rebuild the index with "
                        "`crossmedia index build`)") from None
    if sha256_file(path / MANIFEST) != recorded:
        raise DataError(f"{path / MANIFEST}: checksum mismatch (sha256 differs from {sp}); the manifest was changed "
                        "or is corrupted")


def verify_files(path: str | Path, manifest: dict, checksums: bool = True) -> None:
    """Every listed file exists with its recorded size (and sha256 when ``checksums``)."""
    path = Path(path)
    for name, rec in manifest["files"].items():
        p = path / name
        if not p.is_file():
            raise DataError(f"{p}: missing (listed in {path / MANIFEST})")
        if p.stat().st_size != int(rec["bytes"]):
            raise DataError(f"{p}: is {p.stat().st_size} bytes, the manifest records {rec['bytes']}; the index is corrupted")
        if checksums and sha256_file(p) != rec["sha256"]:
            raise DataError(f"{p}: checksum mismatch (sha256 differs from {path / MANIFEST}); the index is corrupted")


def load_array(path: str | Path, name: str, mmap: bool = True) -> np.ndarray:
    p = Path(path) / f"{name}.npy"
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{p}: not a readable .npy array ({e.__class__.__name__})") from None


def read_items(path: str | Path) -> list[dict]:
    p = Path(path) / "items.jsonl"
    out = []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"{p}:{n}: not valid JSON") from None
    return out
