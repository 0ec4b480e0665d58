"""MIRFlickr-25K (Huiskes & Lew 2008).

Raw release (``mirflickr25k.zip`` + ``mirflickr25k_annotations_v080.zip``)::

    mirflickr/im1.jpg … im25000.jpg
    mirflickr/meta/tags/tags1.txt …          one tag per line (the processed tags)
    <annotations>/animals.txt, baby.txt, …   24 concept files: image numbers (1-based), one a line
    <annotations>/*_r1.txt, README.txt       ignored (the 'relevant' subsets)

Standard filtering (DCMH, Jiang & Li CVPR 2017; SSAH): the tag vocabulary is the tags used by at
least 20 images (1,386 tags); an image is kept when it has at least one of the 24 labels and at
least one vocabulary tag → 20,015 pairs. Protocol: 2,000 query / 18,015 retrieval, 10,000 train
drawn from the retrieval set (seeded), plus a val set carved from the rest of the retrieval set.

DCMH ``.mat`` release: ``IAll`` (224×224×3×20015 pixels), ``YAll`` (20015×1386 tag BoW),
``LAll`` (20015×24), optionally ``FAll`` (file names).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ...errors import DataError
from . import register_preparer
from .base import (PrepareOptions, Prepared, check_standard_count, find_file, mat_files, random_protocol,
                   read_lines)
from .dcmh import matfile_protocol, prepared_from_mat

NAME = "mirflickr25k"
N_STANDARD = 20_015
VOCAB_STANDARD = 1_386
MIN_TAG_COUNT = 20
REFERENCE = "DCMH (Jiang & Li, CVPR 2017)"
LABELS_24 = ["animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake", "male",
             "night", "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset", "transport",
             "tree", "water"]
SIZES = {"n_query": 2_000, "n_train": 10_000}
DESCRIPTION = ("MIRFlickr-25K: Flickr images with their tags and 24 multi-label concepts; standard DCMH filtering "
               "(>= 1 label and >= 1 tag used by >= 20 images) and protocol (2,000 query / 18,015 retrieval / 10,000 train).")


@register_preparer(NAME, "MIRFlickr-25K: 20,015 pairs, 24 labels, 1,386-d tag BoW; 2,000 query / 18,015 retrieval / 10,000 train",
                   "raw mirflickr25k layout (im*.jpg, meta/tags/tags*.txt, annotation files) or DCMH .mat (IAll, YAll, LAll)")
def prepare_mirflickr(src: Path, opts: PrepareOptions) -> Prepared:
    raw = find_file(src, ["meta/tags/tags1.txt"], "tags", required=False)
    if raw is None and mat_files(src):
        prep, d = prepared_from_mat(src, NAME, LABELS_24, DESCRIPTION)
        scale = check_standard_count(prep, N_STANDARD, "pairs", opts)
        if prep.text_features.shape[1] != VOCAB_STANDARD:
            _vocab_mismatch(prep, prep.text_features.shape[1], opts, str(src))
        _protocols(prep, scale, opts)
        matfile_protocol(prep, d)
        return prep
    if raw is None:
        raise DataError(f"{src}: expected the MIRFlickr-25K release (mirflickr/meta/tags/tags1.txt, im1.jpg, "
                        "annotation files) or DCMH-style .mat files; found neither")
    return _prepare_raw(src, raw.parent, opts)


def _vocab_mismatch(prep: Prepared, got: int, opts: PrepareOptions, where: str) -> None:
    if not opts.nonstandard:
        raise DataError(f"{where}: the tag vocabulary has {got} tags but the standard MIRFlickr-25K one has {VOCAB_STANDARD} "
                        "(pass --nonstandard to prepare it anyway)")
    prep.warnings.append(f"non-standard: tag vocabulary of {got} tags instead of {VOCAB_STANDARD}")


def _protocols(prep: Prepared, scale: float, opts: PrepareOptions) -> None:
    p = random_protocol(prep, n_query=SIZES["n_query"], n_train=SIZES["n_train"], n_val=500, user_n_val=opts.n_val,
                        seed=opts.seed, scale=scale, reference=REFERENCE)
    prep.protocols.append(p)
    if scale == 1.0:
        prep.standard = {"reference": REFERENCE, "n_items": N_STANDARD, "tag_vocabulary": VOCAB_STANDARD,
                         "protocols": {"default": {"query": 2_000, "retrieval": 18_015, "train": 10_000}}}


def _prepare_raw(src: Path, tags_dir: Path, opts: PrepareOptions) -> Prepared:
    img_dir = tags_dir.parent.parent  # mirflickr/meta/tags -> mirflickr
    ann = find_file(src, ["animals.txt"], "the annotation files (animals.txt, baby.txt, …)")
    ann_dir = ann.parent
    label_files = sorted(p for p in ann_dir.glob("*.txt") if p.name.lower() != "readme.txt" and not p.stem.endswith("_r1"))
    label_names = [p.stem for p in label_files]
    if label_names != LABELS_24 and not opts.nonstandard:
        raise DataError(f"{ann_dir}: expected the 24 concept files ({', '.join(LABELS_24)}); found {len(label_names)} "
                        f"({', '.join(label_names[:5])}…) (pass --nonstandard to use them anyway)")
    numbers = sorted(int(m.group(1)) for p in tags_dir.iterdir() if (m := re.fullmatch(r"tags(\d+)\.txt", p.name)))
    if not numbers:
        raise DataError(f"{tags_dir}: no tags<N>.txt files")  # pragma: no cover - tags1.txt was found
    if not opts.nonstandard and len(numbers) != 25_000:
        raise DataError(f"{tags_dir}: {len(numbers)} tag files; the MIRFlickr-25K release has 25,000 (tags1.txt … tags25000.txt); "
                        "is the download complete? (pass --nonstandard to use them anyway)")
    tags: dict[int, list[str]] = {}
    for k in numbers:
        words = []
        for w in read_lines(tags_dir / f"tags{k}.txt"):
            w = w.strip().lower()
            if w and w not in words:
                words.append(w)
        tags[k] = words
    labels: dict[int, list[int]] = {k: [] for k in numbers}
    for j, p in enumerate(label_files):
        for lineno, line in enumerate(read_lines(p), 1):
            s = line.strip()
            if not s:
                continue
            if not s.isdigit():
                raise DataError(f"{p}:{lineno}: expected an image number, got {s[:30]!r}")
            k = int(s)
            if k not in labels:
                raise DataError(f"{p}:{lineno}: image {k} has no tags file in {tags_dir}")
            if j not in labels[k]:
                labels[k].append(j)
    min_count = opts.min_tag_count if opts.min_tag_count is not None else MIN_TAG_COUNT
    counts = Counter(w for ws in tags.values() for w in ws)
    vocab = {w for w, c in counts.items() if c >= min_count}
    items, images = [], []
    for k in numbers:
        kept = [w for w in tags[k] if w in vocab]
        if not labels[k] or not kept:
            continue
        items.append({"id": f"im{k}", "tags": kept, "labels": sorted(labels[k]), "raw_tags": tags[k]})
        images.append(img_dir / f"im{k}.jpg")
    prep = Prepared(name=NAME, items=items, label_names=label_names, description=DESCRIPTION, images=images,
                    text_field="tags",
                    source={"path": str(src), "format": "raw MIRFlickr-25K release", "tags": str(tags_dir),
                            "annotations": str(ann_dir), "images_in_release": len(numbers),
                            "filter": f"keep images with >= 1 of the {len(label_names)} labels and >= 1 tag used by >= {min_count} images",
                            "tag_vocabulary": len(vocab), "dropped": len(numbers) - len(items)})
    scale = check_standard_count(prep, N_STANDARD, "pairs", opts)
    if len(vocab) != VOCAB_STANDARD:
        _vocab_mismatch(prep, len(vocab), opts, str(tags_dir))
    _protocols(prep, scale, opts)
    return prep
