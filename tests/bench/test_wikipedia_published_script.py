"""``benchmarks/wikipedia_published.py``: the re-implemented closed-form rows chosen on val,
the learned rows read from a quality results file, and one-line refusals of a mismatched file."""

import json

import numpy as np
import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("wikipedia_published")


@pytest.fixture
def wiki(prepared_wikipedia):
    """A prepared Wikipedia-style dataset whose two views share a category signal."""
    return prepared_wikipedia(n_train=90, n_test=30, n_cat=3, dim_i=12, dim_t=10, n_val=15)


def _quality(path, root, rule=None):
    from crossmedia.data import Dataset

    ds = Dataset.load(root)
    row = {"model": "cmsl", "bits": 32, "codes": "native", "code_bytes_per_item": 4.0, "seeds": [0, 1, 2],
           "image->text": {"mean": 0.5, "std": 0.01}, "text->image": {"mean": 0.4, "std": 0.02}}
    path.write_text(json.dumps({"dataset": {"name": ds.name}, "rows": [row], "random_ranking": 0.33,
                                "protocol": {"rule": rule or ds.protocol("default").summary()["rule"]}}))
    return path


def test_rows_and_files(tmp_path, bench, wiki):
    out = tmp_path / "res" / "wikipedia-published"
    assert bench.main(["--data", str(wiki), "--quality", str(_quality(tmp_path / "q.json", wiki)), "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [r["method"] for r in rep["reimplemented"]] == ["cca", "scm"]
    for r in rep["reimplemented"]:
        # the chosen setting is the best on val among those tried, and the test scores are far above
        # chance on data whose views share the category
        assert r["settings_tried"] == len(bench.GRID[r["method"]]["distance"]) * int(np.prod(
            [len(v) for k, v in bench.GRID[r["method"]].items() if k != "distance"]))
        assert min(r["test"].values()) > 0.6
        assert r["bytes_per_item"] == 4 * r["setting"]["dim"]
    assert rep["learned"][0]["model"] == "cmsl" and rep["learned"][0]["bytes_per_item"] == 4.0
    assert rep["published"]["SCM"]["image->text"] == 0.3501
    md = out.with_suffix(".md").read_text()
    assert "| cmsl 32 bits | 4 | 0.5000 ± 0.0100 | 0.4000 ± 0.0200 |" in md
    assert rep["git_commit"] and rep["command"].startswith("python benchmarks/wikipedia_published.py")


def test_selection_never_sees_the_test_pairs(tmp_path, bench, wiki, monkeypatch):
    seen = []
    real = bench.map_both

    def spy(zi, zt, labels):
        seen.append(len(labels))
        return real(zi, zt, labels)

    monkeypatch.setattr(bench, "map_both", spy)
    from crossmedia.data import Dataset

    proto = Dataset.load(wiki).protocol("default")
    splits = {s: np.asarray(proto[s]) for s in ("train", "val", "query")}
    ds = Dataset.load(wiki)
    bench.select_and_test("cca", np.asarray(ds.features("global"), float), np.asarray(ds.features("text"), float),
                          np.asarray(ds.labels), splits)
    assert seen[:-1] == [len(splits["val"])] * (len(seen) - 1) and seen[-1] == len(splits["query"])


def test_mismatched_or_missing_quality_file_is_refused(tmp_path, bench, wiki, capsys):
    out = tmp_path / "res" / "wp"
    assert bench.main(["--data", str(wiki), "--quality", str(tmp_path / "nope.json"), "--out", str(out)]) == 2
    assert "expected a `crossmedia bench quality` results file" in capsys.readouterr().err
    q = _quality(tmp_path / "q.json", wiki, rule="some other split")
    assert bench.main(["--data", str(wiki), "--quality", str(q), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not this Wikipedia release's default protocol" in err
    assert not out.parent.exists()
