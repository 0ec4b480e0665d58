"""``benchmarks/database_views.py``: each run's test mAP@all against the whole retrieval set, its
unseen items and its training items, grouped, with differences to the first group; bad input exits 2."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from crossmedia.config import resolve_config
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.train import train

    tmp_path = tmp_path_factory.mktemp("views")
    data = tmp_path / "scenes"
    make_synthetic_dataset(data, n=200, seed=0, image_size=24, n_query=20, n_train=100, n_val=10)
    for name, extra in (("twotower", ["model.text_hidden=16"]), ("dscmr", ["model.hidden=16"])):
        for seed in (0, 1):
            cfg = resolve_config(None, [f"model.name={name}", "model.bits=8", "train.epochs=1", "train.val_every=0",
                                        "train.batch_size=8", f"train.seed={seed}", "model.cnn_channels=[4,8,8,8]",
                                        *extra], data__root=str(data))
            train(cfg, tmp_path / "runs" / f"{name}-seed{seed}")
    return tmp_path / "runs"


def test_database_views_report_every_view_per_group(load_benchmark, runs, tmp_path):
    from crossmedia.eval import evaluate
    from crossmedia.eval.evaluator import load_for_evaluation

    bench = load_benchmark("database_views")
    out = tmp_path / "views"
    assert bench.main(["--group", f"t={runs}/twotower-seed*", "--group", f"d={runs}/dscmr-seed*", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["command"].startswith("python benchmarks/database_views.py --group") and "git_commit" in rep
    rows = {(r["group"], r["database"]): r for r in rep["rows"]}
    assert set(rows) == {(g, v) for g in "td" for v in ("retrieval", "unseen", "train")}
    assert [rows["t", v]["items"] for v in ("retrieval", "unseen", "train")] == [180, 70, 100]
    # each cell is the run's own evaluation of that database; the deltas are differences of means
    ck, rd = load_for_evaluation(runs / "dscmr-seed1")
    res = evaluate(ck.model, rd, ck.config, metrics=["map_all"], database="unseen")
    cell = rep["groups"]["d"][1]["views"]["unseen"]
    assert cell["image->text"] == pytest.approx(res["results"]["image->text"]["map_all"]["value"])
    for v in ("retrieval", "unseen", "train"):
        for d in ("image->text", "text->image"):
            vals = [r["views"][v][d] for r in rep["groups"]["d"]]
            assert rows["d", v][d]["mean"] == pytest.approx(np.mean(vals))
            want = rows["d", v][d]["mean"] - rows["t", v][d]["mean"]
            assert rows["d", v][f"{d} vs t"]["diff"] == pytest.approx(want)
            assert rows["t", v][f"{d} vs t"]["diff"] == 0
    md = out.with_suffix(".md").read_text()
    assert "| unseen | 70 |" in md and "`unseen` = the retrieval items outside train and val" in md
    from PIL import Image

    assert f"![mAP@all per group and database]({out.name}.png)" in md
    assert Image.open(out.with_suffix(".png")).format == "PNG"


def test_database_views_bad_input_exits_2(load_benchmark, runs, tmp_path, capsys):
    bench = load_benchmark("database_views")
    assert bench.main(["--group", "nothing", "--out", str(tmp_path / "x")]) == 2
    assert "expected NAME=GLOB" in capsys.readouterr().err
    assert bench.main(["--group", f"a={tmp_path}/none*", "--out", str(tmp_path / "x")]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert bench.main(["--group", f"a={runs}/twotower-seed0", "--group", f"a={runs}/dscmr-seed0",
                       "--out", str(tmp_path / "x")]) == 2
    assert "each NAME once" in capsys.readouterr().err
    assert not any((tmp_path / f"x{ext}").exists() for ext in (".json", ".md", ".png"))
