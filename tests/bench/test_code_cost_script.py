"""``benchmarks/code_cost.py``: each run's test mAP@all in its native codes, its float outputs and
(real-valued models) composite codes, grouped with the difference to float; bad groups exit 2."""

import json

import pytest


@pytest.mark.slow
def test_code_cost_reports_every_view_against_float(load_benchmark, tmp_path):
    from crossmedia.config import resolve_config
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.train import train

    bench = load_benchmark("code_cost")
    data = tmp_path / "scenes"  # 150 training items: the cq view fits 256 codewords on 300 outputs
    make_synthetic_dataset(data, n=300, seed=0, image_size=24, n_query=30, n_train=150, n_val=15)
    for name, extra in (("cmsl", ["model.local.enabled=false", "model.quant.warmup_epochs=0"]), ("dscmr", ["model.hidden=16"])):
        for seed in (0, 1):
            cfg = resolve_config(None, [f"model.name={name}", "model.bits=8", "train.epochs=1", "train.val_every=0",
                                        "train.batch_size=8", f"train.seed={seed}", *extra],
                                 data__root=str(data))
            train(cfg, tmp_path / "runs" / f"{name}-seed{seed}")
    out = tmp_path / "cost"
    assert bench.main(["--group", f"q={tmp_path}/runs/cmsl-seed*", "--group", f"r={tmp_path}/runs/dscmr-seed*",
                       "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["command"].startswith("python benchmarks/code_cost.py --group") and "git_commit" in rep
    rows = {(r["group"], r["view"]): r for r in rep["rows"]}
    assert set(rows) == {(g, v) for g in "qr" for v in ("native", "float", "cq")}
    assert rows["q", "native"]["seeds"] == [0, 1] and rows["q", "native"]["code_bytes_per_item"] == 1
    assert rows["q", "cq"]["code_bytes_per_item"] == rows["r", "cq"]["code_bytes_per_item"] == 1
    assert rows["r", "native"]["code_bytes_per_item"] == rows["r", "float"]["code_bytes_per_item"] == 4 * 8
    for d in ("image->text", "text->image"):
        # dscmr's native codec is its float one: no cost; every delta is the per-run difference's mean
        assert rows["r", "native"][f"{d} vs float"]["mean"] == 0
        runs = rep["groups"]["q"]
        want = sum(r["views"]["native"][d] - r["views"]["float"][d] for r in runs) / len(runs)
        assert rows["q", "native"][f"{d} vs float"]["mean"] == pytest.approx(want)
        assert 0 < rows["q", "float"][d]["mean"] <= 1
    md = out.with_suffix(".md").read_text()
    assert "| q | cmsl | 8 | native | 1 |" in md
    # the composite database's per-modality description: CMSL's own codes only
    assert all(r["database"] is None for r in rep["groups"]["r"])
    for r in rep["groups"]["q"]:
        for mod in ("image", "text"):
            d = r["database"][mod]
            assert d["items"] == 270 and 1 <= d["distinct_codes"] <= d["distinct_outputs"] <= d["items"]
            assert d["mean_norm"] > 0 and d["rel_sq_error"] >= 0
            assert f"| q | {r['seed']} | {mod} | {d['mean_norm']:.3f} |" in md
    assert "Test database: the protocol's retrieval set (270 items)." in md
    # the same runs against the retrieval items never seen in training
    unseen = tmp_path / "cost-unseen"
    assert bench.main(["--group", f"q={tmp_path}/runs/cmsl-seed*", "--database", "unseen", "--out", str(unseen)]) == 0
    rep = json.loads(unseen.with_suffix(".json").read_text())
    assert rep["database"] == "unseen"
    for r in rep["groups"]["q"]:
        assert r["database_view"]["view"] == "unseen" and r["database"]["image"]["items"] == 270 - 150 - 15
    assert "Test database: the retrieval items outside train and val" in unseen.with_suffix(".md").read_text()


def test_code_cost_bad_groups_exit_2(load_benchmark, tmp_path, capsys):
    bench = load_benchmark("code_cost")
    assert bench.main(["--group", "nothing", "--out", str(tmp_path / "x")]) == 2
    assert "expected NAME=GLOB" in capsys.readouterr().err
    assert bench.main(["--group", f"a={tmp_path}/none*", "--out", str(tmp_path / "x")]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
