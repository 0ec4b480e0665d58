"""``benchmarks/icons.py`` resumes without redoing finished work: kept data when its recorded
source matches, regenerated data (and a discarded partial extraction) when it does not, bench
folders keyed by the data's fingerprint, and progress lines that count finished cells over the
whole plan with an estimate of the time left."""

import json
import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from emoji_packages import write_packages  # noqa: E402


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
        f"| oracle: overlap of tags | {tags['map_all']:.4f} | {tags['map_all']:.4f} | – | – |"]
