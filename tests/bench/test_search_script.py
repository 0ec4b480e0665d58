"""``benchmarks/bench_search.py``: the rerank part's queries use the text field the run was
trained on (tags are joined into one query string)."""

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_search")


def test_rerank_queries_use_the_runs_text_field(tmp_path, bench):
    (tmp_path / "config.yaml").write_text("data:\n  text_field: tags\nmodel:\n  name: cmsl\n")
    assert bench.run_text_field(tmp_path) == "tags"
    (tmp_path / "config.yaml").write_text("model:\n  name: cmsl\n")
    assert bench.run_text_field(tmp_path) == "caption"
    assert bench._as_text(["sheaf of rice", "dog"]) == "sheaf of rice dog"
    assert bench._as_text("a dog") == "a dog" and bench._as_text(None) == ""


def test_rerank_part_rotates_the_timed_rows_and_reranking_everything_is_the_full_ranking(tmp_path, bench):
    import argparse

    from crossmedia.config import resolve_config
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.train import train

    data = tmp_path / "data"
    make_synthetic_dataset(data, n=80, seed=0, image_size=24)
    run = tmp_path / "run"
    sets = ["model.name=cmsl", "model.bits=16", "model.K=256", "model.global_dim=8", "model.cnn_channels=[4, 8, 8, 8]",
            "model.image_hidden=16", "model.text_hidden=16", "model.graph.dim=8", "model.graph.walks_per_node=2",
            "model.graph.walk_length=10", "model.graph.knn=3", "model.graph.epochs=1", "model.local.dim=8",
            "model.local.out_dim=4", "model.quant.kmeans_iters=3", "train.batch_size=32", "train.epochs=1",
            "train.val_every=0", "train.threads=1"]
    train(resolve_config(None, sets, data__root=str(data)), run)
    from crossmedia.data import Dataset

    n_db = len(Dataset.load(data).protocol()["retrieval"])
    args = argparse.Namespace(rerank_run=str(run), rerank_data=str(data), rerank_db=None, rerank_queries=6,
                              rerank_repeats=3, rerank_n=[3, n_db], cache=str(tmp_path / "cache"))
    res = bench.rerank_part(args)
    assert res["rotations"] == 3 and res["n_db"] == n_db
    for r in [res["first_stage"], res["full_fine"], *res["two_stage"]]:
        each = r["cost_vs_full_each_rotation"]
        assert len(each) == 3 and len(r["ms_per_query_each_rotation"]) == 3
        assert r["cost_vs_full"] == pytest.approx(sorted(each)[1])  # the median of the rotations' ratios
    assert res["full_fine"]["cost_vs_full"] == pytest.approx(1.0)
    every = res["two_stage"][1]
    assert every["N"] == n_db  # reranking every item is exhaustive fine-grained search: the same ranking
    for m in res["measures"]:
        assert every[m] == pytest.approx(res["full_fine"][m], abs=1e-9)
    out = tmp_path / "report"
    bench.write_report(out, {"machine": {"cpu": "x", "cores": 2, "loadavg_at_start": [0, 0, 0]}, "git_commit": "g",
                             "args": {"seed": 0}}, [], res)
    text = out.with_suffix(".md").read_text()
    assert "in rotation 3 times" in text and "(cmsl, text->image" in text and res["model"] == "cmsl"
    # one epoch without validation: the checkpoint predates the codebooks, so the first stage is float inner products
    assert (res["first_stage_codec"], res["first_stage_engine"]) == ("float_ip", "float")
    assert f"| float inner product top-{n_db} + rerank |" in text
    old = {k: v for k, v in res.items() if k not in ("model", "first_stage_codec", "first_stage_engine")}
    bench.write_report(out, {"machine": {"cpu": "x", "cores": 2, "loadavg_at_start": [0, 0, 0]}, "git_commit": "g",
                             "args": {"seed": 0}}, [], old)  # files from before these were recorded: CMSL, AQD
    assert f"| AQD top-{n_db} + rerank |" in out.with_suffix(".md").read_text()
    # a DAFSN run's first stage is its float cosine, and the report names it so
    bench.write_report(out, {"machine": {"cpu": "x", "cores": 2, "loadavg_at_start": [0, 0, 0]}, "git_commit": "g",
                             "args": {"seed": 0}}, [], {**res, "model": "dafsn", "first_stage_codec": "float_cosine"})
    text = out.with_suffix(".md").read_text()
    assert "| first stage (float cosine) |" in text and f"float cosine top-{n_db} + rerank" in text
    assert "AQD" not in text.split("## Two-stage rerank")[1]
