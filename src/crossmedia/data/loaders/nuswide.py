"""NUS-WIDE (Chua et al. 2009), the TC-21 and TC-10 subsets used by cross-modal hashing.

Raw release::

    ImageList/Imagelist.txt            269,648 lines, e.g. C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg
    NUS_WID_Tags/AllTags1k.txt         269,648 lines of 1,000 0/1 values (the 1k-tag BoW)
    (Concepts|NUS_WID_Tags)/TagList1k.txt   the 1,000 tag names
    Groundtruth/AllLabels/Labels_<concept>.txt   269,648 lines of 0/1, one file per concept (81)
    Flickr/<concept>/<file>.jpg        the images (the path in Imagelist after "Flickr")

Standard filtering (DCMH): keep the 21 (TC-21) or 10 (TC-10) most frequent concepts and the
images with at least one of them — 195,834 / 186,577 pairs; unlabelled images are dropped.
Labels are ordered by descending frequency. Protocol (DCMH): 2,100 query, 10,500 train drawn
from the retrieval set (the rest), seeded.

DCMH ``.mat`` releases (``IAll``/``YAll``/``LAll``, optional ``param.indexQuery`` …) are read
too; pass ``--subset`` to say which one it is.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ...errors import DataError, UserError
from ...progress import progress
from . import register_preparer
from .base import (PrepareOptions, Prepared, check_standard_count, find_dir, find_file, mat_files,
                   random_protocol, read_lines)
from .dcmh import matfile_protocol, prepared_from_mat

N_RELEASE = 269_648
SUBSETS = {"tc21": (21, 195_834), "tc10": (10, 186_577)}
SIZES = {"n_query": 2_100, "n_train": 10_500}
REFERENCE = "DCMH (Jiang & Li, CVPR 2017)"


@register_preparer("nuswide", "NUS-WIDE TC-21 (195,834 pairs) or TC-10 (186,577; --subset tc10), 1,000-d tag BoW; "
                   "2,100 query / 10,500 train / rest retrieval",
                   "raw NUS-WIDE lists (ImageList, AllTags1k, TagList1k, AllLabels/Labels_*.txt, Flickr/ images) or DCMH .mat")
def prepare_nuswide(src: Path, opts: PrepareOptions) -> Prepared:
    subset = (opts.subset or "tc21").lower().replace("-", "")
    if subset not in SUBSETS:
        raise UserError(f"--subset: expected tc21 or tc10 for nuswide, got {opts.subset!r}")
    k, n_std = SUBSETS[subset]
    name = f"nuswide-{subset}"
    desc = (f"NUS-WIDE {subset.upper()}: Flickr images, 1,000-tag BoW, the {k} most frequent of the 81 concepts as "
            f"multi-labels; unlabelled images dropped (DCMH).")
    raw = find_file(src, ["AllTags1k.txt"], "tags", required=False)
    if raw is None and mat_files(src):
        prep, d = prepared_from_mat(src, name, None, desc)
        if prep.labels().shape[1] != k and not opts.nonstandard:
            raise DataError(f"{src}: labels have {prep.labels().shape[1]} columns; {name} has {k} (is this the other subset? use --subset)")
        _finish(prep, n_std, opts)
        matfile_protocol(prep, d)
        return prep
    if raw is None:
        raise DataError(f"{src}: expected the NUS-WIDE release (ImageList/Imagelist.txt, NUS_WID_Tags/AllTags1k.txt, "
                        "TagList1k.txt, Groundtruth/AllLabels/) or DCMH-style .mat files; found neither")
    return _prepare_raw(src, raw, name, desc, k, n_std, opts)


def _finish(prep: Prepared, n_std: int, opts: PrepareOptions) -> None:
    scale = check_standard_count(prep, n_std, "labelled pairs", opts)
    prep.protocols.append(random_protocol(prep, n_query=SIZES["n_query"], n_train=SIZES["n_train"], n_val=500,
                                          user_n_val=opts.n_val, seed=opts.seed, scale=scale, reference=REFERENCE))
    if scale == 1.0:
        prep.standard = {"reference": REFERENCE, "n_items": n_std,
                         "protocols": {"default": {"query": 2_100, "retrieval": n_std - 2_100, "train": 10_500}}}


def read_binary_rows(path: Path, n_cols: int | None = None) -> np.ndarray:
    """A whitespace-separated 0/1 matrix file as uint8 (rows, cols); one row per non-empty line."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.__class__.__name__})") from None
    n_rows = sum(1 for ln in data.splitlines() if ln.strip())
    if not n_rows:
        raise DataError(f"{path}: empty file")
    first = next(ln for ln in data.splitlines() if ln.strip())
    cols = n_cols or len(first.split())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            flat = np.fromstring(data.decode("ascii", errors="replace"), dtype=np.int8, sep=" ")
    except (ValueError, DeprecationWarning):
        flat = None
    if flat is None or flat.size != n_rows * cols or (flat.size and (flat.min() < 0 or flat.max() > 1)):
        for lineno, ln in enumerate(data.splitlines(), 1):
            parts = ln.split()
            if ln.strip() and (len(parts) != cols or any(p not in (b"0", b"1") for p in parts)):
                raise DataError(f"{path}:{lineno}: expected {cols} values 0/1, got {len(parts)} value(s)")
        raise DataError(f"{path}: expected {cols} values 0/1 per line")  # pragma: no cover
    return flat.reshape(n_rows, cols).astype(np.uint8)


def _image_relpath(line: str) -> str:
    parts = [p for p in line.strip().replace("\\", "/").split("/") if p]
    low = [p.lower() for p in parts]
    if "flickr" in low:
        parts = parts[low.index("flickr") + 1 :]
    else:
        parts = parts[-2:]
    return "/".join(parts)


def _prepare_raw(src: Path, tags_path: Path, name: str, desc: str, k: int, n_std: int, opts: PrepareOptions) -> Prepared:
    list_path = find_file(src, ["Imagelist.txt"], "the image list")
    names_path = find_file(src, ["TagList1k.txt"], "the tag names")
    lab_dir = find_dir(src, ["AllLabels"])
    if lab_dir is None:
        raise DataError(f"{src}: expected Groundtruth/AllLabels/Labels_<concept>.txt files; not found")
    image_lines = [ln for ln in read_lines(list_path) if ln.strip()]
    n = len(image_lines)
    if n != N_RELEASE and not opts.nonstandard:
        raise DataError(f"{list_path}: {n} images; the NUS-WIDE release has {N_RELEASE} (pass --nonstandard to use them anyway)")
    tag_names = [ln.strip() for ln in read_lines(names_path) if ln.strip()]
    tags = read_binary_rows(tags_path, len(tag_names))
    if tags.shape[0] != n:
        raise DataError(f"{tags_path}: {tags.shape[0]} rows but {list_path} lists {n} images; expected one row per image")
    concept_files = sorted(lab_dir.glob("Labels_*.txt"))
    if not concept_files:
        raise DataError(f"{lab_dir}: no Labels_<concept>.txt files")
    concepts = [p.stem[len("Labels_"):] for p in concept_files]
    if len(concepts) < k:
        raise DataError(f"{lab_dir}: {len(concepts)} concept files; {name} needs at least {k}")
    y_all = np.zeros((n, len(concepts)), dtype=np.uint8)
    for j, p in enumerate(progress(concept_files, desc="reading concept labels", unit="file")):
        col = read_binary_rows(p, 1)
        if col.shape[0] != n:
            raise DataError(f"{p}: {col.shape[0]} lines but {list_path} lists {n} images; expected one 0/1 per image")
        y_all[:, j] = col[:, 0]
    freq = y_all.sum(0)
    order = sorted(range(len(concepts)), key=lambda j: (-int(freq[j]), concepts[j]))[:k]
    y = y_all[:, order]
    keep = np.flatnonzero(y.sum(1) > 0)
    img_root = find_dir(src, ["Flickr"]) or find_dir(src, ["images"])
    if img_root is None:
        raise DataError(f"{src}: expected the images under Flickr/<concept>/<file>.jpg; no Flickr/ folder found")
    items, images = [], []
    tag_arr = np.asarray(tag_names)
    for i in keep:
        rel = _image_relpath(image_lines[i])
        items.append({"id": Path(rel).stem, "tags": tag_arr[np.flatnonzero(tags[i])].tolist(),
                      "labels": np.flatnonzero(y[i]).astype(int).tolist()})
        images.append(img_root / rel)
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        for it, img in zip(items, images):
            it["id"] = str(Path(img).relative_to(img_root).with_suffix("")).replace("\\", "/")
    prep = Prepared(name=name, items=items, label_names=[concepts[j] for j in order], description=desc, images=images,
                    text_field="tags",
                    source={"path": str(src), "format": "raw NUS-WIDE release", "images_in_release": n,
                            "filter": f"keep the {k} most frequent concepts and images with >= 1 of them",
                            "concept_frequencies": {concepts[j]: int(freq[j]) for j in order},
                            "dropped_unlabelled": int(n - len(keep))})
    n_empty = sum(1 for it in items if not it["tags"])
    if n_empty:
        prep.warnings.append(f"{n_empty} kept image(s) have none of the 1,000 tags (empty text)")
    _finish(prep, n_std, opts)
    return prep
