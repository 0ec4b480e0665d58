"""The path of real data: CSV manifests by a CSV parser, the text field a dataset has, the prepared
vocabulary used by training (sparse bag-of-words when large), ``data info`` counting the vocabulary
a run builds, and ``features extract`` leaving its input untouched (tested in tests/features)."""

import json

import numpy as np
import pytest
import torch

from crossmedia.cli.main import main
from crossmedia.config import resolve_config
from crossmedia.data import Dataset
from crossmedia.data import tensors as tensors_mod
from crossmedia.data.info import summarize
from crossmedia.data.loaders import prepare_dataset
from crossmedia.data.loading import load_run_data
from crossmedia.errors import ConfigError
from crossmedia.train import train
from tests.data.loaders.conftest import save_image

SMALL = ["model.bits=8", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.batch_size=8",
         "train.epochs=1", "train.val_every=0"]
WORDS = ["red", "green", "blue"]


def _rows(n=30):
    rows = []
    for i in range(n):
        lab = WORDS[i % 3]
        extra = ["sky", "car", "tree", "road", "boat"][i % 5]
        rows.append({"image": f"imgs/{i}.png", "text": f"a {lab} {extra}\nnear the {WORDS[(i + 1) % 3]} house", "labels": [lab]})
    return rows


def _write_source(root, fmt, n=30):
    rows = _rows(n)
    for i, r in enumerate(rows):
        save_image(root / r["image"], i % 3, fmt="PNG")
    if fmt == "csv":
        def q(s):
            return '"' + s.replace('"', '""') + '"'
        lines = ["image,text,labels"] + [f"{r['image']},{q(r['text'])},{'|'.join(r['labels'])}" for r in rows]
        (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_csv_quoted_newlines_read_like_jsonl(tmp_path):
    a = prepare_dataset("folder", _write_source(tmp_path / "csv", "csv"), tmp_path / "a")
    b = prepare_dataset("folder", _write_source(tmp_path / "jsonl", "jsonl"), tmp_path / "b")
    assert [it["caption"] for it in a.items] == [it["caption"] for it in b.items]
    assert "\n" in a.items[0]["caption"] and "skynear" not in json.dumps(a.items)


def test_text_field_defaults_to_what_the_dataset_has(tmp_path):
    ds = prepare_dataset("folder", _write_source(tmp_path / "src", "jsonl"), tmp_path / "d")  # captions only
    assert ds.meta["text_fields"] == ["caption"]
    cfg = resolve_config(None, SMALL, data__root=str(ds.root))
    assert cfg["data"]["text_field"] is None
    run = train(cfg, tmp_path / "run")
    saved = run.load_config()
    assert saved["data"]["text_field"] == "caption"
    # asking for a field the items lack names the field and what they have
    with pytest.raises(ConfigError, match=r"data\.text_field=tags: .* no 'tags' field \(they have: caption; set data\.text_field=caption\)"):
        load_run_data({**cfg["data"], "text_field": "tags"})


def test_training_uses_the_prepared_vocabulary(tmp_path, capsys):
    src = _write_source(tmp_path / "src", "jsonl")
    code = main(["-q", "data", "prepare", "folder", "--src", str(src), "--out", str(tmp_path / "d"),
                 "--vocab-min-count", "5"])
    assert code == 0, capsys.readouterr().err
    prepared = json.loads((tmp_path / "d" / "text" / "vocab.json").read_text())
    cfg = resolve_config(None, SMALL, data__root=str(tmp_path / "d"))
    rd = load_run_data(cfg["data"])
    assert rd.vocab.words == prepared and "prepared" in rd.vocab_source
    run = train(cfg, tmp_path / "run")
    assert json.loads((run.path / "vocab.json").read_text()) == prepared
    assert run.info()["vocabulary"]["size"] == len(prepared)
    # an explicit data.min_count rebuilds it from the train split
    rd1 = load_run_data({**cfg["data"], "min_count": 1})
    assert len(rd1.vocab) > len(prepared) and "count >= 1" in rd1.vocab_source


def test_large_bag_of_words_is_sparse(tmp_path, monkeypatch, tiny_dataset):
    dense = load_run_data({"root": str(tiny_dataset.root), "text_field": "caption"})
    monkeypatch.setattr(tensors_mod, "SPARSE_BOW_BYTES", 0)
    sparse = load_run_data({"root": str(tiny_dataset.root), "text_field": "caption"})
    assert sparse.tensors.bow_is_sparse and not dense.tensors.bow_is_sparse
    idx = np.array([0, 3, 7])
    assert torch.equal(sparse.tensors.batch(idx)["bow"], dense.tensors.batch(idx)["bow"])
    cfg = resolve_config(None, SMALL, data__root=str(tiny_dataset.root))
    assert train(cfg, tmp_path / "run").info()["status"] == "done"


def test_data_info_counts_the_train_split_vocabulary(tiny_dataset, tmp_path):
    # give one query-only item a word no training item has
    ds = Dataset.load(tiny_dataset.root)
    q = ds.protocol()["query"][0]
    ds.items[q]["tags"] = ds.items[q]["tags"] + ["zebra"]
    ds.save(tiny_dataset.root)
    s = summarize(Dataset.load(tiny_dataset.root))["text"]["tags"]
    assert s["vocabulary_size"] == 4 and s["vocabulary_size_all_items"] == 5
    assert s["vocabulary_split"] == "train split of protocol 'default'"


def test_data_info_reports_query_tokens_outside_the_train_vocabulary(tiny_dataset):
    from crossmedia.data.info import format_summary
    from crossmedia.data.text import Tokenizer

    ds = Dataset.load(tiny_dataset.root)
    p = ds.protocol()
    tok = Tokenizer.parse(None)
    n_query_tokens = sum(len(tok(ds.items[int(i)]["tags"])) for i in p["query"])
    for i in p["query"]:  # every query text gains one word no training text has
        ds.items[int(i)]["tags"] = ds.items[int(i)]["tags"] + ["zebra"]
    ds.save(tiny_dataset.root)
    s = summarize(Dataset.load(tiny_dataset.root))
    share = s["protocols"]["default"]["unseen_query_tokens"]["tags"]
    assert share == pytest.approx(len(p["query"]) / (n_query_tokens + len(p["query"])))
    assert any("tokens are not in its training vocabulary" in w and "data.unseen_words" in w for w in s["warnings"])
    assert f"tags {share:.0%}" in format_summary(s).split("query tokens outside the train vocabulary: ")[1]
