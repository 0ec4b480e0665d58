"""A stand-in for EfficientNet-Lite0 feature extraction in benchmark-script tests: small random
global (12-d) and region (2 × 2 grid of 6-d) features attached to the dataset."""

import json
from pathlib import Path

import numpy as np


def fake_extract(root, out, **kw):
    root = Path(root)
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    n = sum(1 for line in (root / "items.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    rng = np.random.default_rng(0)
    np.save(root / "global.npy", rng.normal(size=(n, 12)).astype(np.float32))
    np.save(root / "regions.npy", rng.normal(size=(n, 4, 6)).astype(np.float32))
    meta["features"] = {"global": "global.npy", "regions": "regions.npy"}
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
