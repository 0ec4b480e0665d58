import json

import numpy as np
import pytest

from crossmedia.data import Dataset
from crossmedia.data.make_synth import generator_params, make_synthetic_dataset, matches
from crossmedia.errors import UserError


def test_writes_valid_dataset_and_is_prefix_stable(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", n=40, seed=5)
    b = make_synthetic_dataset(tmp_path / "b", n=60, seed=5)
    assert len(a) == 40 and len(b) == 60 and a.n_labels == 48
    assert a.items == b.items[:40]
    assert (a.root / "images/000007.png").read_bytes() == (b.root / "images/000007.png").read_bytes()
    p = a.protocol()
    assert p.counts == {"train": 20, "val": 2, "query": 4, "retrieval": 36}
    it = a.items[0]
    assert {"id", "image", "caption", "tags", "true_tags", "labels", "objects"} <= set(it)
    assert matches(a.root, generator_params(40, 5, 0.4, 0.2, 72))
    assert not matches(a.root, generator_params(40, 6, 0.4, 0.2, 72))


def test_same_seed_identical_different_seed_differs(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", n=25, seed=1)
    b = make_synthetic_dataset(tmp_path / "b", n=25, seed=1)
    c = make_synthetic_dataset(tmp_path / "c", n=25, seed=2)
    assert (a.root / "items.jsonl").read_text() == (b.root / "items.jsonl").read_text()
    assert (a.root / "protocols/default.json").read_text() == (b.root / "protocols/default.json").read_text()
    assert a.items != c.items


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    from crossmedia.data import synth

    calls = {"n": 0}
    real = synth.generate_scene

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("boom")
        return real(*a, **k)

    monkeypatch.setattr(synth, "generate_scene", flaky)
    with pytest.raises(RuntimeError):
        make_synthetic_dataset(tmp_path / "d", n=30)
    assert list(tmp_path.iterdir()) == []


def test_argument_errors(tmp_path):
    with pytest.raises(UserError, match="at least 20"):
        make_synthetic_dataset(tmp_path / "d", n=5)
    with pytest.raises(UserError, match="--p-drop"):
        make_synthetic_dataset(tmp_path / "d", n=30, p_drop=2)
    assert list(tmp_path.iterdir()) == []


def test_ensure_reuses_a_matching_dataset_and_regenerates_otherwise(tmp_path):
    from crossmedia.data.make_synth import ensure_synthetic_dataset

    said = []
    root = tmp_path / "d"
    p1 = ensure_synthetic_dataset(root, 40, echo=said.append)
    stamp = (root / "items.jsonl").stat().st_mtime_ns
    assert ensure_synthetic_dataset(root, 40, echo=said.append) == p1
    assert (root / "items.jsonl").stat().st_mtime_ns == stamp
    p2 = ensure_synthetic_dataset(root, 40, theme_strength=0.5, echo=said.append)
    assert p2["theme_strength"] == 0.5 and said[0].startswith("generating") and said[1].startswith("reusing")
    assert said[2].startswith("generating") and all('"theme"' in line for line in (root / "items.jsonl").read_text().splitlines())
