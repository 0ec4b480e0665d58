"""The one dataset model (DATASETS.md): a table of items plus named protocols.

On disk a dataset is a folder::

    dataset.json          name, label names, counts, what the items carry, provenance
    items.jsonl           one item a line: id, image (relative path) and/or feature_row,
                          caption and/or tags (or tokens), labels (indices into label_names),
                          optional region ground truth
    features/*.npy        optional precomputed features, listed in dataset.json "features":
                          image "global" (N, F) and "regions" (N, R, F), "text" (N, D)
    protocols/NAME.json   splits (see :mod:`crossmedia.data.protocol`)

Everything is checked on load and a problem is reported as a :class:`DataError` naming the file,
the line or field, and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DataError
from ..io import atomic_path, write_json
from .protocol import Protocol

DATASET_FORMAT = "crossmedia-dataset"
DATASET_FORMAT_VERSION = 1
TEXT_FIELDS = ("caption", "tags", "tokens")


@dataclass
class Dataset:
    """Items (list of dicts as in ``items.jsonl``) with label names and an optional root folder."""

    name: str
    items: list[dict]
    label_names: list[str]
    root: Path | None = None
    meta: dict = field(default_factory=dict)
    _labels: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    # ------------------------------------------------------------------ views
    @property
    def ids(self) -> list[str]:
        return [str(it["id"]) for it in self.items]

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def labels(self) -> np.ndarray:
        """Multi-hot labels, (N, C) uint8."""
        if self._labels is None:
            y = np.zeros((len(self.items), self.n_labels), dtype=np.uint8)
            for i, it in enumerate(self.items):
                y[i, it.get("labels", [])] = 1
            self._labels = y
        return self._labels

    def texts(self, field_name: str) -> list:
        """The text field of every item: a string (caption) or a list of words (tags/tokens)."""
        if field_name not in TEXT_FIELDS:
            raise DataError(f"text field must be one of {list(TEXT_FIELDS)}, got {field_name!r}")
        out = []
        for it in self.items:
            if field_name not in it:
                raise DataError(f"dataset {self.name!r}: item {it['id']!r} has no {field_name!r} field")
            out.append(it[field_name])
        return out

    def has_field(self, field_name: str) -> bool:
        return bool(self.items) and all(field_name in it for it in self.items)

    def image_paths(self) -> list[Path]:
        if self.root is None:
            raise DataError(f"dataset {self.name!r} has no root folder; image paths are relative to it")
        out = []
        for it in self.items:
            if "image" not in it:
                raise DataError(f"dataset {self.name!r}: item {it['id']!r} has no 'image' path")
            out.append(self.root / it["image"])
        return out

    def features(self, kind: str = "global", mmap: bool = True) -> np.ndarray:
        """Precomputed features listed in ``dataset.json`` ``"features"``: image ``global`` (N, F)
        or ``regions`` (N, R, F), or ``text`` (N, D) (e.g. Wikipedia's LDA vectors)."""
        rel = self.meta.get("features", {}).get(kind)
        if rel is None or self.root is None:
            what = "text" if kind == "text" else "image"
            raise DataError(f"dataset {self.name!r}: no precomputed {kind!r} {what} features")
        path = self.root / rel
        if not path.is_file():
            raise DataError(f"{path}: feature file listed in dataset.json is missing")
        arr = np.load(path, mmap_mode="r" if mmap else None)
        if arr.shape[0] != len(self):
            raise DataError(f"{path}: has {arr.shape[0]} rows, expected one per item ({len(self)})")
        return arr

    def has_features(self, kind: str) -> bool:
        return self.root is not None and bool(self.meta.get("features", {}).get(kind))

    # ------------------------------------------------------------------ protocols
    def protocol_names(self) -> list[str]:
        if self.root is None or not (self.root / "protocols").is_dir():
            return []
        return sorted(p.stem for p in (self.root / "protocols").glob("*.json"))

    def protocol(self, name: str | None = None) -> Protocol:
        """Load and validate a protocol (default: the dataset's default protocol)."""
        name = name or self.meta.get("default_protocol", "default")
        if self.root is None:
            raise DataError(f"dataset {self.name!r} has no root folder to load protocol {name!r} from")
        path = self.root / "protocols" / f"{name}.json"
        if not path.is_file():
            have = self.protocol_names()
            raise DataError(f"{path}: protocol {name!r} not found (available: {', '.join(have) or 'none'})")
        p = Protocol.load(path, labels=self.labels)
        if p.n_items != len(self):
            raise DataError(f"{path}: protocol is for {p.n_items} items but the dataset has {len(self)}")
        return p

    def save_protocol(self, protocol: Protocol) -> Path:
        if self.root is None:
            raise DataError("dataset has no root folder")
        protocol.validate(labels=self.labels)
        path = self.root / "protocols" / f"{protocol.name}.json"
        protocol.save(path)
        return path

    # ------------------------------------------------------------------ storage
    def save(self, root: str | Path) -> None:
        """Write ``dataset.json`` and ``items.jsonl`` into ``root`` (atomically, file by file)."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        with atomic_path(root / "items.jsonl") as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                for it in self.items:
                    f.write(json.dumps(it, separators=(",", ":")) + "\n")
        meta = dict(self.meta)
        meta.update(
            format=DATASET_FORMAT, format_version=DATASET_FORMAT_VERSION, name=self.name,
            n_items=len(self.items), label_names=list(self.label_names),
        )
        write_json(root / "dataset.json", meta)
        self.root = root

    @classmethod
    def load(cls, root: str | Path, check_files: bool = True) -> "Dataset":
        root = Path(root)
        meta_path = root / "dataset.json"
        if not root.is_dir():
            raise DataError(f"{root}: dataset folder not found")
        if not meta_path.is_file():
            raise DataError(f"{meta_path}: not found; expected a crossmedia dataset folder (make one with `crossmedia data synth`)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{meta_path}: not valid JSON ({e.__class__.__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
            raise DataError(f"{meta_path}: expected \"format\": \"{DATASET_FORMAT}\"")
        if int(meta.get("format_version", 0)) > DATASET_FORMAT_VERSION:
            raise DataError(f"{meta_path}: format_version {meta.get('format_version')} is newer than supported ({DATASET_FORMAT_VERSION})")
        label_names = meta.get("label_names")
        if not isinstance(label_names, list) or not label_names:
            raise DataError(f"{meta_path}: field 'label_names' must be a non-empty list")
        items = list(_read_items(root / "items.jsonl", len(label_names)))
        n = meta.get("n_items")
        if n is not None and int(n) != len(items):
            raise DataError(f"{root / 'items.jsonl'}: has {len(items)} items but dataset.json records n_items = {n}")
        ds = cls(name=str(meta.get("name", root.name)), items=items, label_names=label_names, root=root, meta=meta)
        if check_files:
            for it in items:
                if "image" in it and not (root / it["image"]).is_file():
                    raise DataError(f"{root / it['image']}: image of item {str(it['id'])!r} not found")
        return ds


def _read_items(path: Path, n_labels: int) -> Iterable[dict]:
    if not path.is_file():
        raise DataError(f"{path}: not found")
    seen: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                it = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{path}:{lineno}: not a JSON object") from None
            if not isinstance(it, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            if "id" not in it:
                raise DataError(f"{path}:{lineno}: missing field 'id'")
            key = str(it["id"])
            if key in seen:
                raise DataError(f"{path}:{lineno}: duplicate item id {key!r}")
            seen.add(key)
            labels = it.get("labels", [])
            if not isinstance(labels, list) or not all(isinstance(x, int) and 0 <= x < n_labels for x in labels):
                raise DataError(f"{path}:{lineno}: field 'labels' must be a list of label indices in 0..{n_labels - 1}")
            if not any(k in it for k in ("image", "feature_row")):
                raise DataError(f"{path}:{lineno}: item needs an 'image' path or a 'feature_row'")
            if "caption" in it and not isinstance(it["caption"], str):
                raise DataError(f"{path}:{lineno}: field 'caption' must be a string")
            for k in ("tags", "tokens"):
                if k in it and not (isinstance(it[k], list) and all(isinstance(w, str) for w in it[k])):
                    raise DataError(f"{path}:{lineno}: field {k!r} must be a list of strings")
            yield it
