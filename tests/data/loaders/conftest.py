"""Tiny fixtures in every format the preparers read, made on the fly (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (220, 220, 30), (200, 30, 200), (30, 200, 200)]
WORDS = ["red", "green", "blue", "yellow", "purple", "cyan"]


def save_image(path: Path, label: int, size: int = 24, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size, 3), 235, np.uint8)
    arr[4:-4, 4:-4] = COLOURS[label % len(COLOURS)]
    Image.fromarray(arr).save(path, format=fmt)


def scenes(n: int, n_labels: int, seed: int = 0, unlabeled_every: int = 0):
    """(labels, tags) per item: labels a random non-empty subset (empty every k-th item),
    tags = the labels' colour words + a shared word + a rare word."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labs = sorted(set(rng.choice(n_labels, size=int(rng.integers(1, 3)), replace=True).tolist()))
        if unlabeled_every and i % unlabeled_every == unlabeled_every - 1:
            labs = []
        tags = [WORDS[j % len(WORDS)] for j in labs] + ["photo", f"rare{i}"]
        out.append((labs, tags))
    return out


# ---------------------------------------------------------------------------- MIRFlickr raw
def make_mirflickr_raw(root: Path, n: int = 40) -> Path:
    from crossmedia.data.loaders.mirflickr import LABELS_24

    img_dir = root / "mirflickr"
    tags_dir = img_dir / "meta" / "tags"
    tags_dir.mkdir(parents=True)
    ann = root / "mirflickr25k_annotations_v080"
    ann.mkdir()
    members: dict[int, list[int]] = {j: [] for j in range(24)}
    for k, (labs, tags) in enumerate(scenes(n, 4, unlabeled_every=7), 1):
        save_image(img_dir / f"im{k}.jpg", labs[0] if labs else 5)
        (tags_dir / f"tags{k}.txt").write_text("\n".join(tags) + "\n")
        for j in labs:
            members[j].append(k)
    for j, name in enumerate(LABELS_24):
        (ann / f"{name}.txt").write_text("".join(f"{k}\n" for k in members[j]))
    (ann / "animals_r1.txt").write_text("1\n")
    (ann / "README.txt").write_text("annotations\n")
    return root


# ---------------------------------------------------------------------------- DCMH .mat
def dcmh_arrays(n: int = 30, n_labels: int = 24, n_tags: int = 12, size: int = 16, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    L = np.zeros((n, n_labels), np.uint8)
    Y = np.zeros((n, n_tags), np.uint8)
    imgs = np.zeros((n, size, size, 3), np.uint8)  # n, h, w, c
    for i in range(n):
        labs = rng.choice(4, size=int(rng.integers(1, 3)), replace=False)
        L[i, labs] = 1
        Y[i, labs] = 1
        Y[i, 4 + rng.integers(0, n_tags - 4)] = 1
        imgs[i] = COLOURS[int(labs[0])]
        imgs[i, : size // 2, :, 0] = 255 - i  # top half differs per item, left/right unchanged
        imgs[i, :, : size // 4, 2] = 10 * (i % 7)  # a left stripe: catches an h/w swap
    names = [f"im{i + 1}.jpg" for i in range(n)]
    return {"L": L, "Y": Y, "images": imgs, "names": names}


def write_mat_v5(path: Path, a: dict, with_index: bool = True) -> Path:
    import scipy.io

    n = a["L"].shape[0]
    d = {"IAll": a["images"].transpose(1, 2, 3, 0),  # MATLAB h x w x 3 x N
         "YAll": a["Y"].astype(np.float64), "LAll": a["L"].astype(np.float64),
         "FAll": np.array([[s] for s in a["names"]], dtype=object)}
    if with_index:
        d["param"] = {"indexQuery": np.arange(1, 6, dtype=np.float64).reshape(-1, 1),
                      "indexRetrieval": np.arange(6, n + 1, dtype=np.float64).reshape(-1, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, d)
    return path


def write_mat_v73(path: Path, a: dict, with_index: bool = True) -> Path:
    """What MATLAB's save -v7.3 writes: HDF5 after a 512-byte header, column-major arrays
    (so h5py sees the axes reversed), cell arrays as object references to char arrays."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    n = a["L"].shape[0]
    with h5py.File(path, "w", userblock_size=512) as f:
        def put(name, matlab_arr, cls, group=f):
            ds = group.create_dataset(name, data=np.asarray(matlab_arr).T)
            ds.attrs["MATLAB_class"] = np.bytes_(cls)
            return ds

        put("IAll", a["images"].transpose(1, 2, 3, 0), "uint8")
        put("YAll", a["Y"].astype(np.float64), "double")
        put("LAll", a["L"].astype(np.float64), "double")
        refs = f.create_group("#refs#")
        ref_list = []
        for i, s in enumerate(a["names"]):
            c = refs.create_dataset(f"s{i}", data=np.array([[ord(ch) for ch in s]], dtype=np.uint16).T)
            c.attrs["MATLAB_class"] = np.bytes_("char")
            ref_list.append(c.ref)
        cell = f.create_dataset("FAll", data=np.array([ref_list], dtype=h5py.ref_dtype), dtype=h5py.ref_dtype)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        if with_index:
            g = f.create_group("param")
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            put("indexQuery", np.arange(1, 6, dtype=np.float64).reshape(-1, 1), "double", g)
            put("indexRetrieval", np.arange(6, n + 1, dtype=np.float64).reshape(-1, 1), "double", g)
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116, b" "))
    return path


# ---------------------------------------------------------------------------- NUS-WIDE raw
def make_nuswide_raw(root: Path, n: int = 48, n_concepts: int = 25) -> Path:
    rng = np.random.default_rng(3)
    concepts = [f"concept{j:02d}" for j in range(n_concepts)]
    tags = [f"tag{j}" for j in range(12)]
    (root / "ImageList").mkdir(parents=True)
    (root / "NUS_WID_Tags").mkdir()
    (root / "Concepts").mkdir()
    lab_dir = root / "Groundtruth" / "AllLabels"
    lab_dir.mkdir(parents=True)
    Y = np.zeros((n, n_concepts), np.uint8)
    T = np.zeros((n, len(tags)), np.uint8)
    lines = []
    for i in range(n):
        if i % 8 != 7:  # every 8th image has no concept at all
            k = int(rng.integers(0, n_concepts))
            Y[i, k] = 1
            Y[i, int(rng.integers(0, 3))] = 1  # concepts 0-2 frequent
        T[i, rng.choice(len(tags), size=3, replace=False)] = 1
        folder = concepts[i % 4]
        name = f"{i:04d}_{1000 + i}.jpg"
        lines.append(f"C:\\ImageData\\Flickr\\{folder}\\{name}")
        save_image(root / "Flickr" / folder / name, int(np.argmax(Y[i])) if Y[i].any() else 5)
    (root / "ImageList" / "Imagelist.txt").write_text("\n".join(lines) + "\n")
    (root / "NUS_WID_Tags" / "AllTags1k.txt").write_text("".join(" ".join(map(str, r)) + " \n" for r in T))
    (root / "Concepts" / "TagList1k.txt").write_text("\n".join(tags) + "\n")
    for j, c in enumerate(concepts):
        (lab_dir / f"Labels_{c}.txt").write_text("".join(f"{v}\n" for v in Y[:, j]))
    return root


# ---------------------------------------------------------------------------- IAPR TC-12 raw
def make_iapr_raw(root: Path, n: int = 36) -> Path:
    base = root / "iaprtc12"
    sai = root / "saiaprtc12"
    sai.mkdir(parents=True)
    (sai / "wlist.txt").write_text("".join(f"{j}\t{w}\n" for j, w in enumerate(WORDS)))
    label_lines = []
    for i, (labs, _) in enumerate(scenes(n, 4, seed=5, unlabeled_every=9)):
        num = 100 + i
        folder = f"{i // 20:02d}"
        save_image(base / "images" / folder / f"{num}.jpg", labs[0] if labs else 5)
        desc = "a photo of " + " and ".join(f"a {WORDS[j]} wall" for j in labs) if labs else "an empty street"
        doc = (f"<DOC>\n<DOCNO>annotations/{folder}/{num}.eng</DOCNO>\n<TITLE>Title {i}</TITLE>\n"
               f"<DESCRIPTION>{desc};</DESCRIPTION>\n<NOTES></NOTES>\n<LOCATION>Somewhere</LOCATION>\n"
               f"<DATE>March 2002</DATE>\n<IMAGE>images/{folder}/{num}.jpg</IMAGE>\n"
               f"<THUMBNAIL>thumbnails/{folder}/{num}.jpg</THUMBNAIL>\n</DOC>\n")
        p = base / "annotations_complete_eng" / folder / f"{num}.eng"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(doc.encode("latin-1"))
        for r, j in enumerate(labs, 1):
            label_lines.append(f"{num} {r} {j}")
    (sai / "labels.txt").write_text("\n".join(label_lines) + "\n")
    return root


# ---------------------------------------------------------------------------- Wikipedia
def make_wikipedia(root: Path, n_train: int = 40, n_test: int = 15, n_cat: int = 3, dim_i: int = 8, dim_t: int = 4,
                   raw: bool = False, mat: bool = True) -> Path:
    import scipy.io

    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    cats = ["art", "biology", "geography", "history"][:n_cat]
    (root / "categories.list").write_text("\n".join(cats) + "\n")
    feats = {}
    for split, n in (("train", n_train), ("test", n_test)):
        c = np.arange(n) % n_cat
        lines = [f"t{split}{i}-1\timg{split}{i}\t{c[i] + 1}" for i in range(n)]
        (root / f"{split}set_txt_img_cat.list").write_text("\n".join(lines) + "\n")
        key = "tr" if split == "train" else "te"
        feats[f"I_{key}"] = rng.random((n, dim_i)) + np.eye(dim_i)[c] * 2
        t = rng.random((n, dim_t)) + np.eye(dim_t)[c] * 3
        feats[f"T_{key}"] = t / t.sum(1, keepdims=True)
        if raw:
            for i in range(n):
                (root / "texts").mkdir(exist_ok=True)
                (root / "texts" / f"t{split}{i}-1.xml").write_text(
                    f"<document><title>Doc {i}</title><text>An article about {cats[c[i]]} &amp; more.</text></document>")
                save_image(root / "images" / cats[c[i]] / f"img{split}{i}.jpg", int(c[i]))
    if mat:
        scipy.io.savemat(root / "raw_features.mat", feats)
    return root


# ---------------------------------------------------------------------------- Pascal Sentence
def make_pascal(root: Path, n_cat: int = 3, per_cat: int = 10) -> Path:
    for c in range(n_cat):
        cat = ["aeroplane", "bicycle", "bird"][c]
        for i in range(per_cat):
            save_image(root / "dataset" / cat / f"2008_{c}{i:04d}.jpg", c)
            p = root / "sentence" / cat / f"2008_{c}{i:04d}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f" A {WORDS[c]} {cat} number {k}.\n" for k in range(5)))
    return root


# ---------------------------------------------------------------------------- Karpathy
def make_karpathy(root: Path, which: str, n: int = 30) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    images = []
    ann_images, anns = [], []
    for i in range(n):
        split = "test" if i < 6 else "val" if i < 10 else ("restval" if i % 5 == 0 else "train")
        c = i % 3
        sents = [{"raw": f"A {WORDS[c]} square number {k}.", "tokens": ["a", WORDS[c], "square", "number", str(k)]}
                 for k in range(5)]
        if which == "coco":
            folder = "val2014" if split in ("val", "test", "restval") else "train2014"
            fn = f"COCO_{folder}_{i:012d}.jpg"
            save_image(root / folder / fn, c)
            images.append({"filepath": folder, "filename": fn, "imgid": i, "split": split, "sentences": sents, "cocoid": 1000 + i})
            ann_images.append({"id": 1000 + i, "file_name": fn})
            if i % 10 != 9:
                anns.append({"image_id": 1000 + i, "category_id": [1, 3, 7][c]})
        else:
            fn = f"{5000 + i}.jpg"
            save_image(root / "flickr30k-images" / fn, c)
            images.append({"filename": fn, "imgid": i, "split": split, "sentences": sents})
    (root / f"dataset_{which}.json").write_text(json.dumps({"images": images, "dataset": which}))
    if which == "coco":
        (root / "annotations").mkdir()
        cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 7, "name": "train"}]
        for part in ("train", "val"):
            (root / "annotations" / f"instances_{part}2014.json").write_text(json.dumps(
                {"images": ann_images, "annotations": anns if part == "train" else [], "categories": cats}))
    return root


# ---------------------------------------------------------------------------- folder
def make_folder(root: Path, n: int = 30, fmt: str = "csv", split: bool = False) -> Path:
    rows = []
    for i, (labs, tags) in enumerate(scenes(n, 3, seed=11)):
        save_image(root / "imgs" / f"{i}.png", labs[0], fmt="PNG")
        names = [WORDS[j] for j in labs]
        row = {"image": f"imgs/{i}.png", "text": "a picture of " + " and ".join(names), "labels": names}
        if split:
            row["split"] = "test" if i < 5 else "val" if i < 8 else "train"
        rows.append(row)
    if fmt == "csv":
        head = "image,text,labels" + (",split" if split else "")
        lines = [head] + [f"{r['image']},{r['text']},{'|'.join(r['labels'])}" + (f",{r['split']}" if split else "")
                          for r in rows]
        (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    else:
        (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


# ---------------------------------------------------------------------------- training
SMALL = ["model.bits=8", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.batch_size=8",
         "train.epochs=1", "train.val_every=0"]


def train_one_epoch(root: Path, out: Path, *extra: str):
    """Train the two-tower model for one epoch on the dataset at ``root``; returns the run."""
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    cfg = resolve_config(None, [*SMALL, *extra], data__root=str(root))
    run = train(cfg, out)
    info = run.info()
    assert info["status"] == "done" and info["epochs"] == 1
    return run


@pytest.fixture
def fixtures():
    """The fixture makers, as attributes (fixtures.make_mirflickr_raw(path), …)."""
    import types

    return types.SimpleNamespace(**{k: v for k, v in globals().items() if k.startswith(("make_", "write_", "dcmh_", "train_", "save_"))})
