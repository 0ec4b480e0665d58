"""``benchmarks/bench_word_region.py``: both forms of DAFSN's all-pairs score timed side by side
at a query shape and a training shape, checked equal, ratios written; bad sizes exit 2."""

import json

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_word_region")


def test_small_shapes_write_both_forms_their_ratio_and_the_form_auto_takes(bench, tmp_path):
    out = tmp_path / "res" / "word-region"
    assert bench.main(["--regions", "9", "--dim", "32", "--words", "5", "--images", "40", "--batch", "8",
                       "--repeats", "2", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    q, b = rep["shapes"]["one query text"], rep["shapes"]["training batch"]
    assert (q["images"], q["texts"], b["images"], b["texts"]) == (40, 1, 8, 8)
    for r in (q, b):
        assert r["max_abs_difference"] < 1e-5 and r["ratio_to_gram"]["gram"] == 1.0
        assert r["ratio_to_gram"]["explicit"] == pytest.approx(r["ms"]["explicit"] / r["ms"]["gram"])
        cost = r["products_per_image"]
        assert r["auto_takes"] == ("gram" if cost["gram"] < cost["explicit"] else "explicit")
    # one text: building the contexts is the cheaper form (9·32 < 81·32 + 5·81 products per image)
    assert q["auto_takes"] == "explicit"
    md = out.with_suffix(".md").read_text()
    assert "| one query text | 40 × 1 |" in md and rep["git_commit"] in md


def test_sizes_out_of_range_exit_2(bench, tmp_path):
    with pytest.raises(SystemExit) as e:
        bench.main(["--regions", "0", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    assert not (tmp_path / "x.json").exists()
