"""Per-model training settings of the quality bench, per kind of data.

``pixels``: the embedded synthetic scenes at the demo's quick size (12 epochs, as
``crossmedia demo --quick`` and the CMSL ablation benchmark). ``features``: precomputed global
features (Wikipedia's SIFT-BoVW / LDA), small MLPs that need many more epochs; the ``twotower``
settings are those chosen on Wikipedia's val split (benchmarks/wikipedia.py). Every model gets
the same epoch budget and validation schedule within a kind; the checkpoint is chosen on the
protocol's val queries. A user's ``--set`` overrides come after these.
"""

from __future__ import annotations

#: kind → {"*": settings for every model, model name: extra settings}
PRESETS: dict[str, dict[str, list[str]]] = {
    "pixels": {
        "*": ["train.epochs=12", "train.lr=3e-3"],
    },
    "features": {
        "*": ["train.epochs=100", "train.batch_size=128", "train.val_every=5", "train.lr=3e-3"],
        "cmsl": ["model.graph.enabled=false", "model.expansion.enabled=false"],  # no words on feature texts
    },
}


def preset_overrides(kind: str, model: str) -> list[str]:
    p = PRESETS[kind]
    return list(p.get("*", [])) + list(p.get(model, []))
