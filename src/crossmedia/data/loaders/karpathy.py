"""MS-COCO and Flickr30K with the Karpathy splits (``dataset_coco.json`` / ``dataset_flickr30k.json``).

Karpathy JSON: ``{"images": [{"filename", "filepath" (COCO), "split": train|restval|val|test,
"sentences": [{"raw", "tokens"}, …], "cocoid" (COCO)}, …]}``.
Images: COCO under ``<root>/<filepath>/<filename>`` (``train2014/``, ``val2014/``); Flickr30K
under ``flickr30k-images/``.

An item is an image with its captions: ``caption`` = the first sentence, ``captions`` = all of
them, ``tokens`` = Karpathy's tokens of the first. Labels: COCO's 80 categories from
``instances_train2014.json`` / ``instances_val2014.json`` when present (images without any
object keep an empty label list); Flickr30K has no categories (the item list carries one
placeholder label name; relevance there is instance-level: a caption is relevant to its image).

Protocols: ``default`` = train (+ restval) / val / test, the test images both query and
retrieval set (COCO: the 5K test; Flickr30K: 1K test); COCO also ``1k-fold0`` … ``1k-fold4``
(the 5K test split into 5 folds of 1,000 images in file order; results are averaged over folds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...progress import progress
from . import register_preparer
from .base import PrepareOptions, Prepared, check_standard_count, find_dir, find_file, fixed_protocol

STANDARD = {"coco": {"n_items": 123_287, "train": 113_287, "val": 5_000, "test": 5_000},
            "flickr30k": {"n_items": 31_014, "train": 29_000, "val": 1_014, "test": 1_000}}
REFERENCE = "Karpathy & Fei-Fei (CVPR 2015) splits"


@register_preparer("coco", "MS-COCO: 123,287 images x 5 captions, 80 labels; Karpathy splits (113,287 / 5,000 / 5K test; 1K folds)",
                   "dataset_coco.json + train2014/ val2014/ images (+ annotations/instances_*2014.json for labels)")
def prepare_coco(src: Path, opts: PrepareOptions) -> Prepared:
    return _prepare(src, opts, "coco")


@register_preparer("flickr30k", "Flickr30K: 31,014 images x 5 captions; Karpathy splits (29,000 / 1,014 / 1,000)",
                   "dataset_flickr30k.json + flickr30k-images/")
def prepare_flickr30k(src: Path, opts: PrepareOptions) -> Prepared:
    return _prepare(src, opts, "flickr30k")


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e.__class__.__name__}); is the file truncated?") from None


def _prepare(src: Path, opts: PrepareOptions, which: str) -> Prepared:
    jpath = find_file(src, [f"dataset_{which}.json"], f"the Karpathy split file dataset_{which}.json")
    d = _load_json(jpath)
    if not isinstance(d, dict) or not isinstance(d.get("images"), list):
        raise DataError(f"{jpath}: expected a JSON object with an 'images' list (Karpathy format)")
    root = jpath.parent if src.is_file() else src
    if which == "flickr30k":
        img_root = find_dir(root, ["flickr30k-images", "flickr30k_images", "images"]) or jpath.parent
    else:
        val_dir = find_dir(root, ["val2014"])
        img_root = val_dir.parent if val_dir is not None else jpath.parent
    items, images, splits = [], [], []
    for k, im in enumerate(progress(d["images"], desc="reading captions", unit="img")):
        where = f"{jpath}: images[{k}]"
        if not isinstance(im, dict) or "filename" not in im or "split" not in im or "sentences" not in im:
            raise DataError(f"{where}: expected fields filename, split and sentences")
        sents = im["sentences"]
        if not isinstance(sents, list) or not sents or not all(isinstance(s, dict) and "raw" in s for s in sents):
            raise DataError(f"{where}: 'sentences' must be a non-empty list of objects with 'raw' (and 'tokens')")
        split = str(im["split"])
        if split not in ("train", "restval", "val", "test"):
            raise DataError(f"{where}: unknown split {split!r}; expected train, restval, val or test")
        rel = Path(im.get("filepath", "")) / im["filename"]
        item = {"id": str(im.get("cocoid", im.get("imgid", Path(im["filename"]).stem))),
                "caption": " ".join(str(sents[0]["raw"]).split()),
                "captions": [" ".join(str(s["raw"]).split()) for s in sents],
                "tokens": [str(t) for t in sents[0].get("tokens", [])] or str(sents[0]["raw"]).lower().split(),
                "labels": [], "karpathy_split": split}
        items.append(item)
        images.append(img_root / rel)
        splits.append(split)
    label_names = ["(no categories: instance-level relevance)"]
    labels_required = False
    if which == "coco":
        label_names = _coco_labels(root, items, opts)
    prep = Prepared(name=which, items=items, label_names=label_names, images=images, text_field="caption",
                    labels_required=labels_required,
                    description=(f"{'MS-COCO' if which == 'coco' else 'Flickr30K'} with the Karpathy splits; one item per image "
                                 "with its captions"),
                    source={"path": str(src), "format": "Karpathy JSON", "json": str(jpath), "images": str(img_root)})
    std = STANDARD[which]
    scale = check_standard_count(prep, std["n_items"], "images", opts)
    s = np.asarray(splits)
    train = np.flatnonzero((s == "train") | (s == "restval"))
    val = np.flatnonzero(s == "val")
    test = np.flatnonzero(s == "test")
    if test.size == 0 or train.size == 0:
        raise DataError(f"{jpath}: needs images with split 'train' and 'test'")
    rule = f"{REFERENCE}: train = train + restval, val = val; the test images are both query and retrieval set"
    prep.protocols.append(fixed_protocol(prep, "default", {"train": train, "val": val, "query": test, "retrieval": test},
                                         rule, query_in_retrieval=True))
    if which == "coco":
        folds = np.array_split(test, 5) if scale != 1.0 else [test[i * 1000 : (i + 1) * 1000] for i in range(5)]
        for f, fold in enumerate(folds):
            if fold.size:
                prep.protocols.append(fixed_protocol(
                    prep, f"1k-fold{f}", {"train": train, "val": val, "query": fold, "retrieval": fold},
                    f"{REFERENCE}: COCO 1K test, fold {f} of 5 (test images {f * 1000}-{f * 1000 + 999} in file order)",
                    query_in_retrieval=True))
    if scale == 1.0:
        counts = {"train": std["train"], "val": std["val"], "query": std["test"], "retrieval": std["test"]}
        if train.size != std["train"] or val.size != std["val"] or test.size != std["test"]:
            raise DataError(f"{jpath}: splits have {train.size} / {val.size} / {test.size} images; the Karpathy splits have "
                            f"{std['train']} / {std['val']} / {std['test']}")
        protos = {"default": counts}
        if which == "coco":
            protos.update({f"1k-fold{f}": {"query": 1000, "retrieval": 1000} for f in range(5)})
        prep.standard = {"reference": REFERENCE, "n_items": std["n_items"], "protocols": protos}
    return prep


def _coco_labels(root: Path, items: list[dict], opts: PrepareOptions) -> list[str]:
    files = [p for p in (find_file(root, [f"instances_{s}2014.json"], "", required=False) for s in ("train", "val")) if p]
    if not files:
        if not opts.nonstandard:
            raise DataError(f"{root}: expected annotations/instances_train2014.json and instances_val2014.json for COCO's 80 "
                            "labels (pass --nonstandard to prepare without labels)")
        return ["(no categories: instance-level relevance)"]
    cats: dict[int, str] = {}
    img_cats: dict[int, set[int]] = {}
    for p in files:
        d = _load_json(p)
        try:
            for c in d["categories"]:
                cats[int(c["id"])] = str(c["name"])
            for a in d["annotations"]:
                img_cats.setdefault(int(a["image_id"]), set()).add(int(a["category_id"]))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{p}: expected COCO instances JSON with 'categories' (id, name) and 'annotations' "
                            "(image_id, category_id)") from None
    order = sorted(cats)
    col = {c: j for j, c in enumerate(order)}
    for it in items:
        try:
            key = int(it["id"])
        except ValueError:
            raise DataError(f"{root}: item {it['id']!r} has no COCO id (cocoid) to look up its labels") from None
        it["labels"] = sorted(col[c] for c in img_cats.get(key, ()) if c in col)
    return [cats[c] for c in order]
