"""``crossmedia features extract``: run a backbone over a dataset's images and store global
vectors and region grids (see :mod:`.store` for the format).

Batched; resumable — work goes into ``.<OUT>.partial/`` next to the output in chunks, an
interrupted run continues from the last finished chunk when the same command is run again, and
the final folder appears atomically when every chunk is done; images that fail to decode are
skipped, reported on the console and listed in ``report.json`` (their rows stay zero and
``ok.npy`` marks them), never silently.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import Dataset
from ..errors import UserError
from ..io import atomic_dir, write_json
from ..progress import progress
from ..runtime import torch_settings
from .backbones import DEFAULT_BACKBONE, Backbone, build_backbone
from .preprocess import DECODE_ERRORS, load_image
from .store import (FEATURES_FORMAT, FEATURES_FORMAT_VERSION, FeatureSet, attach_features, ids_digest, load_features,
                    write_dataset_view)

DTYPES = {"float32": np.float32, "float16": np.float16}


def extract_features(data_root: str | Path, out: str | Path, *, backbone: str = DEFAULT_BACKBONE,
                     weights: str | None = None, batch_size: int = 32, dtype: str = "float32", regions: bool = True,
                     chunk_size: int = 512, attach: bool = False, overwrite: bool = False, threads: int | None = None,
                     echo=print) -> FeatureSet:
    if dtype not in DTYPES:
        raise UserError(f"--dtype: expected float32 or float16, got {dtype!r}")
    if batch_size < 1 or chunk_size < 1:
        raise UserError("--batch-size and the chunk size must be positive")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output folder exists and is not empty (pass --overwrite to replace it)")
    ds = Dataset.load(data_root, check_files=False)  # missing images are reported and skipped below
    paths = ds.image_paths()
    bb = build_backbone(backbone, weights)
    n = len(paths)
    state = {"backbone": bb.name, "weights_sha256": bb.weights.get("sha256"), "weights_source": bb.weights.get("source"),
             "input_size": bb.input_size, "n_items": n, "ids_sha256": ids_digest(ds.ids), "dtype": dtype,
             "regions": bool(regions), "chunk_size": int(chunk_size)}
    partial = out.parent / f".{out.name}.partial"
    if partial.exists():
        try:
            old = json.loads((partial / "state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = None
        if old == state:
            echo(f"resuming the extraction in {partial}")
        else:
            echo(f"discarding {partial}: it was made with other settings")
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    write_json(partial / "state.json", state)
    t0 = time.time()
    chunks = [(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)]
    done_items = sum(e - s for k, (s, e) in enumerate(chunks) if (partial / f"chunk_{k:06d}.npz").is_file())
    with torch_settings(threads=threads):  # the caller's thread count is given back afterwards
        bar = progress(range(n), desc=f"{bb.name} features", total=n, unit="img")
        if done_items:
            bar.update(done_items)
        for k, (s, e) in enumerate(chunks):
            cp = partial / f"chunk_{k:06d}.npz"
            if cp.is_file():
                continue
            g, r, ok, errors = _run_chunk(bb, paths[s:e], ds.ids[s:e], s, batch_size, DTYPES[dtype], regions, bar)
            tmp = cp.with_name(cp.name + ".tmp.npz")
            np.savez(tmp, global_=g, regions=r if r is not None else np.zeros(0), ok=ok,
                     errors=np.array(json.dumps(errors)))
            tmp.replace(cp)
        bar.close()
    feats = _assemble(out, partial, chunks, bb, ds, state, overwrite, time.time() - t0)
    shutil.rmtree(partial, ignore_errors=True)
    failed = feats.header["failed"]
    if failed:
        echo(f"warning: {len(failed)} of {n} image(s) could not be decoded and were skipped (rows left zero); "
             f"see {out / 'report.json'} (first: {failed[0]['path']}: {failed[0]['error']})")
    if attach:
        f = attach_features(ds.root, feats)
        echo(f"{Path(ds.root) / 'dataset.json'}: image features now {f['global']}"
             + (f" and {f['regions']}" if "regions" in f else "") + " (use data.image_source=features)")
    else:
        echo(f"{out} is a dataset with these features ({ds.root} is unchanged): "
             f"train with --data {out} --set data.image_source=features")
    return feats


def _run_chunk(bb: Backbone, paths, ids, start: int, batch_size: int, dtype, regions: bool, bar):
    n = len(paths)
    g = np.zeros((n, bb.feature_dim), dtype=dtype)
    r = np.zeros((n, bb.n_regions, bb.feature_dim), dtype=dtype) if regions else None
    ok = np.zeros(n, dtype=bool)
    errors: list[dict] = []
    for b in range(0, n, batch_size):
        batch, rows = [], []
        for i in range(b, min(n, b + batch_size)):
            try:
                batch.append(load_image(paths[i], bb.preprocessing))
                rows.append(i)
            except DECODE_ERRORS as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
                errors.append({"index": start + i, "id": ids[i], "path": str(paths[i]), "error": f"{e.__class__.__name__}: {msg}"[:300]})
            bar.update(1)
        if not batch:
            continue
        x = torch.from_numpy(np.stack(batch))
        gl, rg = bb(x)
        g[rows] = gl.numpy().astype(dtype)
        if r is not None:
            r[rows] = rg.numpy().astype(dtype)
        ok[rows] = True
    return g, r, ok, errors


def _assemble(out: Path, partial: Path, chunks, bb: Backbone, ds, state: dict, overwrite: bool, elapsed: float) -> FeatureSet:
    import crossmedia

    n = state["n_items"]
    dtype = DTYPES[state["dtype"]]
    failed: list[dict] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        g = np.lib.format.open_memmap(tmp / "global.npy", mode="w+", dtype=dtype, shape=(n, bb.feature_dim))
        r = (np.lib.format.open_memmap(tmp / "regions.npy", mode="w+", dtype=dtype, shape=(n, bb.n_regions, bb.feature_dim))
             if state["regions"] else None)
        ok = np.zeros(n, dtype=bool)
        for k, (s, e) in enumerate(chunks):
            with np.load(partial / f"chunk_{k:06d}.npz") as z:
                g[s:e] = z["global_"]
                if r is not None:
                    r[s:e] = z["regions"]
                ok[s:e] = z["ok"]
                failed += json.loads(str(z["errors"]))
        g.flush()
        del g
        if r is not None:
            r.flush()
            del r
        np.save(tmp / "ok.npy", ok)
        write_json(tmp / "report.json", {"n_items": n, "n_ok": int(ok.sum()), "failed": failed})
        header = {
            "format": FEATURES_FORMAT, "format_version": FEATURES_FORMAT_VERSION,
            "backbone": bb.name, "weights": bb.weights, "input_size": bb.input_size,
            "preprocessing": bb.preprocessing, "feature_dim": bb.feature_dim, "grid": list(bb.grid),
            "n_regions": bb.n_regions, "dtype": state["dtype"], "n_items": n, "n_ok": int(ok.sum()),
            "global": {"file": "global.npy", "shape": [n, bb.feature_dim], "pooling": "mean of the region grid"},
            "regions": ({"file": "regions.npy", "shape": [n, bb.n_regions, bb.feature_dim],
                         "order": "row-major cells (y, x) of the last convolutional map"} if state["regions"] else None),
            "dataset": {"name": ds.name, "root": str(ds.root), "n_items": n, "ids_sha256": state["ids_sha256"]},
            "failed": failed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_time_s": round(elapsed, 2),
            "versions": {"crossmedia": getattr(crossmedia, "__version__", None), "torch": torch.__version__,
                         "numpy": np.__version__},
        }
        write_json(tmp / "header.json", header)
        write_dataset_view(tmp, ds, header, np.flatnonzero(~ok).tolist())
    return load_features(out)
