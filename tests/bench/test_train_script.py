"""``benchmarks/bench_train.py`` part 2's table: each streaming row against the in-RAM row at the
reference (first) size and against the in-RAM row at its own size."""


def test_part2_ratios_against_the_reference_and_the_same_size(load_benchmark):
    bench = load_benchmark("bench_train")
    meta = {"batch_size": 64, "epochs": 2, "max_steps": 40, "workers": 1}
    rows = [{"n": 2000, "loader": "memory", "n_train": 1000, "samples": 960, "samples_s": 300.0, "peak_rss_mb": 700},
            {"n": 50000, "loader": "memory", "n_train": 25000, "samples": 2560, "samples_s": 250.0,
             "peak_rss_mb": 2300},
            {"n": 50000, "loader": "stream", "n_train": 25000, "samples": 2560, "samples_s": 240.0,
             "peak_rss_mb": 1300},
            {"n": 8000, "loader": "stream", "error": "timed out after 1800 s"}]
    lines = bench.part2_table(meta, rows)
    head = next(ln for ln in lines if ln.startswith("| scenes"))
    assert "in-RAM at 2000 scenes" in head and "same size" in head
    table = [ln for ln in lines if ln.startswith("| 50000 | stream")]
    assert table == ["| 50000 | stream | 25000 | 2560 | 240.0 | 1300 | 0.80 | 0.96 |"]
    assert any(ln.startswith("| 50000 | memory |") and ln.endswith("|  |  |") for ln in lines)
    assert any("error: timed out" in ln and ln.endswith("|  |  |") for ln in lines)
    assert "at most 40 batches per epoch" in " ".join(lines)


def test_repeated_rows_report_the_median_run(load_benchmark):
    bench = load_benchmark("bench_train")
    runs = [{"n_train": 25000, "samples_s": 250.0, "peak_rss_mb": 1300, "samples": 2560},
            {"error": "timed out after 1800 s"},
            {"n_train": 25000, "samples_s": 230.0, "peak_rss_mb": 1350, "samples": 2560},
            {"n_train": 25000, "samples_s": 270.0, "peak_rss_mb": 1320, "samples": 2560}]
    row = bench.median_run(runs)
    assert row["samples_s"] == 250.0 and row["samples_s_runs"] == [250.0, 230.0, 270.0]
    assert row["peak_rss_mb"] == 1350 and row["failed_runs"] == 1
    assert bench.median_run(runs[:1] + runs[2:3])["samples_s"] == 230.0  # even count: the lower middle run
    assert bench.median_run([runs[1]]) == runs[1]  # every run failed: the error
    meta = {"batch_size": 64, "epochs": 2, "max_steps": None, "workers": 1, "repeats": 3}
    lines = bench.part2_table(meta, [{"n": 2000, "loader": "memory", **row}])
    assert "measured 3 times" in " ".join(lines)
    assert any(ln.startswith("| 2000 | memory | 25000 | 2560 | 250.0 (250.0, 230.0, 270.0) | 1350 |") for ln in lines)


def test_ratios_within_each_rotation(load_benchmark):
    bench = load_benchmark("bench_train")
    meta = {"batch_size": 64, "epochs": 2, "max_steps": 40, "workers": 1, "repeats": 3}
    rows = [{"n": 2000, "loader": "memory", "n_train": 1000, "samples": 960, "samples_s": 200.0, "peak_rss_mb": 700,
             "samples_s_runs": [100.0, 200.0, 300.0]},
            {"n": 50000, "loader": "stream", "n_train": 25000, "samples": 2560, "samples_s": 180.0,
             "peak_rss_mb": 1300, "samples_s_runs": [90.0, 180.0, 150.0]}]
    line = next(ln for ln in bench.part2_table(meta, rows) if ln.startswith("| 50000"))
    assert "| 0.90 (per rotation 0.90, 0.90, 0.50; median 0.90) |" in line
    rows[1]["failed_runs"] = 1  # runs no longer line up with the rotations: no per-rotation ratios
    line = next(ln for ln in bench.part2_table(meta, rows) if ln.startswith("| 50000"))
    assert "per rotation" not in line and "| 0.90 |" in line


def test_part2_names_its_model_and_whether_its_step_grows_with_n(load_benchmark):
    bench = load_benchmark("bench_train")
    rows = [{"n": 2000, "loader": "memory", "n_train": 1000, "samples": 960, "samples_s": 300.0, "peak_rss_mb": 700}]
    base = {"batch_size": 64, "epochs": 2, "workers": 1}
    text = " ".join(bench.part2_table({**base, "datapath_model": "dscmr"}, rows))
    assert "(dscmr, pixels)" in text and "does not depend on N" in text
    text = " ".join(bench.part2_table(base, rows))  # older results: twotower
    assert "(twotower, pixels)" in text and "grows with N" in text
