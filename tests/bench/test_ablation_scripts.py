"""What ``benchmarks/bench_cmsl_ablation.py`` and ``benchmarks/bench_dafsn_ablation.py`` share: a
folder that is not a dataset, an unknown variant or a bad seed list exits 2 in one line naming the
option, leaving nothing behind."""

import pytest

SCRIPTS = {"bench_cmsl_ablation": "cmsl", "bench_dafsn_ablation": "label_nodisc"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_folder_that_is_not_a_dataset_exits_2(tmp_path, load_benchmark, capsys, script):
    out = tmp_path / "res"
    assert load_benchmark(script).main(["--data", str(tmp_path), "--out", str(out), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{script}: --data:") and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("option, value, msg", [("--variants", "{ok},nope", "--variants: unknown variant 'nope'"),
                                                ("--seeds", "0,x", "--seeds: expected comma-separated integers")])
def test_bad_variants_or_seeds_exit_2(tmp_path, load_benchmark, capsys, script, option, value, msg):
    out = tmp_path / "res"
    argv = ["--out", str(out), "--work", str(tmp_path / "w"), option, value.format(ok=SCRIPTS[script])]
    assert load_benchmark(script).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{script}: {msg}") and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "w").exists()


def test_bad_bits_exit_2(tmp_path, load_benchmark, capsys):
    out = tmp_path / "res"
    assert load_benchmark("bench_cmsl_ablation").main(["--out", str(out), "--bits", "32,"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_cmsl_ablation: --bits: expected comma-separated integers") and err.count("\n") == 1
    assert not out.exists()
