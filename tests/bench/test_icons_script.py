"""``benchmarks/icons.py`` resumes without redoing finished work: kept data when its recorded
source matches, regenerated data (and a discarded partial extraction) when it does not, bench
folders keyed by the data's fingerprint, and progress lines that count finished cells over the
whole plan with an estimate of the time left."""

import json
from argparse import Namespace
from pathlib import Path

import pytest

from emoji_packages import write_packages


@pytest.fixture
def icons(load_benchmark):
    return load_benchmark("icons")


def _fake_extract(calls):
    def extract(root, out, **kw):  # stands in for EfficientNet-Lite0: marks the dataset as having features
        calls.append(Path(root).name)
        p = Path(root) / "dataset.json"
        meta = json.loads(p.read_text(encoding="utf-8"))
        meta["features"] = {"global": "none.npy", "regions": "none.npy"}
        p.write_text(json.dumps(meta), encoding="utf-8")
    return extract


def test_data_kept_or_regenerated_and_bench_folder_keyed_by_source(tmp_path, icons, monkeypatch):
    import crossmedia.data.icon_scenes as S
    import crossmedia.features.extract as X

    calls = []
    monkeypatch.setattr(X, "extract_features", _fake_extract(calls))
    args = Namespace(src=str(write_packages(tmp_path / "npm")), work=str(tmp_path / "work"), parts=["scenes"],
                     threads=1, models=["twotower", "cmsl"])
    size = {"scenes": 24, "seeds": 2, "epochs": 1}
    roots = icons.build_data(args, size)
    first = icons.fingerprint(roots["scenes"])
    stamp = (roots["scenes"] / "items.jsonl").stat().st_mtime_ns
    assert calls == ["data-scenes"]
    icons.build_data(args, size)  # same source: nothing redone
    assert calls == ["data-scenes"] and (roots["scenes"] / "items.jsonl").stat().st_mtime_ns == stamp
    partial = tmp_path / "work" / ".feats-scenes.partial"
    partial.mkdir()
    monkeypatch.setattr(S, "GENERATOR_VERSION", 99)  # another generator: data, features and cells are not reused
    icons.build_data(args, size)
    assert calls == ["data-scenes", "data-scenes"] and not partial.exists()
    assert icons.fingerprint(roots["scenes"]) != first
    assert icons.bench_dir(args, "scenes", "default", roots["scenes"]).name == f"bench-scenes-default-{icons.fingerprint(roots['scenes'])}"


def test_progress_counts_finished_cells_and_estimates_the_rest(tmp_path, icons, monkeypatch):
    monkeypatch.setattr(icons, "fingerprint", lambda root: "abcd1234")
    args = Namespace(work=str(tmp_path), parts=["scenes", "icons"], models=["twotower", "cmsl"])
    roots = {"scenes": tmp_path / "data-scenes", "icons": tmp_path / "data-icons"}
    tr = icons.Tracker(args, {"seeds": 2}, roots)
    assert len(tr.items) == 3 * 2 * 2  # (scenes: 2 protocols + icons: 1) x 2 seeds x 2 models
    assert tr.line().startswith("0/12 cells done") and "12 cell(s) of models not timed yet" in tr.line()

    def finish(part, protocol, cid, train_s, eval_s):
        p = tmp_path / f"bench-{part}-{protocol}-abcd1234" / "cells" / f"{cid}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"train_time_s": train_s, "codes": {"native": {"eval_wall_s": eval_s}}}))

    finish("scenes", "default", "twotower-32b-seed0", 8.0, 2.0)
    finish("scenes", "default", "cmsl-32b-seed0", 290.0, 10.0)
    line = tr.line()
    # left: scenes twotower x3 (10 s) + cmsl x3 (300 s) and icons x2 each (per-model means: same) = 5 x 10 + 5 x 300
    assert line.startswith("2/12 cells done (2 this session)") and "about 25m50s left" in line
    assert "not timed" not in line
    seen = []
    monkeypatch.setattr(icons, "log", seen.append)
    tr.echo("twotower-32b-seed1: i->t 0.2  t->i 0.2  (9 s)")
    tr.echo("# table\n| a |")
    assert len(seen) == 1 and "2/12 cells done" in seen[0]


def test_oracle_on_noise_free_keywords_beside_the_user_tags(tmp_path, icons):
    """On icon scenes the oracle ranks by the noise-free keywords (``true_tags``), above the
    overlap of the users' noisy tags; the single-icon set (no ``true_tags``) has no such field and
    the table then shows one oracle row on its tags."""
    from crossmedia.data.icon_scenes import SceneParams, make_icon_scenes

    root = tmp_path / "scenes"
    make_icon_scenes(str(write_packages(tmp_path / "npm")), root, SceneParams(n=60, seed=0), overwrite=True)
    tags = icons.oracle(root, "default", "index", "tags")
    clean = icons.oracle(root, "default", "index", "true_tags")
    assert tags["field"] == "tags" and clean["field"] == "true_tags"
    assert clean["map_all"] > tags["map_all"]
    assert icons.oracle(root, "default", "index", "no_such_field") is None
    part = {"oracle": clean, "tag_overlap": tags}
    rows = icons._reference_rows(part)
    assert rows[0].startswith("| tag overlap (user tags) |") and rows[1].startswith("| oracle: overlap of noise-free keywords |")
    assert icons._reference_rows({"oracle": tags, "tag_overlap": tags}) == [
        f"| oracle: overlap of tags | – | {tags['map_all']:.4f} | {tags['map_all']:.4f} | – | – |"]


def test_markdown_lists_real_valued_models_at_four_bytes_beside_their_native_rows(load_benchmark):
    """A real-valued model's composite-quantized outputs (4 bytes) get their own table, with the
    bytes per item of every row; the spread stays the native rows'."""
    icons = load_benchmark("icons")

    def row(model, codes, nbytes, a, b):
        stat = lambda v: {"mean": v, "std": 0.001, "n": 3, "values": [v] * 3}  # noqa: E731
        return {"model": model, "codes": codes, "seeds": [0, 1, 2], "code_bytes_per_item": nbytes,
                "train_time_s": stat(10.0), "image->text": stat(a), "text->image": stat(b)}

    part = {"part": "scenes", "protocol": "default", "dataset": "d", "queries": {"count": 6},
            "database": {"count": 54}, "protocol_summary": {"rule": "r"}, "random_ranking": 0.1,
            "tag_overlap": None, "oracle": {"map_all": 0.5, "field": "tags"},
            "rows": [row("cmsl", "native", 4.0, 0.35, 0.32), row("dscmr", "native", 128.0, 0.36, 0.33)],
            "rows_cq": [row("dscmr", "cq", 4.0, 0.3456, 0.3123)], "convention": {"tie": "index"},
            "spread_best_worst": 0.01, "models_reaching_oracle": []}
    report = {"size": "full", "sizes": {}, "parts": [part], "wall_time_s_all_sessions": 1.0, "wall_time_s": 1.0,
              "sessions": [{}], "machine": {"cores": 2, "cpu": "x", "loadavg_at_start": [0]}, "threads": 2,
              "loadavg_end": 0, "git_commit": "g", "created": "t", "command": "c"}
    md = icons.markdown(report)
    assert "| dscmr | 128 | 0.3600 ± 0.0010 | 0.3300 ± 0.0010 | 3 | 10 |" in md
    assert "| dscmr (cq) | 4 | 0.3456 ± 0.0010 | 0.3123 ± 0.0010 | 3 | 10 |" in md
    assert md.index("| dscmr (cq) |") > md.index("same 4 bytes per item")
    part["rows_cq"] = []
    assert "(cq)" not in icons.markdown(report)


def test_captions_part_reads_the_scenes_data_with_the_caption_field(tmp_path, icons, monkeypatch):
    import crossmedia.bench as B
    import crossmedia.features.extract as X

    calls = []
    monkeypatch.setattr(X, "extract_features", _fake_extract(calls))
    args = Namespace(src=str(write_packages(tmp_path / "npm")), work=str(tmp_path / "work"),
                     parts=["scenes-captions", "scenes"], threads=1, models=["twotower"], code_commit=None)
    roots = icons.build_data(args, {"scenes": 24, "seeds": 1, "epochs": 1})
    assert roots["scenes-captions"] == roots["scenes"] and calls == ["data-scenes"]  # generated once
    assert not (tmp_path / "work" / "data-scenes-captions").exists()
    seen = {}

    def fake_bench(root, models, bits, seeds, out, overrides, **kw):
        seen[Path(out).name] = overrides
        raise RuntimeError("stop")

    monkeypatch.setattr(B, "run_quality_bench", fake_bench)
    for part in ("scenes-captions", "scenes"):
        with pytest.raises(RuntimeError):
            icons.run_part(args, part, roots[part], "default", {"epochs": 1, "seeds": 1}, Namespace(echo=print))
    fp = icons.fingerprint(roots["scenes"])
    assert "data.text_field=caption" in seen[f"bench-scenes-captions-default-{fp}"]
    assert "data.text_field=tags" in seen[f"bench-scenes-default-{fp}"]
