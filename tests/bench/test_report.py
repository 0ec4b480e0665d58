"""``crossmedia.bench.report``: a script's results with their provenance (``write_report``), its run groups (``run_group``)."""

import json
import shlex

import pytest

from crossmedia.bench.report import write_report


def test_write_report_records_provenance_and_a_rerunnable_command(tmp_path, capsys):
    argv = ["--group", "CMSL lw 0.3=/runs/a b/*", "--out", str(tmp_path / "r")]
    rep = write_report(tmp_path / "r", {"rows": [1, 2]}, lambda r: f"# rows {r['rows']}\n",
                       script="benchmarks/x.py", argv=argv, root=tmp_path)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved == rep and saved["rows"] == [1, 2]
    assert {"git_commit", "machine", "finished", "command"} <= set(saved)
    assert shlex.split(saved["command"]) == ["python", "benchmarks/x.py", *argv]  # spaces and globs survive
    assert (tmp_path / "r.md").read_text() == "# rows [1, 2]\n" and "# rows" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # no temporary files left


def test_output_path_keeps_dots_in_the_name(tmp_path):
    from crossmedia.bench.report import output_path

    assert output_path(tmp_path / "cmsl_lw0.3_ablation", ".md") == tmp_path / "cmsl_lw0.3_ablation.md"
    assert output_path("r/x", ".json").as_posix() == "r/x.json"
    assert output_path("r/x.md", ".json").as_posix() == "r/x.json"  # a given results extension is replaced
    write_report(tmp_path / "a0.3", {}, lambda r: "x\n", script="s.py", argv=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0.3.json", "a0.3.md"]


def test_run_group_matches_run_directories_only(tmp_path):
    from crossmedia.bench.report import run_group

    for name in ("a-seed0", "a-seed1", "a-notes"):
        (tmp_path / name).mkdir()
    for name in ("a-seed1", "a-seed0"):
        (tmp_path / name / "config.yaml").write_text("model: {}\n")
    name, runs = run_group(f"my group={tmp_path}/a-*")
    assert name == "my group" and runs == [tmp_path / "a-seed0", tmp_path / "a-seed1"]  # sorted, folders with a config
    for bad, msg in (("nogroup", "expected NAME=GLOB"), ("=x*", "expected NAME=GLOB"), ("n=", "expected NAME=GLOB"),
                     (f"n={tmp_path}/b-*", "no run directory")):
        with pytest.raises(ValueError, match=msg):
            run_group(bad)
    from crossmedia.bench.report import run_groups

    assert [n for n, _ in run_groups([f"b={tmp_path}/a-seed1", f"a={tmp_path}/a-*"])] == ["b", "a"]
    with pytest.raises(ValueError, match="each NAME once"):
        run_groups([f"a={tmp_path}/a-seed1", f"a={tmp_path}/a-*"])


def test_pooled_std_needs_both_spreads():
    from crossmedia.bench.report import pooled_std

    assert pooled_std(0.003, 0.004) == pytest.approx(((0.003 ** 2 + 0.004 ** 2) / 2) ** 0.5)
    assert pooled_std(None, 0.004) is None and pooled_std(0.003, None) is None


def test_merge_runs_adds_what_another_process_wrote_and_keeps_its_own(tmp_path):
    from crossmedia.bench.report import merge_runs

    path = tmp_path / "r.json"
    key = lambda r: (r["v"], r["seed"])  # noqa: E731
    assert merge_runs(path, [{"v": "b", "seed": 1, "x": 1}], key) == [{"v": "b", "seed": 1, "x": 1}]
    path.write_text(json.dumps({"runs": [{"v": "b", "seed": 1, "x": 0}, {"v": "a", "seed": 2, "x": 0}]}))
    assert merge_runs(path, [{"v": "b", "seed": 1, "x": 1}], key) == [{"v": "a", "seed": 2, "x": 0},
                                                                       {"v": "b", "seed": 1, "x": 1}]


def test_int_list_names_the_option_and_the_value():
    from crossmedia.bench.report import int_list

    assert int_list("0,1,2", "--seeds") == [0, 1, 2]
    with pytest.raises(ValueError, match=r"^--bits: expected comma-separated integers, got '32,'$"):
        int_list("32,", "--bits")
