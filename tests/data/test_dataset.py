import json

import numpy as np
import pytest

from crossmedia.data import Dataset
from crossmedia.data.info import format_summary, summarize
from crossmedia.errors import DataError


def test_round_trip(tiny_dataset, tmp_path):
    ds = tiny_dataset
    assert len(ds) == 40
    assert ds.labels.shape == (40, 4) and ds.labels.dtype == np.uint8
    again = Dataset.load(ds.root)
    assert again.items == ds.items and again.label_names == ds.label_names
    assert again.protocol_names() == ["default"]
    p = again.protocol()
    assert p.counts["query"] == 8
    ds.save(tmp_path / "copy")
    assert (tmp_path / "copy" / "items.jsonl").read_text() == (ds.root / "items.jsonl").read_text()


def test_texts_and_paths(tiny_dataset):
    ds = tiny_dataset
    assert all(isinstance(t, list) for t in ds.texts("tags"))
    assert all(isinstance(t, str) for t in ds.texts("caption"))
    assert all(p.is_file() for p in ds.image_paths())
    with pytest.raises(DataError, match="text field"):
        ds.texts("nonsense")
    with pytest.raises(DataError, match="no 'tokens' field"):
        ds.texts("tokens")


def _write(root, lines, meta=None):
    root.mkdir(parents=True, exist_ok=True)
    meta = meta or {"format": "crossmedia-dataset", "format_version": 1, "name": "x", "label_names": ["a", "b"]}
    (root / "dataset.json").write_text(json.dumps(meta))
    (root / "items.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": 1, "feature_row": 0, "labels": [5]}'], "items.jsonl:1: field 'labels' must be a list of label indices in 0..1"),
        (['{"id": 1, "feature_row": 0}', '{"id": 1, "feature_row": 1}'], "items.jsonl:2: duplicate item id '1'"),
        (['{"feature_row": 0}'], "items.jsonl:1: missing field 'id'"),
        (['not json'], "items.jsonl:1: not a JSON object"),
        (['{"id": 1}'], "needs an 'image' path or a 'feature_row'"),
        (['{"id": 1, "feature_row": 0, "tags": "a b"}'], "field 'tags' must be a list of strings"),
        (['{"id": 1, "image": "missing.png"}'], "missing.png: image of item '1' not found"),
    ],
)
def test_item_errors(tmp_path, lines, message):
    _write(tmp_path / "d", lines)
    with pytest.raises(DataError) as e:
        Dataset.load(tmp_path / "d")
    assert message in str(e.value)


def test_meta_errors(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        Dataset.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="dataset.json: not found"):
        Dataset.load(tmp_path / "empty")
    _write(tmp_path / "d", ['{"id": 1, "feature_row": 0}'], meta={"format": "zzz"})
    with pytest.raises(DataError, match='expected "format"'):
        Dataset.load(tmp_path / "d")
    _write(tmp_path / "e", ['{"id": 1, "feature_row": 0}'],
           meta={"format": "crossmedia-dataset", "name": "e", "label_names": ["a"], "n_items": 3})
    with pytest.raises(DataError, match="records n_items = 3"):
        Dataset.load(tmp_path / "e")


def test_missing_protocol_lists_available(tiny_dataset):
    with pytest.raises(DataError, match="available: default"):
        tiny_dataset.protocol("other")


def test_features(tmp_path):
    root = tmp_path / "f"
    _write(root, ['{"id": %d, "feature_row": %d, "labels": [0]}' % (i, i) for i in range(3)],
           meta={"format": "crossmedia-dataset", "name": "f", "label_names": ["a"],
                 "features": {"global": "g.npy"}})
    np.save(root / "g.npy", np.ones((3, 5), np.float32))
    ds = Dataset.load(root)
    assert ds.features("global").shape == (3, 5)
    with pytest.raises(DataError, match="no precomputed 'regions'"):
        ds.features("regions")
    np.save(root / "g.npy", np.ones((2, 5), np.float32))
    with pytest.raises(DataError, match="has 2 rows"):
        ds.features("global")


def test_summary(tiny_dataset):
    s = summarize(tiny_dataset)
    assert s["items"] == 40 and s["labels"]["count"] == 4
    assert s["text"]["tags"]["vocabulary_size"] == 4
    assert s["protocols"]["default"]["counts"]["train"] == 20
    text = format_summary(s)
    assert "protocol  default" in text and "vocabulary 4 words" in text
