"""Clean data in, or a clear refusal: non-finite features, undecodable images, non-UTF-8
manifests, all-empty texts, and the metrics' own input checks."""

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import assert_one_line_error, run_cli

from crossmedia.errors import DataError

COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220)]
WORDS = ["red", "green", "blue"]


def _folder(root, n=24, text=lambda i: "a picture of " + WORDS[i % 3], encoding="utf-8"):
    (root / "imgs").mkdir(parents=True)
    lines = ["image,text,labels"]
    for i in range(n):
        arr = np.full((16, 16, 3), 235, np.uint8)
        arr[3:-3, 3:-3] = COLOURS[i % 3]
        Image.fromarray(arr).save(root / "imgs" / f"{i}.png")
        lines.append(f"imgs/{i}.png,{text(i)},{WORDS[i % 3]}")
    (root / "manifest.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return root


def _prepare(src, out, *extra):
    return run_cli("data", "prepare", "folder", "--src", src, "--out", out, "--n-val", "2", *extra)


def test_folder_fixture_prepares(tmp_path):
    code, _, err = _prepare(_folder(tmp_path / "src"), tmp_path / "ds")
    assert code == 0, err


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_an_image"])
def test_unreadable_images_are_refused_with_count_and_ids(tmp_path, damage):
    src = _folder(tmp_path / "src")
    for i in (3, 7):
        p = src / "imgs" / f"{i}.png"
        if damage == "empty":
            p.write_bytes(b"")
        elif damage == "truncated":
            p.write_bytes(p.read_bytes()[:60])
        else:
            p.write_text("this is not a picture")
    code, _, err = _prepare(src, tmp_path / "ds")
    assert_one_line_error(code, err, "2 of 24 images do not decode", "first ids")
    assert not (tmp_path / "ds").exists()


def test_data_info_names_unreadable_images(tmp_path):
    src = _folder(tmp_path / "src")
    code, _, err = _prepare(src, tmp_path / "ds")
    assert code == 0, err
    (src / "imgs" / "5.png").write_bytes(b"")  # the dataset refers to the source files
    code, _, err = run_cli("data", "info", tmp_path / "ds")
    assert_one_line_error(code, err, "1 of 24 images do not decode")


def test_non_utf8_manifest_needs_encoding(tmp_path):
    src = _folder(tmp_path / "src", text=lambda i: f"un caf\u00e9 {WORDS[i % 3]}", encoding="latin-1")
    code, _, err = _prepare(src, tmp_path / "ds")
    assert_one_line_error(code, err, "manifest.csv:2: not valid utf-8 text", "--encoding")
    code, _, err = _prepare(src, tmp_path / "ds", "--encoding", "latin-1")
    assert code == 0, err
    from crossmedia.data import Dataset

    assert Dataset.load(tmp_path / "ds").items[0]["caption"].startswith("un caf\u00e9")
    code, _, err = _prepare(src, tmp_path / "ds2", "--encoding", "klingon")
    assert_one_line_error(code, err, "--encoding 'klingon'")


def test_all_empty_texts_are_warned(tmp_path):
    src = _folder(tmp_path / "src", text=lambda i: "")
    code, out, err = _prepare(src, tmp_path / "ds")
    assert code == 0, err
    assert "warning: every item's 'caption' is empty" in out


def _wikipedia(root, bad_rows=()):
    import scipy.io

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    (root / "categories.list").write_text("art\nbiology\n")
    feats = {}
    for split, n, key in (("train", 20, "tr"), ("test", 8, "te")):
        c = np.arange(n) % 2
        (root / f"{split}set_txt_img_cat.list").write_text(
            "\n".join(f"t{split}{i}\timg{split}{i}\t{c[i] + 1}" for i in range(n)) + "\n")
        feats[f"I_{key}"] = rng.random((n, 6)) + np.eye(6)[c]
        feats[f"T_{key}"] = rng.random((n, 4)) + np.eye(4)[c]
    for r, v in bad_rows:
        feats["I_tr"][r, 1] = v
    scipy.io.savemat(root / "raw_features.mat", feats)
    return root


def test_non_finite_features_are_refused_at_prepare(tmp_path):
    src = _wikipedia(tmp_path / "w", bad_rows=[(2, np.nan), (5, np.inf)])
    code, _, err = run_cli("data", "prepare", "wikipedia", "--src", src, "--out", tmp_path / "ds", "--nonstandard")
    assert_one_line_error(code, err, "NaN or infinite values")
    assert not (tmp_path / "ds").exists()


def test_every_preparer_refuses_non_finite_feature_rows(tmp_path):
    # the shared writer: whatever the preparer read, NaN/inf rows are counted and named
    from crossmedia.data import Protocol
    from crossmedia.data.loaders.base import Prepared, PrepareOptions, write_prepared

    items = [{"id": f"x{i}", "labels": [i % 2], "tags": ["a"]} for i in range(20)]
    feats = np.ones((20, 3), np.float32)
    feats[[3, 11], 2] = [np.nan, -np.inf]
    prep = Prepared(name="t", items=items, label_names=["p", "q"], global_features=feats,
                    protocols=[Protocol.random(20, n_query=4, n_train=10, n_val=2, seed=0, name="default")])
    with pytest.raises(DataError, match=r"image features: 2 row\(s\) hold NaN or infinite values \(first ids: 'x3', 'x11'\)"):
        write_prepared(prep, tmp_path / "ds", PrepareOptions())
    assert not (tmp_path / "ds").exists()


def test_non_finite_features_are_refused_before_training(tmp_path):
    src = _wikipedia(tmp_path / "w")
    code, _, err = run_cli("data", "prepare", "wikipedia", "--src", src, "--out", tmp_path / "ds", "--nonstandard")
    assert code == 0, err
    feats = tmp_path / "ds" / "features" / "image_global.npy"
    arr = np.load(feats)
    arr[4, 0] = np.nan
    np.save(feats, arr)  # damaged after preparation (or written by another tool)
    code, _, err = run_cli("train", "--data", tmp_path / "ds", "--out", tmp_path / "run", "--set", "model.name=twotower",
                           "--set", "data.image_source=features", "--set", "train.epochs=1")
    assert_one_line_error(code, err, "image_global.npy: 1 row(s) hold NaN or infinite values", "first rows: 4")
    assert not (tmp_path / "run").exists()
    from crossmedia.data.loading import load_run_data

    with pytest.raises(DataError):
        load_run_data({"root": str(tmp_path / "ds"), "text_field": "features", "image_source": "features"})


def test_non_finite_text_features_are_refused_before_training(tmp_path):
    # NaN in the text (tag) matrix used to surface as "loss became nan ... lower train.lr"
    src = _wikipedia(tmp_path / "w")
    code, _, err = run_cli("data", "prepare", "wikipedia", "--src", src, "--out", tmp_path / "ds", "--nonstandard")
    assert code == 0, err
    feats = tmp_path / "ds" / "features" / "text.npy"
    arr = np.load(feats)
    arr[7, 2] = np.nan
    np.save(feats, arr)
    code, _, err = run_cli("train", "--data", tmp_path / "ds", "--out", tmp_path / "run", "--set", "model.name=twotower",
                           "--set", "data.image_source=features", "--set", "train.epochs=1")
    assert_one_line_error(code, err, "text.npy: 1 row(s) hold NaN or infinite values", "first rows: 7")


def test_non_finite_feature_queries_are_refused():
    from types import SimpleNamespace

    from crossmedia.errors import UserError
    from crossmedia.search.query import image_batch

    info = SimpleNamespace(image_feature_dim=3)
    with pytest.raises(UserError, match="NaN or infinite"):
        image_batch(info, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(UserError, match="NaN or infinite"):
        image_batch(info, {"image": np.array([1.0, np.inf, 0.0])})


# ---------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("bad", [-1, 2])
def test_metrics_refuse_labels_outside_0_1(bad):
    from crossmedia.metrics import relevance

    y = np.array([[1, 0], [0, 1]])
    z = y.copy()
    z[0, 1] = bad
    with pytest.raises(ValueError, match="must be 0 or 1"):
        relevance(z, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_metrics_refuse_non_finite_codebooks(bad):
    from crossmedia.metrics.scorers import AQDScorer

    cb = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    cb[1, 2, 0] = bad
    codes = np.zeros((5, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="codebooks contain NaN or infinite"):
        AQDScorer(np.ones((1, 3), np.float32), cb, codes)
