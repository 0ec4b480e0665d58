"""``benchmarks/bench_cmsl_expansion.py``: expansion precision/recall against the icon scenes'
noise-free keywords, one cell per (protocol, setting, seed), resumable, with a one-line error
for data without ``true_tags``."""

import json

import pytest

from emoji_packages import write_packages


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_cmsl_expansion")


@pytest.mark.slow
def test_cells_summary_and_resume(tmp_path, bench, monkeypatch):
    from crossmedia.data.icon_scenes import SceneParams, make_icon_scenes

    data = tmp_path / "scenes"
    make_icon_scenes(str(write_packages(tmp_path / "npm")), data, SceneParams(n=80, seed=0), overwrite=True)
    argv = ["--data", str(data), "--protocols", "default", "--seeds", "0,1", "--image-source", "pixels",
            "--settings", "image_cooccurrence,word_cooccurrence", "--out", str(tmp_path / "out")]
    assert bench.main(argv) == 0
    state = json.loads((tmp_path / "out" / "cmsl_expansion.json").read_text())
    assert len(state["cells"]) == 4 and {c["seed"] for c in state["cells"]} == {0, 1}
    for c in state["cells"]:
        assert 0.0 <= c["precision"] <= 1.0 and 0.0 <= c["recall"] <= 1.0 and 0.0 < c["chance"] < 1.0
        assert c["added"] > 0
    rows = {r["setting"]: r for r in state["rows"]}
    assert rows["image_cooccurrence"]["texts"] > rows["word_cooccurrence"]["texts"]  # training vs query scenes
    md = (tmp_path / "out" / "cmsl_expansion.md").read_text()
    assert "| image level, image–word walk co-occurrence |" in md and "git " in md
    # a second run finds every cell done and measures nothing
    monkeypatch.setattr(bench, "measure", lambda *a, **k: pytest.fail("a finished cell was measured again"))
    assert bench.main(argv) == 0
    # --split val: the word level expands the val scenes' texts, in a results file of its own
    monkeypatch.undo()
    val = ["--data", str(data), "--protocols", "default", "--seeds", "0", "--image-source", "pixels",
           "--settings", "word_cooccurrence", "--split", "val", "--out", str(tmp_path / "out"), "--name", "sel"]
    assert bench.main(val) == 0
    sel = json.loads((tmp_path / "out" / "sel.json").read_text())
    from crossmedia.data import Dataset

    n_val = len(Dataset.load(data).protocol("default")["val"])
    assert sel["split"] == "val" and sel["cells"][0]["split"] == "val" and sel["cells"][0]["texts"] == n_val
    assert n_val != rows["word_cooccurrence"]["texts"]
    assert "| word level (val texts)" in (tmp_path / "out" / "sel.md").read_text()


def test_summary_over_seeds(bench):
    cells = [{"protocol": "default", "setting": "word_svd", "seed": s, "texts": 10, "precision": p, "recall": 0.1,
              "chance": 0.01, "added": 30, "setup_s": 1.0} for s, p in ((0, 0.2), (1, 0.4))]
    (row,) = bench.summarize(cells)
    assert row["precision"]["mean"] == pytest.approx(0.3) and row["precision"]["std"] == pytest.approx(0.141421, abs=1e-6)
    assert row["seeds"] == [0, 1]


def test_data_without_true_tags_is_refused(bench, tiny_dataset, tmp_path):
    with pytest.raises(SystemExit, match="true_tags"):
        bench.measure(tiny_dataset.root, "default", "word_cooccurrence", 0, 3, "pixels")
    with pytest.raises(SystemExit):
        bench.parse_args(["--data", "x", "--settings", "magic"])


def test_main_refuses_data_without_true_tags_with_exit_2(bench, tiny_dataset, tmp_path, capsys):
    assert bench.main(["--data", str(tiny_dataset.root), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "true_tags" in err[0]
    assert not list(tmp_path.glob("cmsl_expansion.*"))
