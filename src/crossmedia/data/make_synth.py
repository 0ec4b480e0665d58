"""Write the embedded default dataset: synthetic scenes (see :mod:`crossmedia.data.synth`) as
a crossmedia dataset folder with PNG images, ``items.jsonl`` and the ``default`` protocol.

Item ``i`` is generated from ``numpy.random.SeedSequence([seed, i])``, so a dataset of N items
is a prefix of one with more items and any item can be regenerated on its own. The default
protocol follows DATASETS.md: 10 % query, the rest retrieval, of which 50 % of all items train
and 5 % val (10,000 items → 1,000 / 9,000 / 5,000 / 500).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_dir
from ..progress import progress
from . import synth
from .dataset import Dataset
from .protocol import Protocol

GENERATOR_VERSION = 2
"""2 added scene themes (``theme_strength``); with ``theme_strength`` = 0 the scenes are
byte-identical to version 1's."""


def default_split_sizes(n: int) -> dict[str, int]:
    return {"n_query": max(1, n // 10), "n_train": n // 2, "n_val": max(1, n // 20)}


def generator_params(n: int, seed: int, p_drop: float, p_noise: float, image_size: int,
                     max_objects: int = 4, theme_strength: float = 0.0) -> dict:
    return {"generator": "crossmedia.data.synth", "generator_version": GENERATOR_VERSION, "n": n,
            "seed": seed, "p_drop": p_drop, "p_noise": p_noise, "image_size": image_size,
            "max_objects": max_objects, "theme_strength": theme_strength}


def make_synthetic_dataset(
    out: str | Path,
    n: int = 10_000,
    seed: int = 0,
    p_drop: float = 0.4,
    p_noise: float = 0.2,
    image_size: int = 72,
    max_objects: int = 4,
    theme_strength: float = 0.0,
    n_query: int | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    overwrite: bool = False,
) -> Dataset:
    """Generate ``n`` scenes into ``out`` (atomically: a failure leaves nothing behind)."""
    if n < 20:
        raise UserError(f"--n: need at least 20 items to form train/val/query splits, got {n}")
    for name, p in (("--p-drop", p_drop), ("--p-noise", p_noise)):
        if not 0.0 <= p <= 1.0:
            raise UserError(f"{name}: expected a probability in [0, 1], got {p}")
    if image_size < 24 or image_size % 3:
        raise UserError(f"--image-size: expected a multiple of 3 that is at least 24, got {image_size}")
    sizes = default_split_sizes(n)
    sizes.update({k: v for k, v in (("n_query", n_query), ("n_train", n_train), ("n_val", n_val)) if v is not None})
    if sizes["n_query"] + sizes["n_train"] + sizes["n_val"] > n:
        raise UserError(f"split sizes {sizes} add up to more than --n {n}")
    if not 0.0 <= theme_strength <= 1.0:
        raise UserError(f"--theme-strength: expected a probability in [0, 1], got {theme_strength}")
    params = generator_params(n, seed, p_drop, p_noise, image_size, max_objects, theme_strength)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        items = []
        for i in progress(range(n), desc="generating scenes", unit="img"):
            rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
            image, scene = synth.generate_scene(rng, image_size=image_size, p_drop=p_drop, p_noise=p_noise,
                                                max_objects=max_objects, theme_strength=theme_strength)
            rel = f"images/{i:06d}.png"
            image.save(tmp / rel, format="PNG", optimize=False)
            items.append({
                "id": f"scene-{i:06d}", "image": rel, "caption": scene.caption, "tags": scene.tags,
                "true_tags": scene.true_tags, "labels": list(map(int, scene.labels)),
                "shape_labels": list(map(int, scene.shape_labels)),
                "objects": [o.to_dict() for o in scene.objects],
                **({"theme": scene.theme} if scene.theme is not None else {}),
            })
        ds = Dataset(
            name="synthetic-scenes", items=items, label_names=list(synth.LABEL_NAMES),
            meta={"description": "Synthetic scenes: 1-4 coloured shapes on a 3x3 grid, attribute-binding "
                                 "captions, sparse/noisy tags, (colour, shape) multi-hot labels, region ground truth.",
                  "source": params, "text_fields": ["caption", "tags"], "image": "path",
                  "default_protocol": "default", "region_grid": 3},
        )
        ds.save(tmp)
        proto = Protocol.random(n, seed=seed, name="default", dataset=ds.name, labels=ds.labels, **sizes)
        ds.save_protocol(proto)
    return Dataset.load(out)


def ensure_synthetic_dataset(root: str | Path, n: int, seed: int = 0, p_drop: float = 0.4, p_noise: float = 0.2,
                             image_size: int = 72, theme_strength: float = 0.0, echo=print) -> dict:
    """Reuse the synthetic dataset at ``root`` when it was generated with exactly these parameters,
    otherwise (re)generate it there; returns the generator parameters (for results files)."""
    params = generator_params(n, seed, p_drop, p_noise, image_size, theme_strength=theme_strength)
    if matches(root, params):
        echo(f"reusing dataset {root}")
    else:
        echo(f"generating {n} synthetic scenes into {root}")
        make_synthetic_dataset(root, n=n, seed=seed, p_drop=p_drop, p_noise=p_noise, image_size=image_size,
                               theme_strength=theme_strength, overwrite=True)
    return params


def matches(root: str | Path, params: dict) -> bool:
    """True when ``root`` holds a synthetic dataset generated with exactly ``params``."""
    try:
        ds = Dataset.load(root, check_files=False)
    except UserError:
        return False
    return ds.meta.get("source") == params
