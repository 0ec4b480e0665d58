"""Pascal Sentence (Rashtchian et al. 2010): 1,000 images in 20 categories, 5 sentences each.

Layout (as distributed and as the usual download scripts save it)::

    dataset/<category>/<name>.jpg      50 images per category
    sentence/<category>/<name>.txt     the 5 sentences of that image, one a line

An item is an image with its 5 sentences (``captions``; ``caption`` = the 5 joined, the text
document of the standard protocol); its label is the category. Protocol (standard, e.g. Peng et
al.): per category 40 train / 5 val / 5 test (seeded) → 800 / 100 / 100; the test images are
both the query and the retrieval set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from . import register_preparer
from .base import IMAGE_EXTS, PrepareOptions, Prepared, check_standard_count, find_dir, fixed_protocol, read_lines

NAME = "pascal-sentence"
N_STANDARD = 1_000
PER_CLASS = (40, 5, 5)  # train, val, test
DESCRIPTION = ("Pascal Sentence: 1,000 images of 20 categories with 5 sentences each; 800 train / 100 val / 100 test "
               "(40/5/5 per category, seeded); test used as query and retrieval set.")


@register_preparer(NAME, "Pascal Sentence: 1,000 images x 5 sentences, 20 categories; 800 train / 100 val / 100 test",
                   "dataset/<category>/*.jpg + sentence/<category>/*.txt")
def prepare_pascal(src: Path, opts: PrepareOptions) -> Prepared:
    sent_dir = find_dir(src, ["sentence", "sentences"])
    img_dir = find_dir(src, ["dataset", "images"])
    if sent_dir is None or img_dir is None:
        raise DataError(f"{src}: expected the Pascal Sentence layout dataset/<category>/*.jpg and sentence/<category>/*.txt")
    categories = sorted(d.name for d in img_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not categories:
        raise DataError(f"{img_dir}: expected one folder of images per category")
    items, images = [], []
    for c, cat in enumerate(categories):
        for img in sorted(p for p in (img_dir / cat).iterdir() if p.suffix.lower() in IMAGE_EXTS):
            txt = sent_dir / cat / f"{img.stem}.txt"
            if not txt.is_file():
                raise DataError(f"{txt}: sentences of {img.name} not found (expected sentence/<category>/<name>.txt)")
            sents = [" ".join(s.split()) for s in read_lines(txt) if s.strip()]
            if not sents:
                raise DataError(f"{txt}: no sentences (expected 5, one a line)")
            items.append({"id": f"{cat}/{img.stem}", "caption": " ".join(sents), "captions": sents, "labels": [c]})
            images.append(img)
    prep = Prepared(name=NAME, items=items, label_names=categories, description=DESCRIPTION, images=images,
                    text_field="caption", source={"path": str(src), "format": "Pascal Sentence folders"})
    n_sent = [len(it["captions"]) for it in items]
    if any(k != 5 for k in n_sent):
        prep.warnings.append(f"{sum(k != 5 for k in n_sent)} image(s) do not have exactly 5 sentences")
    scale = check_standard_count(prep, N_STANDARD, "images", opts)
    if len(categories) != 20 and not opts.nonstandard:
        raise DataError(f"{img_dir}: {len(categories)} category folders; Pascal Sentence has 20 (pass --nonstandard to use them anyway)")
    rng = np.random.default_rng(opts.seed)
    y = np.array([it["labels"][0] for it in items])
    splits: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for c in range(len(categories)):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        if scale == 1.0 and len(idx) == 50:
            n_tr, n_va = PER_CLASS[0], PER_CLASS[1]
        else:
            n_va = n_te = max(1, int(round(0.1 * len(idx)))) if len(idx) >= 3 else 0
            n_tr = len(idx) - n_va - n_te
        splits["train"] += idx[:n_tr].tolist()
        splits["val"] += idx[n_tr : n_tr + n_va].tolist()
        splits["test"] += idx[n_tr + n_va :].tolist()
    test = np.array(splits["test"], dtype=np.int64)
    per = "40 train / 5 val / 5 test images" if scale == 1.0 else "80 % train / 10 % val / 10 % test (rounded)"
    prep.protocols.append(fixed_protocol(
        prep, "default", {"train": splits["train"], "val": splits["val"], "query": test, "retrieval": test},
        f"per category {per} (numpy default_rng({opts.seed}) permutation within each category, "
        "categories in name order); the test images are both query and retrieval set",
        query_in_retrieval=True, seed=opts.seed))
    if scale == 1.0 and all((y == c).sum() == 50 for c in range(len(categories))):
        prep.standard = {"reference": "Pascal Sentence (Rashtchian et al. 2010), 800/100/100 split", "n_items": N_STANDARD,
                         "protocols": {"default": {"train": 800, "val": 100, "query": 100, "retrieval": 100}}}
    return prep
