"""The feature file format: a folder ::

    header.json    format, backbone, weights (source, SHA-256), input size, preprocessing,
                   shapes and dtype, the dataset it was made from (name, item count, SHA-256 of
                   the item ids), the items that failed, when and with what versions
    global.npy     (N, C) global vectors (mean of the region grid)
    regions.npy    (N, R, C) region features, R = h·w cells in row-major order (optional)
    ok.npy         (N,) bool: False for items whose image could not be decoded (rows are 0)
    report.json    the images that failed: index, id, path, error
    dataset.json, items.jsonl, protocols/, text/
                   the source dataset with these features recorded (image paths made absolute):
                   the folder is itself a dataset, ``--data FEATS --set data.image_source=features``

Row ``i`` is item ``i`` of the dataset. :func:`load_features` checks the header against the
arrays; :func:`write_dataset_view` makes the folder a dataset (the source dataset is left
untouched); :func:`attach_features` instead records the files in the source dataset's
``dataset.json`` (only when asked: ``features extract --attach``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import Dataset
from ..errors import DataError
from ..io import write_json

FEATURES_FORMAT = "crossmedia-features"
FEATURES_FORMAT_VERSION = 1


def ids_digest(ids: list[str]) -> str:
    h = hashlib.sha256()
    for s in ids:
        h.update(s.encode("utf-8") + b"\n")
    return h.hexdigest()


@dataclass
class FeatureSet:
    path: Path
    header: dict
    global_: np.ndarray
    regions: np.ndarray | None
    ok: np.ndarray

    @property
    def failed(self) -> list[int]:
        return np.flatnonzero(~self.ok).tolist()


def load_features(path: str | Path, mmap: bool = True) -> FeatureSet:
    path = Path(path)
    hp = path / "header.json"
    if not hp.is_file():
        raise DataError(f"{hp}: not found; expected a crossmedia feature folder (made by `crossmedia features extract`)")
    try:
        header = json.loads(hp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{hp}: not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FEATURES_FORMAT:
        raise DataError(f"{hp}: expected \"format\": \"{FEATURES_FORMAT}\"")
    if int(header.get("format_version", 0)) > FEATURES_FORMAT_VERSION:
        raise DataError(f"{hp}: format_version {header.get('format_version')} is newer than supported ({FEATURES_FORMAT_VERSION})")
    n = int(header["n_items"])

    def arr(name: str, shape_key: str | None) -> np.ndarray:
        p = path / name
        if not p.is_file():
            raise DataError(f"{p}: listed in {hp.name} but missing")
        try:
            a = np.load(p, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as e:
            raise DataError(f"{p}: not a readable .npy array ({e.__class__.__name__}); is it truncated?") from None
        want = header[shape_key]["shape"] if shape_key else [n]
        if list(a.shape) != list(want):
            raise DataError(f"{p}: has shape {list(a.shape)}, the header says {want}")
        return a

    g = arr(header["global"]["file"], "global")
    r = arr(header["regions"]["file"], "regions") if header.get("regions") else None
    ok = np.asarray(arr("ok.npy", None), dtype=bool)
    return FeatureSet(path, header, g, r, ok)


def _features_meta(h: dict, rel, failed: list[int]) -> dict:
    f = {"global": rel(h["global"]["file"]),
         "global_kind": f"{h['backbone']} global (mean of the {h['grid'][0]}x{h['grid'][1]} map), {h['feature_dim']}-d"}
    if h.get("regions"):
        f["regions"] = rel(h["regions"]["file"])
        f["regions_kind"] = f"{h['backbone']} {h['grid'][0]}x{h['grid'][1]} region grid, row-major"
    f["image_header"] = rel("header.json")
    if failed:
        f["missing"] = list(failed)
        f["report"] = rel("report.json")
    return f


def write_dataset_view(folder: Path, ds, header: dict, failed: list[int]) -> None:
    """Make the feature folder ``folder`` a dataset: ``ds``'s items (image paths absolute),
    protocols and prepared text, with these features recorded in its ``dataset.json``."""
    import shutil

    src = Path(ds.root).resolve()
    with open(folder / "items.jsonl", "w", encoding="utf-8") as f:
        for it in ds.items:
            it = dict(it)
            if "image" in it:
                it["image"] = str((src / it["image"]).resolve())
            f.write(json.dumps(it, separators=(",", ":")) + "\n")
    for sub in ("protocols", "text"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, folder / sub)
    meta = dict(ds.meta)
    old = dict(meta.get("features") or {})
    for key in ("global", "global_kind", "regions", "regions_kind", "image_header", "missing", "report"):
        old.pop(key, None)
    for key, val in list(old.items()):  # other feature files (text features) stay where they are
        if isinstance(val, str) and val.endswith((".npy", ".npz", ".json")):
            old[key] = str((src / val).resolve())
    meta["features"] = {**old, **_features_meta(header, lambda name: name, failed)}
    meta["derived_from"] = str(src)
    write_json(folder / "dataset.json", meta)


def attach_features(dataset_root: str | Path, feats: FeatureSet) -> dict:
    """Point the dataset's ``dataset.json`` at ``feats`` (global, regions, header, failed rows)."""
    ds = Dataset.load(dataset_root, check_files=False)
    h = feats.header
    if int(h["n_items"]) != len(ds) or h["dataset"].get("ids_sha256") != ids_digest(ds.ids):
        raise DataError(f"{feats.path / 'header.json'}: made for another dataset ({h['n_items']} items, "
                        f"{h['dataset'].get('name')!r}) than {ds.root} ({len(ds)} items)")
    root = Path(dataset_root).resolve()

    def rel(name: str) -> str:
        return os.path.relpath((feats.path / name).resolve(), root)

    meta_path = root / "dataset.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    f = dict(meta.get("features") or {})
    for key in ("global", "global_kind", "regions", "regions_kind", "image_header", "missing", "report"):
        f.pop(key, None)
    f.update(_features_meta(h, rel, feats.failed))
    meta["features"] = f
    write_json(meta_path, meta)
    return f


def write_header(path: Path, header: dict) -> None:
    write_json(path / "header.json", header)
