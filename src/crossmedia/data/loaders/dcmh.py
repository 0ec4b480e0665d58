"""DCMH-style ``.mat`` releases (MIRFlickr-25K, NUS-WIDE, IAPR TC-12 as distributed with DCMH,
SSAH, DJSRH, …): one file or several (``IAll/…-iall.mat``, ``LAll/…-lall.mat``, …) whose
variables are merged. Recognised names (case-insensitive):

- images: ``IAll``, ``images``, ``I`` … — 4-D pixels (h×w×3×N in MATLAB) are written out as
  PNG files; 2-D arrays are taken as precomputed image features (N×F)
- text: ``YAll``, ``tags``, ``T`` … — the tag bag-of-words (N×D), kept as text features
- labels: ``LAll``, ``labels``, ``L`` … — multi-hot (N×C)
- names: ``FAll`` — a cell array of image file names (used as item ids)
- split indices (1-based, optional): ``param.indexQuery``/``indexTest``, ``indexRetrieval``/
  ``indexDatabase``, ``indexTrain`` — written as the protocol ``matfile``

v5 files (scipy) and v7.3 files (HDF5, h5py) are both read; orientation is by item count, so
arrays stored transposed are handled (see :mod:`.matfile`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataError
from .base import ImageArray, Prepared, fixed_protocol, mat_files
from .matfile import MatVar, flatten_vars, item_count, iter_images, orient_rows, read_mat

IMAGE_KEYS = ("iall", "images", "image", "imgs", "img", "i", "xall", "featall", "feat_all", "features", "x")
TEXT_KEYS = ("yall", "tags", "tag", "texts", "text", "t", "y", "bow", "tall")
LABEL_KEYS = ("lall", "labels", "label", "l", "gnd", "y_label")
NAME_KEYS = ("fall", "names", "filenames", "files", "imgnames")
INDEX_KEYS = {
    "query": ("indexquery", "indextest", "index_query", "index_test", "query_index", "test_index", "idx_query"),
    "retrieval": ("indexretrieval", "indexdatabase", "index_retrieval", "index_database", "db_index",
                  "database_index", "retrieval_index", "idx_retrieval"),
    "train": ("indextrain", "index_train", "train_index", "idx_train"),
}


@dataclass
class MatData:
    n: int
    labels: np.ndarray  # (N, C) uint8
    text: np.ndarray  # (N, D) float32
    images: MatVar | None = None  # 4-D pixels
    image_features: np.ndarray | None = None  # (N, F)
    names: list[str] | None = None
    indices: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)


def _pick(vars_: dict[str, tuple[Path, object]], keys: tuple[str, ...]) -> tuple[str, Path, object] | None:
    for k in keys:
        for name, (path, v) in vars_.items():
            leaf = name.split(".")[-1].lower()
            if leaf == k:
                return name, path, v
    return None


def read_dcmh(src: Path) -> MatData:
    files = mat_files(src)
    if not files:
        raise DataError(f"{src}: no .mat file found")
    vars_: dict[str, tuple[Path, object]] = {}
    for f in files:
        for name, v in flatten_vars(read_mat(f)):
            if name in vars_:
                raise DataError(f"{f}: variable {name!r} is also in {vars_[name][0]}; expected each variable once")
            vars_[name] = (f, v)
    where = files[0] if len(files) == 1 else src
    lab = _pick(vars_, LABEL_KEYS)
    txt = _pick(vars_, TEXT_KEYS)
    img = _pick(vars_, IMAGE_KEYS)
    missing = [what for what, got in (("labels (LAll/labels)", lab), ("tags (YAll/tags)", txt),
                                       ("images (IAll/images)", img)) if got is None]
    if missing:
        have = ", ".join(sorted(vars_)) or "none"
        raise DataError(f"{where}: missing {', '.join(missing)} in the .mat file(s) (variables found: {have})")
    for what, got in (("labels", lab), ("tags", txt), ("images", img)):
        if not isinstance(got[2], MatVar):
            raise DataError(f"{got[1]}: variable {got[0]!r} ({what}) is not a numeric array")
    lab_v, txt_v, img_v = lab[2], txt[2], img[2]
    if img_v.ndim in (3, 4):
        n = item_count([lab_v, txt_v])
        if n not in img_v.shape:
            raise DataError(f"{img[1]}: variable {img[0]!r} has shape {'x'.join(map(str, img_v.shape))}; "
                            f"expected images h x w x 3 x {n} (one per label row)")
    else:
        n = item_count([lab_v, txt_v, img_v])
    labels = orient_rows(lab_v, n, "labels N x C")
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{lab[1]}: variable {lab[0]!r} must be 0/1 multi-hot labels")
    text = orient_rows(txt_v, n, "tags N x D").astype(np.float32)
    data = MatData(n=n, labels=labels.astype(np.uint8), text=text, files=[str(f) for f in files],
                   keys={"labels": lab[0], "text": txt[0], "images": img[0]})
    if img_v.ndim in (3, 4):
        data.images = img_v
    elif img_v.ndim <= 2:
        data.image_features = orient_rows(img_v, n, "image features N x F").astype(np.float32)
    else:
        raise DataError(f"{img[1]}: variable {img[0]!r} has shape {'x'.join(map(str, img_v.shape))}; expected images or features")
    nm = _pick(vars_, NAME_KEYS)
    if nm is not None:
        names = nm[2]
        if isinstance(names, list) and len(names) == n and all(isinstance(s, str) for s in names):
            data.names = [s.strip() for s in names]
    for split, keys in INDEX_KEYS.items():
        got = _pick(vars_, keys)
        if got is not None and isinstance(got[2], MatVar):
            idx = got[2].load().reshape(-1).astype(np.int64) - 1  # MATLAB is 1-based
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise DataError(f"{got[1]}: {got[0]!r} has indices outside 1..{n}")
            data.indices[split] = idx
    return data


def prepared_from_mat(src: Path, name: str, label_names: list[str] | None, description: str) -> tuple[Prepared, MatData]:
    d = read_dcmh(src)
    if label_names is None or len(label_names) != d.labels.shape[1]:
        label_names = [f"label_{j:02d}" for j in range(d.labels.shape[1])]
    ids = d.names if d.names and len(set(d.names)) == d.n else [f"{i:06d}" for i in range(d.n)]
    items = [{"id": ids[i], "labels": np.flatnonzero(d.labels[i]).astype(int).tolist()} for i in range(d.n)]
    prep = Prepared(name=name, items=items, label_names=label_names, description=description,
                    text_features=d.text, text_features_kind=f"tag bag-of-words from {d.keys['text']} (.mat)",
                    source={"path": str(src), "format": "DCMH-style .mat", "files": d.files, "variables": d.keys})
    if d.images is not None:
        img = d.images
        prep.images = ImageArray(iterate=lambda: iter_images(img, d.n), source=f"{img.path}:{img.name}")
    else:
        prep.global_features = d.image_features
        prep.global_features_kind = f"image features from {d.keys['images']} (.mat)"
    return prep, d


def matfile_protocol(prep: Prepared, d: MatData) -> None:
    """The split stored in the .mat file, if any, as protocol ``matfile``."""
    if "query" not in d.indices:
        return
    q = np.unique(d.indices["query"])
    if "retrieval" in d.indices:
        r = np.unique(d.indices["retrieval"])
    else:
        r = np.setdiff1d(np.arange(prep.n), q)
    t = np.unique(d.indices["train"]) if "train" in d.indices else r
    qr = bool(np.intersect1d(q, r).size)
    prep.protocols.append(fixed_protocol(prep, "matfile", {"train": t, "val": np.zeros(0, np.int64), "query": q, "retrieval": r},
                                         "split indices stored in the .mat file (1-based MATLAB indices)",
                                         query_in_retrieval=qr))
