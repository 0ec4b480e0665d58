"""IAPR TC-12 (Grubinger et al. 2006) with the SAIAPR TC-12 region labels (Escalante et al. 2010).

Raw release::

    iaprtc12/images/00/25.jpg …
    iaprtc12/annotations_complete_eng/00/25.eng …   <DOC><DOCNO>…</DOCNO><TITLE>…</TITLE>
                                                     <DESCRIPTION>…</DESCRIPTION>…<IMAGE>images/00/25.jpg</IMAGE></DOC>
    (SAIAPR) wlist.txt                              label id, label name (tab- or space-separated)
    (SAIAPR) **/labels.txt                           "image region label" integer triples

An image's labels are the labels of its regions; images without a label are dropped. The
standard set (DCMH) has 20,000 images with 255 labels; protocol 2,000 query / 18,000 retrieval /
10,000 train (seeded). Text: the English DESCRIPTION as a caption (the 2,912-d BoW of the
published set is replaced by a vocabulary built from the training split).

DCMH-style ``.mat`` releases (``IAll``/``YAll``/``LAll``) are read too.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from ...errors import DataError
from ...progress import progress
from . import register_preparer
from .base import (PrepareOptions, Prepared, check_standard_count, find_dir, find_file, mat_files,
                   random_protocol, read_lines)
from .dcmh import matfile_protocol, prepared_from_mat

NAME = "iaprtc12"
N_STANDARD = 20_000
REFERENCE = "DCMH (Jiang & Li, CVPR 2017)"
DESCRIPTION = ("IAPR TC-12: photographs with English descriptions; labels from the SAIAPR TC-12 region annotations; "
               "2,000 query / 18,000 retrieval / 10,000 train.")
_TAG = {t: re.compile(rf"<{t}>(.*?)</{t}>", re.S | re.I) for t in ("DOCNO", "TITLE", "DESCRIPTION", "IMAGE")}


@register_preparer(NAME, "IAPR TC-12: 20,000 images with captions, 255 labels; 2,000 query / 18,000 retrieval / 10,000 train",
                   "raw iaprtc12 layout (images/, annotations_complete_eng/*.eng) + SAIAPR labels.txt/wlist.txt, or DCMH .mat")
def prepare_iaprtc12(src: Path, opts: PrepareOptions) -> Prepared:
    ann_dir = find_dir(src, ["annotations_complete_eng"])
    if ann_dir is None and mat_files(src):
        prep, d = prepared_from_mat(src, NAME, None, DESCRIPTION)
        _finish(prep, opts)
        matfile_protocol(prep, d)
        return prep
    if ann_dir is None:
        raise DataError(f"{src}: expected the IAPR TC-12 release (annotations_complete_eng/, images/) or DCMH-style .mat files")
    return _prepare_raw(src, ann_dir, opts)


def _finish(prep: Prepared, opts: PrepareOptions) -> None:
    scale = check_standard_count(prep, N_STANDARD, "labelled images", opts)
    prep.protocols.append(random_protocol(prep, n_query=2_000, n_train=10_000, n_val=500, user_n_val=opts.n_val,
                                          seed=opts.seed, scale=scale, reference=REFERENCE))
    if scale == 1.0:
        prep.standard = {"reference": REFERENCE, "n_items": N_STANDARD,
                         "protocols": {"default": {"query": 2_000, "retrieval": 18_000, "train": 10_000}}}


def parse_eng(path: Path) -> dict:
    text = "\n".join(read_lines(path, encoding="latin-1"))
    if "<DOC>" not in text.upper():
        raise DataError(f"{path}: expected an IAPR annotation <DOC> … </DOC>")
    out = {}
    for tag, rx in _TAG.items():
        m = rx.search(text)
        out[tag.lower()] = html.unescape(" ".join(m.group(1).split())) if m else ""
    if not out["image"]:
        raise DataError(f"{path}: missing <IMAGE> (the image path)")
    out["description"] = out["description"].rstrip(";").strip()
    return out


def _read_saiapr(src: Path) -> tuple[dict[int, str], dict[int, set[int]]]:
    wlist = find_file(src, ["wlist.txt"], "the SAIAPR label list (wlist.txt)")
    names: dict[int, str] = {}
    for lineno, line in enumerate(read_lines(wlist), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{wlist}:{lineno}: expected 'label_id label_name'")
        names[int(parts[0])] = parts[1].strip()
    label_files = sorted(p for p in src.rglob("labels.txt"))
    if not label_files:
        raise DataError(f"{src}: expected SAIAPR region label files (labels.txt: 'image region label' per line); none found")
    labels: dict[int, set[int]] = {}
    for p in label_files:
        for lineno, line in enumerate(read_lines(p), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3 or not all(x.lstrip("-").isdigit() for x in parts[:3]):
                raise DataError(f"{p}:{lineno}: expected 'image region label' integers")
            img, lab = int(parts[0]), int(parts[2])
            if lab not in names:
                raise DataError(f"{p}:{lineno}: label {lab} is not in {wlist}")
            labels.setdefault(img, set()).add(lab)
    return names, labels


def _prepare_raw(src: Path, ann_dir: Path, opts: PrepareOptions) -> Prepared:
    root = ann_dir.parent
    eng_files = sorted(ann_dir.rglob("*.eng"), key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0, p.stem))
    if not eng_files:
        raise DataError(f"{ann_dir}: no .eng annotation files")
    label_names, img_labels = _read_saiapr(src)
    docs = []
    for p in progress(eng_files, desc="reading annotations", unit="file"):
        d = parse_eng(p)
        stem = Path(d["image"]).stem
        if not stem.isdigit():
            raise DataError(f"{p}: image {d['image']!r}; expected a numbered image like images/00/25.jpg")
        docs.append((int(stem), d, p))
    used = sorted({lab for num, _, _ in docs for lab in img_labels.get(num, ())})
    col = {lab: j for j, lab in enumerate(used)}
    items, images = [], []
    for num, d, p in docs:
        labs = sorted(col[lab] for lab in img_labels.get(num, ()))
        if not labs:
            continue
        items.append({"id": str(num), "caption": d["description"], "title": d["title"], "labels": labs})
        images.append(root / d["image"])
    prep = Prepared(name=NAME, items=items, label_names=[label_names[lab] for lab in used], description=DESCRIPTION,
                    images=images, text_field="caption",
                    source={"path": str(src), "format": "raw IAPR TC-12 + SAIAPR labels", "annotations": len(eng_files),
                            "filter": "keep images with >= 1 SAIAPR region label", "dropped_unlabelled": len(docs) - len(items)})
    if len(used) != 255:
        prep.warnings.append(f"{len(used)} labels in use; the standard IAPR TC-12 set has 255")
    n_empty = sum(1 for it in items if not it["caption"])
    if n_empty:
        prep.warnings.append(f"{n_empty} image(s) have an empty DESCRIPTION")
    _finish(prep, opts)
    return prep

