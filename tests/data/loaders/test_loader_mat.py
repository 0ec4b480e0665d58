"""DCMH-style .mat files, MATLAB v5 (scipy) and v7.3 (HDF5/h5py), transposed correctly."""

import json

import numpy as np
import pytest
from PIL import Image

from crossmedia.data import Dataset
from crossmedia.data.loaders import prepare_dataset
from crossmedia.data.loaders.matfile import iter_images, read_mat
from crossmedia.errors import DataError


@pytest.mark.parametrize("flavour", ["v5", "v73"])
def test_read_mat_matlab_order(tmp_path, fixtures, flavour):
    a = fixtures.dcmh_arrays(n=7)
    write = fixtures.write_mat_v5 if flavour == "v5" else fixtures.write_mat_v73
    m = read_mat(write(tmp_path / "x.mat", a))
    assert m["IAll"].shape == (16, 16, 3, 7)  # MATLAB's h x w x 3 x N either way
    assert m["LAll"].shape == (7, 24)
    np.testing.assert_array_equal(m["LAll"].load(), a["L"])
    imgs = np.concatenate(list(iter_images(m["IAll"], 7, chunk=3)))
    np.testing.assert_array_equal(imgs, a["images"])
    assert m["FAll"] == a["names"]
    idx = m["param"]["indexQuery"].load().reshape(-1)
    assert idx.tolist() == [1, 2, 3, 4, 5]


def test_v5_and_v73_prepare_identically(tmp_path, fixtures):
    a = fixtures.dcmh_arrays(n=30)
    fixtures.write_mat_v5(tmp_path / "v5" / "mirflickr25k.mat", a)
    # the split-file flavour: one variable per file, in folders, as DCMH distributes it
    fixtures.write_mat_v73(tmp_path / "v73" / "all.mat", a)
    d5 = prepare_dataset("mirflickr25k", tmp_path / "v5", tmp_path / "d5", nonstandard=True, n_val=2)
    d73 = prepare_dataset("mirflickr25k", tmp_path / "v73", tmp_path / "d73", nonstandard=True, n_val=2)
    assert [it["id"] for it in d5.items] == a["names"] == [it["id"] for it in d73.items]
    np.testing.assert_array_equal(d5.labels, a["L"])
    np.testing.assert_array_equal(d73.labels, a["L"])
    np.testing.assert_array_equal(d5.features("text"), a["Y"])
    np.testing.assert_array_equal(d73.features("text"), a["Y"])
    for i in (0, 13, 29):
        for ds in (d5, d73):
            np.testing.assert_array_equal(np.asarray(Image.open(ds.root / ds.items[i]["image"])), a["images"][i])
    assert d5.label_names[0] == "animals" and len(d5.label_names) == 24
    # the split stored in the file becomes protocol "matfile" (1-based indices -> 0-based)
    for ds in (d5, d73):
        p = ds.protocol("matfile")
        assert p["query"].tolist() == [0, 1, 2, 3, 4] and len(p["retrieval"]) == 25
        assert ds.protocol().counts == {"train": 15, "val": 2, "query": 3, "retrieval": 27}  # scaled 2000/10000 of 20015
    meta = json.loads((d5.root / "dataset.json").read_text())
    assert meta["features"]["text"] == "features/text.npy" and "non-standard" in meta["warnings"][0]


def test_mat_dataset_trains(tmp_path, fixtures):
    a = fixtures.dcmh_arrays(n=30)
    fixtures.write_mat_v73(tmp_path / "src" / "nus.mat", a)
    ds = prepare_dataset("mirflickr25k", tmp_path / "src", tmp_path / "d", nonstandard=True, n_val=2)
    assert ds.meta["text_fields"] == []  # no words: the tag BoW comes from YAll
    run = fixtures.train_one_epoch(ds.root, tmp_path / "run")
    vocab = json.loads((run.path / "vocab.json").read_text())
    assert len(vocab) == a["Y"].shape[1] and vocab[0] == "<tag:0>"


def test_split_files_are_merged(tmp_path, fixtures):
    import scipy.io

    a = fixtures.dcmh_arrays(n=25)
    src = tmp_path / "src"
    for sub, key, arr in (("IAll", "IAll", a["images"].transpose(1, 2, 3, 0)), ("LAll", "LAll", a["L"].T),
                          ("YAll", "YAll", a["Y"])):
        (src / sub).mkdir(parents=True)
        scipy.io.savemat(src / sub / f"mirflickr25k-{sub.lower()}.mat", {key: arr})  # LAll stored transposed (24 x N)
    ds = prepare_dataset("mirflickr25k", src, tmp_path / "d", nonstandard=True, n_val=1)
    np.testing.assert_array_equal(ds.labels, a["L"])
    assert ds.items[0]["id"] == "000000"


def test_truncated_mat_is_a_clear_error(tmp_path, fixtures):
    a = fixtures.dcmh_arrays(n=10)
    for flavour, write in (("v5", fixtures.write_mat_v5), ("v73", fixtures.write_mat_v73)):
        p = write(tmp_path / flavour / "x.mat", a)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
        with pytest.raises(DataError, match=r"x\.mat.*(truncated|not a readable)"):
            prepare_dataset("mirflickr25k", p.parent, tmp_path / f"out-{flavour}", nonstandard=True)
        assert not (tmp_path / f"out-{flavour}").exists()


def test_not_a_mat_file(tmp_path):
    (tmp_path / "x.mat").write_text("hello")
    with pytest.raises(DataError, match=r"x\.mat: not a readable MATLAB"):
        read_mat(tmp_path / "x.mat")


def test_missing_keys_and_wrong_shapes(tmp_path, fixtures):
    import scipy.io

    a = fixtures.dcmh_arrays(n=10)
    (tmp_path / "a").mkdir()
    scipy.io.savemat(tmp_path / "a" / "x.mat", {"LAll": a["L"], "YAll": a["Y"]})
    with pytest.raises(DataError, match=r"missing images \(IAll/images\)"):
        prepare_dataset("mirflickr25k", tmp_path / "a", tmp_path / "o1", nonstandard=True)
    (tmp_path / "b").mkdir()
    scipy.io.savemat(tmp_path / "b" / "x.mat", {"LAll": a["L"], "YAll": a["Y"][:7], "IAll": a["images"].transpose(1, 2, 3, 0)})
    with pytest.raises(DataError, match="do not share an item axis"):
        prepare_dataset("mirflickr25k", tmp_path / "b", tmp_path / "o2", nonstandard=True)
    (tmp_path / "c").mkdir()
    scipy.io.savemat(tmp_path / "c" / "x.mat", {"LAll": a["L"] * 3, "YAll": a["Y"], "IAll": a["images"].transpose(1, 2, 3, 0)})
    with pytest.raises(DataError, match="0/1 multi-hot"):
        prepare_dataset("mirflickr25k", tmp_path / "c", tmp_path / "o3", nonstandard=True)
    assert not any((tmp_path / f"o{k}").exists() for k in (1, 2, 3))


def test_count_mismatch_needs_nonstandard(tmp_path, fixtures):
    a = fixtures.dcmh_arrays(n=12)
    fixtures.write_mat_v5(tmp_path / "s" / "x.mat", a)
    with pytest.raises(DataError, match=r"found 12 pairs .* has 20015.*--nonstandard"):
        prepare_dataset("mirflickr25k", tmp_path / "s", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    ds = prepare_dataset("mirflickr25k", tmp_path / "s", tmp_path / "o", nonstandard=True, n_val=1)
    assert "standard" not in ds.meta and Dataset.load(ds.root).protocol().counts["query"] >= 1
