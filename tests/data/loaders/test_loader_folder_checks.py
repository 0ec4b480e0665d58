"""Plain folders (CSV/JSONL manifests), user-defined splits, load-time checks and the CLI."""

import json

import numpy as np
import pytest

from crossmedia.cli.main import main
from crossmedia.data import Dataset
from crossmedia.data.loaders import prepare_dataset
from crossmedia.data.loading import load_run_data
from crossmedia.errors import DataError, UserError


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_folder_manifest(tmp_path, fixtures, fmt):
    src = fixtures.make_folder(tmp_path / "src", n=30, fmt=fmt)
    ds = prepare_dataset("folder", src, tmp_path / "d")
    assert len(ds) == 30 and ds.label_names == ["blue", "green", "red"]
    assert ds.items[0]["caption"].startswith("a picture of")
    assert ds.protocol_names() == ["default"] and ds.protocol().counts == {"train": 15, "val": 1, "query": 3, "retrieval": 27}
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=caption")


def test_folder_split_column_and_tags(tmp_path, fixtures):
    src = fixtures.make_folder(tmp_path / "src", n=30, fmt="jsonl", split=True)
    ds = prepare_dataset("folder", src, tmp_path / "d", text_kind="tags")
    p = ds.protocol()  # the user's split is the default protocol
    assert p.name == "default" and p.query_in_retrieval and "random" in ds.protocol_names()
    assert p.counts == {"train": 22, "val": 3, "query": 5, "retrieval": 5}
    assert ds.items[0]["tags"] == ["a", "picture", "of", "red"]
    fixtures.train_one_epoch(ds.root, tmp_path / "run", "data.text_field=tags", "train.val_every=1")


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.replace("image,text,labels", "img,text,labels"), r"manifest\.csv: missing column 'image'"),
    (lambda t: t.replace("imgs/3.png", "imgs/nope.png"), r"manifest\.csv:5: image 'imgs/nope\.png' not found"),
    (lambda t: t + "imgs/1.png,x,red,extra\n", r"manifest\.csv:32: more fields than the header"),
])
def test_folder_malformed(tmp_path, fixtures, edit, match):
    src = fixtures.make_folder(tmp_path / "src", n=30)
    m = src / "manifest.csv"
    m.write_text(edit(m.read_text()))
    with pytest.raises(DataError, match=match):
        prepare_dataset("folder", src, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_user_split_file(tmp_path, fixtures):
    src = fixtures.make_pascal(tmp_path / "src", n_cat=3, per_cat=10)
    ids = [f"{c}/2008_{k}{i:04d}" for k, c in enumerate(["aeroplane", "bicycle", "bird"]) for i in range(10)]
    lines = ["id,split"] + [f"{x},{'query' if i % 10 < 2 else 'database' if i % 10 < 4 else 'train'}" for i, x in enumerate(ids)]
    (tmp_path / "split.csv").write_text("\n".join(lines) + "\n")
    ds = prepare_dataset("pascal-sentence", src, tmp_path / "d", nonstandard=True, split_file=tmp_path / "split.csv",
                         split_name="mine")
    p = ds.protocol("mine")
    assert p.counts == {"train": 18, "val": 0, "query": 6, "retrieval": 24} and not p.query_in_retrieval
    (tmp_path / "bad.csv").write_text("id,split\naeroplane/2008_00000,holdout\n")
    with pytest.raises(DataError, match=r"bad\.csv:2: unknown split 'holdout'"):
        prepare_dataset("pascal-sentence", src, tmp_path / "d2", nonstandard=True, split_file=tmp_path / "bad.csv")
    (tmp_path / "bad2.json").write_text(json.dumps({"train": ["aeroplane/2008_00000"], "query": ["nope"]}))
    with pytest.raises(DataError, match=r"bad2\.json: 'query': item id 'nope' is not in the dataset"):
        prepare_dataset("pascal-sentence", src, tmp_path / "d3", nonstandard=True, split_file=tmp_path / "bad2.json")
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists()


# ---------------------------------------------------------------------------- load-time checks
@pytest.fixture
def mir(tmp_path, fixtures):
    src = fixtures.make_mirflickr_raw(tmp_path / "src", n=40)
    return prepare_dataset("mirflickr25k", src, tmp_path / "d", nonstandard=True, min_tag_count=2, n_val=2)


CFG = {"protocol": "default", "text_field": "tags", "image_source": "pixels"}


def test_check_query_train_overlap(mir):
    pf = mir.root / "protocols" / "default.json"
    d = json.loads(pf.read_text())
    d["splits"]["train"][0] = d["splits"]["query"][0]
    pf.write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"default\.json: 1 item\(s\) are in both 'query' and 'train'"):
        load_run_data({**CFG, "root": str(mir.root)})


def test_check_empty_labels(mir):
    lines = (mir.root / "items.jsonl").read_text().splitlines()
    it = json.loads(lines[3])
    it["labels"] = []
    lines[3] = json.dumps(it)
    (mir.root / "items.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"items\.jsonl: 1 item\(s\) have no label \(first: 'im4'\); the standard protocol keeps only labelled items"):
        load_run_data({**CFG, "root": str(mir.root)})


def test_check_vocabulary_leakage(mir):
    vocab = json.loads((mir.root / "text" / "vocab.json").read_text())
    p = mir.protocol()
    test_only = sorted({w for i in p["query"] for w in mir.items[i]["raw_tags"]} - set(vocab))
    (mir.root / "text" / "vocab.json").write_text(json.dumps(vocab + (test_only or ["zzz-unseen"])))
    with pytest.raises(DataError, match=r"vocab\.json: vocabulary leakage: 3 word\(s\) never occur in the 'train' split"):
        load_run_data({**CFG, "root": str(mir.root)})


def test_check_missing_image(mir):
    from pathlib import Path

    img = Path(mir.items[5]["image"])
    img.rename(img.with_suffix(".moved"))
    with pytest.raises(DataError, match=rf"{img.name}: image of item '{mir.items[5]['id']}' not found"):
        load_run_data({**CFG, "root": str(mir.root)})


def test_check_standard_counts(mir):
    meta = json.loads((mir.root / "dataset.json").read_text())
    meta["standard"] = {"reference": "DCMH", "n_items": len(mir), "protocols": {"default": {"query": 2000, "train": 10000}}}
    (mir.root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"default\.json: split 'query' has 3 items but the standard mirflickr25k protocol has 2000 \(DCMH\)"):
        load_run_data({**CFG, "root": str(mir.root)})
    meta["standard"]["n_items"] = 20015
    (mir.root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"dataset\.json: the dataset has 35 items but the standard mirflickr25k release has 20015"):
        load_run_data({**CFG, "root": str(mir.root)})


def test_check_feature_column_leakage_is_a_warning(tmp_path, fixtures):
    a = fixtures.dcmh_arrays(n=30)
    a["Y"][:, -1] = 0
    a["Y"][:5, -1] = 1  # a tag column used only by the .mat's query items (indexQuery 1-5)
    fixtures.write_mat_v5(tmp_path / "s" / "x.mat", a)
    ds = prepare_dataset("mirflickr25k", tmp_path / "s", tmp_path / "d", nonstandard=True, n_val=2)
    rd = load_run_data({**CFG, "root": str(ds.root), "protocol": "matfile", "image_source": "pixels"})
    assert any("possible vocabulary leakage: 1 of 12 text feature columns" in w for w in rd.protocol.warnings)


# ---------------------------------------------------------------------------- CLI
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prepare(capsys, tmp_path, fixtures):
    src = fixtures.make_wikipedia(tmp_path / "src")
    code, out, err = run(capsys, "-q", "data", "prepare", "wikipedia", "--src", str(src), "--out", str(tmp_path / "d"),
                         "--nonstandard", "--n-val", "3")
    assert code == 0, err
    assert "items     55" in out and "protocol  default" in out and "warning: non-standard" in out
    assert Dataset.load(tmp_path / "d").protocol().counts["val"] == 3
    code, out, _ = run(capsys, "data", "prepare", "--help")
    assert code == 0 and "mirflickr25k" in out and "--nonstandard" in out


@pytest.mark.parametrize("argv,needle", [
    (["nosuch", "--src", "{src}", "--out", "{out}"], "'nosuch' is not one of"),
    (["wikipedia", "--src", "{tmp}/absent", "--out", "{out}"], "absent: not found"),
    (["wikipedia", "--src", "{src}", "--out", "{out}"], "found 55 pairs after the standard filtering"),
    (["mirflickr25k", "--src", "{src}", "--out", "{out}"], "missing labels (LAll/labels), tags (YAll/tags), images (IAll/images)"),
])
def test_cli_prepare_errors(capsys, tmp_path, fixtures, argv, needle):
    src = fixtures.make_wikipedia(tmp_path / "src")
    argv = [a.format(src=src, out=tmp_path / "out", tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, "data", "prepare", *argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "out").exists()


def test_prepare_refuses_non_empty_out(tmp_path, fixtures):
    src = fixtures.make_wikipedia(tmp_path / "src")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        prepare_dataset("wikipedia", src, tmp_path / "out", nonstandard=True)
    assert (tmp_path / "out" / "x").read_text() == "keep"
    ds = prepare_dataset("wikipedia", src, tmp_path / "out", nonstandard=True, overwrite=True)
    assert np.asarray(ds.features("text")).shape == (55, 4)
