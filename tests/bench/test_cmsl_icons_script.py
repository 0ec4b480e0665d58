"""``benchmarks/bench_cmsl_icons.py``: the summary over seeds (mean, sample std, difference of each
variant to full CMSL) and the refusal of an unknown variant."""

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_cmsl_icons")


def _run(variant, seed, it, ti):
    return {"variant": variant, "seed": seed, "map_all": {"image->text": it, "text->image": ti}, "random_map": 0.13,
            "val_score": 0.3, "best_epoch": 5, "train_time_s": 10.0}


def test_summary_means_stds_and_differences_to_cmsl(bench):
    runs = [_run("cmsl", 0, 0.30, 0.28), _run("cmsl", 1, 0.32, 0.30), _run("cdq", 0, 0.25, 0.26),
            _run("cdq", 1, 0.27, 0.26), _run("no_local", 0, 0.29, 0.27)]
    agg = {a["variant"]: a for a in bench.summarise({"runs": runs})}
    assert [a["variant"] for a in bench.summarise({"runs": runs})] == ["cdq", "cmsl", "no_local"]  # VARIANTS order
    assert agg["cmsl"]["image->text"]["mean"] == pytest.approx(0.31)
    assert agg["cmsl"]["image->text"]["std"] == pytest.approx(0.0141421, abs=1e-6)  # sample std of 0.30, 0.32
    assert agg["no_local"]["text->image"]["std"] is None and agg["no_local"]["seeds"] == [0]
    state = {"aggregate": list(agg.values()), "runs": runs, "bits": 32, "protocol_name": "default",
             "dataset": {"name": "icons", "n_items": 10, "source_summary": {}}, "protocol": {"rule": "r"},
             "training": {"epochs": 2, "lr": 0.001, "batch_size": 64, "threads": 1},
             "machine": {"cores": 2, "cpu": "x", "loadavg_at_start": [1.0]}, "loadavg_end": 1.0,
             "git_commit": "abc", "created": "now", "command": "python benchmarks/bench_cmsl_icons.py"}
    md = bench.format_markdown(state)
    assert "| cdq | 0,1 | 0.2600 ± 0.0141 | 0.2600 ± 0.0000 | -0.0500 / -0.0300 |" in md
    assert "| no_local | 0 | 0.2900 | 0.2700 | -0.0200 / -0.0200 |" in md
    assert "| cmsl | 0,1 |" in md and "git abc" in md


def test_unknown_variant_is_a_one_line_error(bench, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert bench.main(["--data", str(tmp_path / "data"), "--variants", "cmsl,magic", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --variants") and "magic" in err[0]
    assert not list(tmp_path.glob("*.json"))
