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
