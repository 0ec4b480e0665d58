"""``benchmarks/bench_wordvec_lookup.py``: the index and the full read of a word-vector text file
side by side on a generated file, their vectors checked equal, the ratio written; bad arguments
exit 2."""

import json

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_wordvec_lookup")


def test_small_file_writes_both_paths_and_their_ratio(bench, tmp_path, capsys):
    out = tmp_path / "res" / "wordvec-lookup"
    assert bench.main(["--words", "2000", "--dim", "8", "--repeats", "2", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["words"] == 2000 and rep["reference_s"] > 0 and rep["index_s"] > 0
    assert rep["speedup"] == pytest.approx(rep["reference_s"] / rep["index_s"])
    md = out.with_suffix(".md").read_text()
    assert "2,000 words × 8 values" in md and "faster" in md and rep["git_commit"] in md


def test_generated_file_is_glove_format(bench, tmp_path):
    from crossmedia.data.wordvec import lookup_vectors

    p = tmp_path / "v.txt"
    bench.write_vectors(p, 12_345, 3, seed=1)
    lines = p.read_text().splitlines()
    assert len(lines) == 12_345 and lines[12_344].startswith("w12344 ") and len(lines[5].split()) == 4
    table, dim, _ = lookup_vectors(p, {"w0", "w12344"})
    assert dim == 3 and table.keys() == {"w0", "w12344"}


@pytest.mark.parametrize("argv", [["--words", "10"], ["--dim", "0"], ["--per-query", "99"], ["--repeats", "0"]])
def test_bad_arguments_exit_2(bench, argv, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(argv)
    assert e.value.code == 2
