"""Wikipedia: the original release layout, text as precomputed (LDA) features, the standard
2,173 / 693 protocol; the real release at ../shared/data/wikipedia when present."""

import json
from pathlib import Path

import numpy as np
import pytest

from crossmedia.data.loaders import prepare_dataset
from crossmedia.data.loading import load_run_data
from crossmedia.errors import DataError

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikipedia"


def test_wikipedia_features_release(tmp_path, fixtures):
    src = fixtures.make_wikipedia(tmp_path / "src", n_train=40, n_test=15)
    ds = prepare_dataset("wikipedia", src, tmp_path / "d", nonstandard=True, n_val=4)
    assert len(ds) == 55 and ds.label_names == ["art", "biology", "geography"]
    assert ds.features("global").shape == (55, 8) and ds.features("text").shape == (55, 4)
    assert ds.items[40]["release_split"] == "test" and ds.items[0]["feature_row"] == 0
    p = ds.protocol()
    assert p.query_in_retrieval and p["query"].tolist() == list(range(40, 55)) == p["retrieval"].tolist()
    assert p.counts == {"train": 36, "val": 4, "query": 15, "retrieval": 15}
    assert not set(p["val"]) & set(p["train"]) and set(p["val"]) <= set(range(40))
    full = ds.protocol("full-train")
    assert full.counts == {"train": 40, "val": 0, "query": 15, "retrieval": 15}
    # the text of a run is the LDA features (no words in the items)
    rd = load_run_data({"root": str(ds.root), "protocol": "default", "text_field": "tags", "image_source": "features"})
    assert rd.tensors.text_source == "features" and rd.vocab.words[0] == "<lda:0>"
    np.testing.assert_allclose(rd.tensors.bow.numpy(), ds.features("text"))
    np.testing.assert_allclose(rd.tensors.images.numpy(), ds.features("global"))
    rd2 = load_run_data({"root": str(ds.root), "protocol": "default", "text_field": "features", "image_source": "features"})
    assert rd2.tensors.text_source == "features"
    run = fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.image_source=features", "train.val_every=1")
    assert run.read_log()[0]["val_score"] >= 0
    from crossmedia.eval import load_for_evaluation

    ck, rd3 = load_for_evaluation(run.path)
    model = ck.model
    assert rd3.tensors.text_source == "features" and model.info.vocab_size == 4


def test_wikipedia_raw_texts_and_images(tmp_path, fixtures):
    src = fixtures.make_wikipedia(tmp_path / "src", n_train=20, n_test=8, raw=True, mat=False)
    ds = prepare_dataset("wikipedia", src, tmp_path / "d", nonstandard=True, n_val=2)
    assert ds.items[0]["caption"] == "An article about art & more."
    assert Path(ds.items[0]["image"]).name == "imgtrain0.jpg"
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=caption")


@pytest.mark.parametrize("damage,match", [
    ("rows", r"raw_features\.mat: I_tr has 39 rows but trainset_txt_img_cat\.list lists 40 pairs"),
    ("category", r"testset_txt_img_cat\.list:2: category 9 is outside 1-3"),
    ("columns", r"testset_txt_img_cat\.list:1: expected 'text id<TAB>image id<TAB>category'"),
    ("key", r"raw_features\.mat: missing variable 'T_te'"),
    ("truncated", r"raw_features\.mat: not a readable MATLAB \.mat file"),
])
def test_wikipedia_malformed(tmp_path, fixtures, damage, match):
    import scipy.io

    src = fixtures.make_wikipedia(tmp_path / "src", n_train=40, n_test=15)
    m = src / "raw_features.mat"
    if damage == "rows":
        d = scipy.io.loadmat(m)
        d["I_tr"] = d["I_tr"][:39]
        scipy.io.savemat(m, {k: v for k, v in d.items() if not k.startswith("__")})
    elif damage == "category":
        lines = (src / "testset_txt_img_cat.list").read_text().splitlines()
        lines[1] = lines[1].rsplit("\t", 1)[0] + "\t9"
        (src / "testset_txt_img_cat.list").write_text("\n".join(lines) + "\n")
    elif damage == "columns":
        (src / "testset_txt_img_cat.list").write_text("only-one-field\n")
    elif damage == "key":
        d = scipy.io.loadmat(m)
        scipy.io.savemat(m, {k: v for k, v in d.items() if not k.startswith("__") and k != "T_te"})
    else:
        m.write_bytes(m.read_bytes()[:300])
    with pytest.raises(DataError, match=match):
        prepare_dataset("wikipedia", src, tmp_path / "d", nonstandard=True)
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} not present")
def test_real_wikipedia_release(tmp_path, fixtures):
    ds = prepare_dataset("wikipedia", REAL, tmp_path / "wiki")
    assert len(ds) == 2866 and len(ds.label_names) == 10 and ds.label_names[0] == "art" and ds.label_names[-1] == "warfare"
    assert ds.features("global").shape == (2866, 128) and ds.features("text").shape == (2866, 10)
    p = ds.protocol()
    assert p.counts == {"train": 1956, "val": 217, "query": 693, "retrieval": 693} and p.query_in_retrieval
    assert ds.protocol("full-train").counts["train"] == 2173
    assert ds.meta["standard"]["n_items"] == 2866
    assert np.allclose(np.asarray(ds.features("text")).sum(1), 1.0, atol=1e-3)  # LDA topic proportions
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.image_source=features", "train.batch_size=256")
    # a tampered protocol no longer matches the standard counts
    pf = ds.root / "protocols" / "full-train.json"
    d = json.loads(pf.read_text())
    d["splits"]["train"] = d["splits"]["train"][:-1]
    d["counts"]["train"] -= 1
    pf.write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"full-train\.json: split 'train' has 2172 items but the standard wikipedia protocol has 2173"):
        load_run_data({"root": str(ds.root), "protocol": "full-train", "text_field": "tags", "image_source": "features"})


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} not present")
def test_benchmark_script_smoke(tmp_path, load_benchmark):
    mod = load_benchmark("wikipedia")
    assert [m.name for m in mod.MODELS][0] == "twotower"
    assert {"cmsl", "cdq"} <= {m.name for m in mod.MODELS}
    common = ["--src", str(REAL), "--bits", "8", "--epochs", "2", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "out")]
    assert mod.main(common + ["--seeds", "0,1", "--models", "twotower"]) == 0
    first = json.loads((tmp_path / "out" / "wikipedia.json").read_text())
    # cumulative and resumable: another model joins the file, finished runs are not retrained
    assert mod.main(common + ["--seeds", "0", "--models", "twotower,cdq"]) == 0
    report = json.loads((tmp_path / "out" / "wikipedia.json").read_text())
    assert [r for r in report["runs"] if r["model"] == "twotower"] == first["runs"]
    assert report["summary"]["cdq"]["8"]["image->text"]["n_seeds"] == 1
    assert report["runs"][-1]["ranking"]["representation"] == "quantized"
    report = json.loads((tmp_path / "out" / "wikipedia.json").read_text())
    s = report["summary"]["twotower"]["8"]
    assert s["image->text"]["n_seeds"] == 2 and 0 < s["text->image"]["mean"] <= 1
    assert report["queries"]["count"] == report["database"]["count"] == 693 and report["protocol"]["query_in_retrieval"]
    md = (tmp_path / "out" / "wikipedia.md").read_text()
    assert "| twotower | 8 |" in md and "same 693 test pairs" in md
