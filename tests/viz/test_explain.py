import json

import numpy as np
import pytest
from PIL import Image

from crossmedia.viz.heatmaps import attention_heatmaps, attention_overlay

SMALL = ["--set", "model.text.embed_dim=16", "--set", "model.text.hidden=8", "--set",
         "model.image.cnn_channels=[4, 8, 8, 8]", "--set", "data.text_field=caption", "--set", "train.epochs=1",
         "--set", "train.batch_size=8"]


def test_heatmaps_put_the_hot_colour_where_the_attention_is(tmp_path):
    img = Image.new("RGB", (72, 72), (128, 128, 128))
    attn = np.zeros(9)
    attn[2] = 1.0  # top right cell
    over = np.asarray(attention_overlay(img, attn, 3, size=90)).astype(int)
    assert over[10:20, 70:80].sum() > over[70:80, 10:20].sum()
    p = attention_heatmaps(img, ["red", "circle"], np.stack([attn, attn[::-1]]), 3, tmp_path / "a.png", title="t")
    assert Image.open(p).size[0] > 3 * 90
    with pytest.raises(ValueError, match="shape"):
        attention_heatmaps(img, ["one"], np.ones((2, 9)) / 9, 3, tmp_path / "b.png")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    import importlib.util
    from pathlib import Path

    from crossmedia.cli.main import main

    spec = importlib.util.spec_from_file_location("_tests_conftest", Path(__file__).parents[1] / "conftest.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)

    tmp = tmp_path_factory.mktemp("runs")
    tiny_dataset = conf.make_tiny_dataset(tmp / "tiny")
    a, b = tmp / "dafsn", tmp / "tt"
    assert main(["train", "--model", "dafsn", "--data", str(tiny_dataset.root), "--out", str(a), *SMALL]) == 0
    assert main(["train", "--model", "twotower", "--data", str(tiny_dataset.root), "--out", str(b), "--set",
                 "train.epochs=1", "--set", "model.cnn_channels=[4, 8, 8, 8]", "--set", "model.text_hidden=16"]) == 0
    return a, b, tiny_dataset


def test_visual_comparison_of_two_runs(tmp_path, two_runs):
    from crossmedia.explain import write_visual_comparison

    a, b, ds = two_runs
    qid = ds.items[int(ds.protocol("default")["query"][0])]["id"]
    out = tmp_path / "cmp"
    s = write_visual_comparison(a, b, ds.root, out, [qid, "a picture of red"], k=4, rerank=6)
    assert (out / "comparison.png").is_file() and json.loads((out / "explain.json").read_text())["k"] == 4
    assert len(s["attention_pngs"]) == 2  # the DAFSN run only (twotower has no word-region attention)
    assert all(Image.open(p).size[0] > 0 for p in s["attention_pngs"])
    q_item, q_red = s["queries"]
    Y = ds.labels
    qi = [it["id"] for it in ds.items].index(qid)
    for run in q_item["runs"]:
        assert [h["relevant"] for h in run["results"]] == [bool(Y[h["index"]] @ Y[qi] > 0) for h in run["results"]]
    red = ds.label_names.index("red")
    assert [h["relevant"] for h in q_red["runs"][0]["results"]] == [bool(Y[h["index"], red]) for h in q_red["runs"][0]["results"]]
    assert q_red["runs"][0]["query_labels"] == ["red"] and all(h["labels"] for h in q_red["runs"][0]["results"])
    assert q_item["runs"][0]["reranked"] and not q_item["runs"][1]["reranked"]


def test_cli_explain_and_its_errors(tmp_path, two_runs, capsys):
    from crossmedia.cli.main import main

    a, b, ds = two_runs
    out = tmp_path / "ex"
    assert main(["explain", str(a), "--data", str(ds.root), "--query", "green", "--out", str(out)]) == 0
    assert (out / "comparison.png").is_file() and "wrote" in capsys.readouterr().out
    assert main(["explain", str(tmp_path / "nope"), "--query", "green", "--out", str(tmp_path / "x")]) == 2
    assert "not a crossmedia run directory" in capsys.readouterr().err


def test_explain_refuses_what_search_refuses_and_leaves_nothing(tmp_path, two_runs, capsys):
    """One query parser: a query with no known word is the same one-line error as in `search`,
    and nothing is created."""
    from crossmedia.cli.main import main

    a, b, ds = two_runs
    out = tmp_path / "ex"
    assert main(["explain", str(a), "--data", str(ds.root), "--query", "green", "--query", "zzz qqq",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: query 'zzz qqq': none of its words is in the model's vocabulary") and "\n" not in err
    assert not out.exists()
    ix = tmp_path / "ix"
    assert main(["index", "build", "--run", str(b), "--out", str(ix)]) == 0
    capsys.readouterr()
    assert main(["search", str(ix), "--text", "zzz qqq"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: query 'zzz qqq': none of its words is in the model's vocabulary")
