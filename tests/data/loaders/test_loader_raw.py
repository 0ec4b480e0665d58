"""Raw release layouts: MIRFlickr-25K, NUS-WIDE, IAPR TC-12, Pascal Sentence, Karpathy JSON."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from crossmedia.data.loaders import list_preparers, prepare_dataset
from crossmedia.errors import DataError


def test_registry_lists_every_format():
    assert set(list_preparers()) == {"mirflickr25k", "nuswide", "iaprtc12", "wikipedia", "pascal-sentence", "coco",
                                     "flickr30k", "folder", "emoji"}


def test_mirflickr_raw(tmp_path, fixtures):
    src = fixtures.make_mirflickr_raw(tmp_path / "src", n=40)
    ds = prepare_dataset("mirflickr25k", src, tmp_path / "d", nonstandard=True, min_tag_count=2, n_val=2)
    # every 7th image has no label and is dropped; rare tags (count 1) are filtered out
    assert len(ds) == 40 - 40 // 7
    assert all(it["labels"] for it in ds.items)
    assert all(not w.startswith("rare") for it in ds.items for w in it["tags"])
    assert ds.label_names[:3] == ["animals", "baby", "bird"] and len(ds.label_names) == 24
    assert ds.items[0]["id"] == "im1" and ds.items[0]["image"].endswith("im1.jpg")
    assert "images_in_release" in ds.meta["source"] and ds.meta["source"]["dropped"] == 40 // 7
    # text features: vocabulary from the training split only, BoW and tf-idf rows
    p = ds.protocol()
    vocab = json.loads((ds.root / "text" / "vocab.json").read_text())
    train_words = {w for i in p["train"] for w in ds.items[i]["tags"]}
    assert set(vocab[2:]) == train_words
    bow = sp.load_npz(ds.root / "text" / "bow.npz")
    tfidf = sp.load_npz(ds.root / "text" / "tfidf.npz")
    assert bow.shape == tfidf.shape == (len(ds), len(vocab))
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(1)).ravel())
    assert np.allclose(norms[np.asarray(bow.sum(1)).ravel() > 0], 1.0, atol=1e-5)
    j = vocab.index("photo")  # in every document: the smallest idf
    idf = np.load(ds.root / "text" / "idf.npy")
    assert idf[j] == idf[2:].min()
    fixtures.train_one_epoch(ds.root, tmp_path / "run")


def test_mirflickr_raw_standard_counts_enforced(tmp_path, fixtures):
    src = fixtures.make_mirflickr_raw(tmp_path / "src", n=20)
    with pytest.raises(DataError, match="25,000"):
        prepare_dataset("mirflickr25k", src, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_mirflickr_malformed_annotation(tmp_path, fixtures):
    src = fixtures.make_mirflickr_raw(tmp_path / "src", n=20)
    (src / "mirflickr25k_annotations_v080" / "dog.txt").write_text("3\nim4\n")
    with pytest.raises(DataError, match=r"dog\.txt:2: expected an image number"):
        prepare_dataset("mirflickr25k", src, tmp_path / "d", nonstandard=True, min_tag_count=2)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("subset,k", [("tc21", 21), ("tc10", 10)])
def test_nuswide_raw(tmp_path, fixtures, subset, k):
    src = fixtures.make_nuswide_raw(tmp_path / "src", n=48)
    ds = prepare_dataset("nuswide", src, tmp_path / "d", nonstandard=True, subset=subset, n_val=2)
    assert ds.name == f"nuswide-{subset}" and len(ds.label_names) == k
    assert ds.label_names[0] in ("concept00", "concept01", "concept02")  # the frequent ones first
    y = ds.labels
    assert (y.sum(1) > 0).all()  # unlabelled images dropped (NUS-WIDE pitfall)
    assert len(ds) <= 48 - 6
    assert all(isinstance(w, str) for it in ds.items for w in it["tags"])
    if subset == "tc21":
        fixtures.train_one_epoch(ds.root, tmp_path / "run")


def test_nuswide_row_count_mismatch(tmp_path, fixtures):
    src = fixtures.make_nuswide_raw(tmp_path / "src", n=24)
    p = src / "NUS_WID_Tags" / "AllTags1k.txt"
    p.write_text("\n".join(p.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataError, match=r"AllTags1k\.txt: 23 rows .* 24 images"):
        prepare_dataset("nuswide", src, tmp_path / "d", nonstandard=True)
    p.write_text(p.read_text() + "0 1 x\n")
    with pytest.raises(DataError, match=r"AllTags1k\.txt:24: expected 12 values 0/1"):
        prepare_dataset("nuswide", src, tmp_path / "d", nonstandard=True)
    assert not (tmp_path / "d").exists()


def test_iaprtc12_raw(tmp_path, fixtures):
    src = fixtures.make_iapr_raw(tmp_path / "src", n=36)
    ds = prepare_dataset("iaprtc12", src, tmp_path / "d", nonstandard=True, n_val=2)
    assert len(ds) == 36 - 36 // 9
    it = ds.items[0]
    assert it["caption"].startswith("a photo of") and not it["caption"].endswith(";")
    assert ds.label_names == ["red", "green", "blue", "yellow"]
    tokens = np.load(ds.root / "text" / "tokens.npy")
    lengths = np.load(ds.root / "text" / "lengths.npy")
    assert tokens.shape == (len(ds), 32) and (lengths > 0).all()
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=caption")


def test_iaprtc12_bad_annotation(tmp_path, fixtures):
    src = fixtures.make_iapr_raw(tmp_path / "src", n=20)
    bad = next((src / "iaprtc12" / "annotations_complete_eng").rglob("*.eng"))
    bad.write_text("<DOC><DOCNO>x</DOCNO><DESCRIPTION>no image tag</DESCRIPTION></DOC>")
    with pytest.raises(DataError, match=r"\.eng: missing <IMAGE>"):
        prepare_dataset("iaprtc12", src, tmp_path / "d", nonstandard=True)


def test_pascal_sentence(tmp_path, fixtures):
    src = fixtures.make_pascal(tmp_path / "src", n_cat=3, per_cat=10)
    ds = prepare_dataset("pascal-sentence", src, tmp_path / "d", nonstandard=True)
    assert len(ds) == 30 and ds.label_names == ["aeroplane", "bicycle", "bird"]
    assert len(ds.items[0]["captions"]) == 5
    p = ds.protocol()
    assert p.query_in_retrieval and p.counts == {"train": 24, "val": 3, "query": 3, "retrieval": 3}
    caption_item = np.load(ds.root / "text" / "caption_item.npy")
    assert caption_item.shape == (150,) and np.load(ds.root / "text" / "all_tokens.npy").shape == (150, 32)
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=caption")


@pytest.mark.parametrize("which", ["coco", "flickr30k"])
def test_karpathy(tmp_path, fixtures, which):
    src = fixtures.make_karpathy(tmp_path / "src", which, n=30)
    ds = prepare_dataset(which, src, tmp_path / "d", nonstandard=True)
    assert len(ds) == 30
    p = ds.protocol()
    assert p.counts == {"train": 20, "val": 4, "query": 6, "retrieval": 6} and p.query_in_retrieval
    it = ds.items[0]
    assert it["caption"] == "A red square number 0." and len(it["captions"]) == 5 and it["tokens"][1] == "red"
    if which == "coco":
        assert ds.label_names == ["person", "car", "train"]
        assert it["id"] == "1000" and it["labels"] == [0]
        assert ds.items[9]["labels"] == []  # no instances for this image
        assert {f"1k-fold{k}" for k in range(5)} <= set(ds.protocol_names())
    else:
        assert ds.labels.sum() == 0  # no categories in Flickr30K
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=caption")


def test_karpathy_truncated_json(tmp_path, fixtures):
    src = fixtures.make_karpathy(tmp_path / "src", "flickr30k", n=12)
    p = src / "dataset_flickr30k.json"
    p.write_text(p.read_text()[:200])
    with pytest.raises(DataError, match=r"dataset_flickr30k\.json: not valid JSON .*truncated"):
        prepare_dataset("flickr30k", src, tmp_path / "d", nonstandard=True)
    p.write_text(json.dumps({"images": [{"filename": "x.jpg", "split": "train"}]}))
    with pytest.raises(DataError, match=r"images\[0\]: expected fields filename, split and sentences"):
        prepare_dataset("flickr30k", src, tmp_path / "d", nonstandard=True)
    assert not (tmp_path / "d").exists()


def test_missing_image_is_an_error(tmp_path, fixtures):
    src2 = fixtures.make_karpathy(tmp_path / "k", "flickr30k", n=12)
    (src2 / "flickr30k-images" / "5003.jpg").unlink()
    with pytest.raises(DataError, match=r"5003\.jpg: image not found \(1 of 12"):
        prepare_dataset("flickr30k", src2, tmp_path / "d", nonstandard=True)
    assert not (tmp_path / "d").exists()
