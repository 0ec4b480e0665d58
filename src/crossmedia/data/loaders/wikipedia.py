"""Wikipedia (Rasiwasia et al., ACM MM 2010): 2,866 image–article pairs in 10 categories.

The original release, read from any path::

    trainset_txt_img_cat.list   2,173 lines "text id <TAB> image id <TAB> category (1-10)"
    testset_txt_img_cat.list      693 lines, same format
    categories.list             the 10 category names (art … warfare), line k = category k
    raw_features.mat            MATLAB v5: I_tr 2173x128 / I_te 693x128 (SIFT bag-of-visual-words),
                                T_tr 2173x10 / T_te 693x10 (LDA topic proportions), rows aligned
                                with the lists
    texts/<text id>.xml         (optional) the articles  -> item "caption"
    images/<category>/<image id>.jpg   (optional) the images -> item "image"

Items are the train rows then the test rows. Image features (``features/image_global.npy``,
128-d) and text features (``features/text.npy``, 10-d LDA) come from ``raw_features.mat``:
Wikipedia's text here is features, not words (``data.text_field = "features"``).

Protocols (standard 2,173 / 693 split; the test set is both query and retrieval set):

- ``default``: query = retrieval = the 693 test pairs; a val set (10 % of train, seeded) is
  carved from the 2,173 training pairs for model selection, the rest is train;
- ``full-train``: the same test protocol with all 2,173 training pairs as train and no val.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from ...errors import DataError
from . import register_preparer
from .base import PrepareOptions, Prepared, carve, check_standard_count, find_dir, find_file, fixed_protocol, read_lines
from .matfile import MatVar, read_mat

NAME = "wikipedia"
N_TRAIN, N_TEST = 2_173, 693
REFERENCE = "Rasiwasia et al. (ACM MM 2010)"
DESCRIPTION = ("Wikipedia (Rasiwasia et al. 2010): 2,866 image-article pairs, 10 single-label categories; "
               "128-d SIFT BoVW image features and 10-d LDA text features; 2,173 train / 693 test "
               "(test used as query and retrieval set).")


@register_preparer(NAME, "Wikipedia: 2,866 pairs, 10 categories, 128-d SIFT BoVW + 10-d LDA; 2,173 train / 693 test "
                   "(test = query and retrieval)",
                   "original release: trainset/testset_txt_img_cat.list, categories.list, raw_features.mat "
                   "(+ optional texts/*.xml, images/<category>/*.jpg)")
def prepare_wikipedia(src: Path, opts: PrepareOptions) -> Prepared:
    train_list = find_file(src, ["trainset_txt_img_cat.list"], "the train list", max_depth=2)
    root = train_list.parent
    test_list = find_file(root, ["testset_txt_img_cat.list"], "the test list", max_depth=0)
    cat_file = find_file(root, ["categories.list"], "the category names", max_depth=0)
    categories = [ln.strip() for ln in read_lines(cat_file) if ln.strip()]
    if not categories:
        raise DataError(f"{cat_file}: empty; expected one category name a line")
    rows = _read_list(train_list, len(categories)) + _read_list(test_list, len(categories))
    n_tr = sum(1 for r in rows if r[3] == "train")
    items = [{"id": t, "image_id": im, "labels": [c - 1], "release_split": s} for t, im, c, s in rows]
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{train_list}: text id {dup!r} appears more than once in the train/test lists")
    prep = Prepared(name=NAME, items=items, label_names=categories, description=DESCRIPTION,
                    source={"path": str(src), "format": "Wikipedia original release", "train_list": str(train_list),
                            "test_list": str(test_list), "categories": str(cat_file)})
    mat_path = find_file(root, ["raw_features.mat"], "raw_features.mat", max_depth=0, required=False)
    if mat_path is not None:
        img, txt = _read_features(mat_path, n_tr, len(items) - n_tr, train_list, test_list)
        prep.global_features, prep.global_features_kind = img, "SIFT bag-of-visual-words (128-d, raw_features.mat I_tr/I_te)"
        prep.text_features, prep.text_features_kind = txt, "LDA topic proportions (10-d, raw_features.mat T_tr/T_te)"
        prep.source["features"] = str(mat_path)
    texts_dir = find_dir(root, ["texts"], max_depth=1)
    images_dir = find_dir(root, ["images"], max_depth=1)
    if texts_dir is not None:
        for it in items:
            it["caption"] = _read_article(texts_dir / f"{it['id']}.xml")
        prep.text_field = "caption"
    if images_dir is not None:
        prep.images = [images_dir / categories[it["labels"][0]] / f"{it['image_id']}.jpg" for it in items]
    if mat_path is None and prep.images is None:
        raise DataError(f"{root}: expected raw_features.mat (image and text features) or images/<category>/*.jpg; found neither")
    scale = check_standard_count(prep, N_TRAIN + N_TEST, "pairs", opts)
    if scale == 1.0 and n_tr != N_TRAIN:
        raise DataError(f"{train_list}: {n_tr} training pairs; the standard split has {N_TRAIN} train / {N_TEST} test")
    train = np.arange(n_tr)
    test = np.arange(n_tr, len(items))
    n_val = opts.n_val if opts.n_val is not None else int(round(0.1 * n_tr))
    if n_val >= n_tr:
        raise DataError(f"--n-val {n_val}: must be smaller than the {n_tr} training pairs")
    tr, val = carve(train, n_val, opts.seed)
    rule = (f"the release's split: {n_tr} train / {len(test)} test pairs; the test pairs are both the query and the "
            f"retrieval set (standard, {REFERENCE})")
    prep.protocols.append(fixed_protocol(
        prep, "default", {"train": tr, "val": val, "query": test, "retrieval": test},
        rule + f"; val = {n_val} training pairs drawn with numpy default_rng([{opts.seed}, 0]), not used for training",
        query_in_retrieval=True, seed=opts.seed))
    prep.protocols.append(fixed_protocol(
        prep, "full-train", {"train": train, "val": np.zeros(0, np.int64), "query": test, "retrieval": test},
        rule + "; all training pairs train, no val (train with train.val_every=0)", query_in_retrieval=True))
    prep.labels_required = True
    if scale == 1.0:
        prep.standard = {"reference": REFERENCE, "n_items": N_TRAIN + N_TEST,
                         "protocols": {"default": {"query": N_TEST, "retrieval": N_TEST, "train": N_TRAIN - n_val},
                                       "full-train": {"query": N_TEST, "retrieval": N_TEST, "train": N_TRAIN}}}
    return prep


def _read_list(path: Path, n_cat: int) -> list[tuple[str, str, int, str]]:
    split = "train" if path.name.startswith("train") else "test"
    out = []
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t")
        if len(parts) != 3:
            parts = line.split()
        if len(parts) != 3 or not parts[2].strip().isdigit():
            raise DataError(f"{path}:{lineno}: expected 'text id<TAB>image id<TAB>category' with a category number 1-{n_cat}")
        c = int(parts[2])
        if not 1 <= c <= n_cat:
            raise DataError(f"{path}:{lineno}: category {c} is outside 1-{n_cat} (categories.list has {n_cat} names)")
        out.append((parts[0].strip(), parts[1].strip(), c, split))
    if not out:
        raise DataError(f"{path}: no pairs listed")
    return out


def _read_features(mat_path: Path, n_tr: int, n_te: int, train_list: Path, test_list: Path) -> tuple[np.ndarray, np.ndarray]:
    m = read_mat(mat_path)
    arrays = {}
    for key, n, lst in (("I_tr", n_tr, train_list), ("I_te", n_te, test_list), ("T_tr", n_tr, train_list), ("T_te", n_te, test_list)):
        v = m.get(key)
        if not isinstance(v, MatVar):
            raise DataError(f"{mat_path}: missing variable {key!r}; expected I_tr, I_te (image features) and T_tr, T_te (text features)")
        a = v.load()
        if a.ndim != 2:
            raise DataError(f"{mat_path}: {key} has shape {a.shape}; expected a 2-D matrix with one row per pair")
        if a.shape[0] != n and a.shape[1] == n and a.shape[0] != a.shape[1]:
            a = a.T
        if a.shape[0] != n:
            raise DataError(f"{mat_path}: {key} has {a.shape[0]} rows but {lst.name} lists {n} pairs; expected rows aligned with the list")
        if not np.isfinite(a).all():
            raise DataError(f"{mat_path}: {key} contains NaN or infinite values")
        arrays[key] = a.astype(np.float32)
    for a, b in (("I_tr", "I_te"), ("T_tr", "T_te")):
        if arrays[a].shape[1] != arrays[b].shape[1]:
            raise DataError(f"{mat_path}: {a} has {arrays[a].shape[1]} columns but {b} has {arrays[b].shape[1]}")
    return np.vstack([arrays["I_tr"], arrays["I_te"]]), np.vstack([arrays["T_tr"], arrays["T_te"]])


def _read_article(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: article not found (texts/<text id>.xml for every listed pair)")
    text = "\n".join(read_lines(path))
    m = re.search(r"<text>(.*?)</text>", text, re.S | re.I)
    body = m.group(1) if m else re.sub(r"<[^>]+>", " ", text)
    return html.unescape(" ".join(body.split()))
