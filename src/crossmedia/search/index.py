"""A searchable cross-media index built from a trained run: the retrieval items of both
modalities encoded once (composite codes + codebooks, packed binary codes, or float vectors),
the model that encodes queries, and the compact features the fine-grained rerank needs
(float16 raw region features of the images, token ids of the texts).

Text queries search the image items, image queries the text items (cross-media retrieval).
``Index.load`` only reads the manifest and item table and memory-maps the arrays; the model and
the engines are built on first use under a lock, after which searches are read-only and may run
concurrently from several threads.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..codecs import codec_from_state
from ..data.dataset import TEXT_FIELDS, Dataset
from ..data.tensors import TensorData
from ..data.unseen import run_vocabulary
from ..errors import DataError, UserError
from ..models import REGION_FEATURES, attention_rows, load_checkpoint
from ..models.checkpoint import checkpoint_dict, model_from_checkpoint, read_checkpoint
from ..progress import progress
from ..seed import git_commit
from ..engines import Engine
from .format import (load_array, model_fingerprint, read_items, read_manifest, sha256_file, verify_files,
                     write_index_dir)
from ..features.carried import EXTRACTOR_FILE
from . import store
from .query import Hit, image_batch, text_batch
from .rerank import reorder, rerank_images_for_text, rerank_texts_for_image

__all__ = ["Index"]

MODALITIES = ("image", "text")


# ---------------------------------------------------------------------------- model + data helpers
def _tensors_for(model, data_dir):
    """The dataset at ``data_dir`` as tensors the way ``model`` was trained on (its vocabulary,
    text field, image size / feature kind)."""
    info = model.info
    image_source = "features" if info.image_feature_dim else "pixels"
    ds = Dataset.load(data_dir, check_files=image_source == "pixels")
    text_source = "features" if info.text_field == "features" or (
        not any(ds.has_field(f) for f in TEXT_FIELDS) and ds.has_features("text")) else "words"
    if image_source == "features":
        dim = int(ds.features("global").shape[1])
        if dim != int(info.image_feature_dim):
            raise DataError(f"{ds.root}: global image features have {dim} dimensions, the model expects "
                            f"{info.image_feature_dim}")
    tensors = TensorData(ds, run_vocabulary(info.vocab, info.extra.get("tokenizer"), info.extra.get("unseen_words")), info.text_field if text_source == "words" else "tags",
                         image_size=info.image_size, max_tokens=int(info.max_tokens), image_source=image_source,
                         text_source=text_source, loader="stream")  # images decoded per encoding batch
    return ds, tensors


def _as_text(value) -> str | None:
    return value if value is None or isinstance(value, str) else " ".join(map(str, value))


def _item_record(ds, i: int, field: str | None) -> dict:
    """An item as the index stores it: ``text`` = the text the model matched (its ``text_field``:
    tags, caption or tokens; for models on text features, the caption or tags shown for reading),
    ``caption`` as context when the matched field is another one, labels, absolute image path."""
    it = ds.items[i]
    if field in ("caption", "tags", "tokens") and field in it:
        text = _as_text(it[field])
    else:
        field = "features"
        text = _as_text(it.get("caption", it.get("tags", it.get("tokens"))))
    rec = {"id": str(it["id"]), "text": text, "text_field": field,
           "labels": [ds.label_names[j] for j in it.get("labels", [])]}
    if field != "caption" and "caption" in it:
        rec["caption"] = it["caption"]
    rec["image"] = str((ds.root / it["image"]).resolve()) if "image" in it and ds.root is not None else None
    return rec


def _region_features(model, batch: dict):
    """What the index stores per image for the fine-grained rerank and explain
    (:meth:`RetrievalModel.image_regions`), or None for a model without a fine-grained score."""
    return model.image_regions(batch) if model.supports_fine_grained else None


@torch.no_grad()
def _encode(model, codec, ds, tensors, indices, batch_size: int = 256, quiet: bool = False,
            device: str = "cpu") -> tuple[dict, list[dict]]:
    """Arrays (codes per modality, rerank features) and item records of ``indices``; the model
    runs on ``device`` (it is moved there)."""
    parts: dict[str, list] = {"image_db": [], "text_db": [], "regions": [], "tokens": []}
    indices = np.asarray(indices, dtype=np.int64)
    steps = range(0, len(indices), batch_size)
    if device != "cpu":
        model.to(device)
    for s in (steps if quiet else progress(steps, desc="encoding items", unit="batch")):
        b = tensors.batch(indices[s : s + batch_size])
        if device != "cpu":
            b = {key: v.to(device) if torch.is_tensor(v) else v for key, v in b.items()}
        for mod, x in (("image", model.encode_image(b)), ("text", model.encode_text(b))):
            parts[f"{mod}_db"].append(np.asarray(codec.encode(x)))
        regions = _region_features(model, b)
        if regions is not None:
            parts["regions"].append(regions.cpu().numpy().astype(np.float16))
        parts["tokens"].append(b["tokens"].cpu().numpy().astype(np.int32))
    arrays = {}
    for key, chunks in parts.items():
        if chunks:
            arrays[key] = np.concatenate(chunks)
    field = tensors.text_field if tensors.text_source == "words" else None
    items = [_item_record(ds, int(i), field) for i in indices]
    return arrays, items


#: prefix of the files holding a codec's array state (``codec_codebooks.npy``, ...)
CODEC_ARRAY_PREFIX = "codec_"


def _codec_entry(codec) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest entry: codec name, kind and JSON parameters; arrays of its state)."""
    params, arrays = {}, {}
    for k, v in codec.state().items():
        if isinstance(v, np.ndarray):
            arrays[CODEC_ARRAY_PREFIX + k] = v
        else:
            params[k] = v
    return {"name": codec.name, "kind": codec.kind, "params": params, "spec": codec.spec()}, arrays


# ---------------------------------------------------------------------------- the index
class Index:
    """A built index folder (see :mod:`crossmedia.search.format`). Make one with
    :meth:`build`, open one with :meth:`load`."""

    def __init__(self, path: Path, manifest: dict, items: list[dict], arrays: dict[str, np.ndarray],
                 files: Path | None = None, version: str | None = None, device: str = "cpu"):
        self.path = Path(path)  # the index folder as named by the user
        self.files = Path(files) if files is not None else self.path  # the live version's folder
        self.version = version  # its name (store.resolve), None for a plain folder
        #: where the default engines scan (see :func:`crossmedia.engines.shards.device_engine`)
        self.device = str(device)
        self.manifest = manifest
        self.items = items
        self.arrays = arrays
        self.ids = [it["id"] for it in items]
        self._row = {i: r for r, i in enumerate(self.ids)}
        self._lock = threading.RLock()
        self._model = None
        self._vocab = None
        self._image_encoder = None
        self._engines: dict[tuple[str, str], Engine] = {}
        entry = manifest["codec"]
        state = {**entry["params"], **{k[len(CODEC_ARRAY_PREFIX):]: np.array(v) for k, v in arrays.items()
                                       if k.startswith(CODEC_ARRAY_PREFIX)}}
        #: the codec the items are stored with (name and state from the manifest)
        self.codec = codec_from_state(entry["name"], state)

    # ------------------------------------------------------------------ properties
    @property
    def code_kind(self) -> str:
        """"binary", "quantized" or "real" (the codec's kind)."""
        return self.codec.kind

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def fingerprint(self) -> str:
        return self.manifest["model"]["fingerprint"]

    def __len__(self) -> int:
        return len(self.items)

    # ------------------------------------------------------------------ build / load / save
    @classmethod
    def build(cls, run_dir, data_dir=None, out=None, *, checkpoint: str = "best", split: str = "retrieval",
              protocol: str | None = None, batch_size: int = 256, overwrite: bool = False, device: str = "cpu",
              ray: str | None = None, ray_workers: int = 2) -> "Index":
        """Encode the ``split`` items (a protocol split, or ``all``) of ``data_dir`` (default: the
        run's dataset) with the run's model and write the index folder ``out`` atomically.
        ``device``: where the model encodes (``cpu``, ``cuda[:N]``). ``ray``: encode with
        ``ray_workers`` Ray Data actors on the cluster at that address (``local``: start one)."""
        if out is None:
            raise UserError("index build: no output folder given (--out)")
        ck = load_checkpoint(run_dir, checkpoint)
        model, cfg, ck_path = ck.model, ck.config, ck.path
        out = Path(out)
        if not overwrite and not store.is_empty_or_leftovers(out):  # before any image is read
            raise UserError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
        if cfg is None:
            if data_dir is None:
                raise UserError(f"{ck_path}: holds no run config; give the dataset with --data")
        else:
            from ..train.rundir import RunDir

            run = RunDir(run_dir)
            data_dir = run.data_root(data_dir, cfg) if run.config_path.is_file() else (
                data_dir if data_dir is not None else cfg["data"]["root"])
        ds, tensors = _tensors_for(model, data_dir)
        indices = _split_indices(ds, split, protocol or (cfg or {}).get("data", {}).get("protocol"))
        if len(indices) == 0:
            raise UserError(f"{ds.root}: split {split!r} has no items to index")
        extractor, why_not = None, None
        if model.info.image_feature_dim:  # carry the feature extractor, so raw images can be queries
            from ..features.carried import extractor_for_dataset

            extractor, why_not = extractor_for_dataset(ds)
        codec = model.codec()
        if ray is not None:
            from .ray_build import encode_with_ray

            arrays = encode_with_ray(run_dir, checkpoint, ds.root, indices, batch_size=batch_size, workers=ray_workers,
                                     address=ray)
            field = tensors.text_field if tensors.text_source == "words" else None
            items = [_item_record(ds, int(i), field) for i in indices]
        else:
            if device != "cpu":
                from ..engines.torch_topk import resolve_devices

                try:
                    device = resolve_devices(device)[0]
                except ValueError as e:
                    raise UserError(f"--device: {e}") from None
            arrays, items = _encode(model, codec, ds, tensors, indices, batch_size, device=device)
            model.to("cpu")
        entry, codec_arrays = _codec_entry(codec)
        manifest = _manifest(model, entry, ck_path, run_dir, checkpoint, ds, split)
        if model.info.image_feature_dim:
            manifest["image_encoder"] = ({"backbone": extractor["backbone"], "weights": extractor["weights"],
                                          "features_header": extractor["header"]} if extractor else
                                         {"backbone": None, "why_not": why_not})
        return cls._write(out, manifest, {**arrays, **codec_arrays}, items, model=model, overwrite=overwrite,
                          extractor=extractor)

    @classmethod
    def _write(cls, out, manifest: dict, arrays: dict, items: list[dict], model=None, model_file=None,
               overwrite: bool = False, base: str | None = None, update: bool = False,
               extractor: dict | None = None, extractor_file=None) -> "Index":
        if extractor is not None:  # written to a temporary file beside the index, then copied in
            import os
            import tempfile

            Path(out).parent.mkdir(parents=True, exist_ok=True)  # the index may go into a new folder
            fd, tmp = tempfile.mkstemp(prefix=f".{Path(out).name}.extractor.", suffix=".pt", dir=Path(out).parent)
            os.close(fd)
            try:
                torch.save(extractor, tmp)
                return cls._write(out, manifest, arrays, items, model=model, model_file=model_file,
                                  overwrite=overwrite, base=base, update=update, extractor_file=tmp)
            finally:
                os.unlink(tmp)
        extra = {EXTRACTOR_FILE: extractor_file} if extractor_file is not None else None
        man = dict(manifest)
        man["counts"] = {"items": len(items), **{k: list(v.shape) for k, v in sorted(arrays.items())}}
        blob = None
        if model is not None:  # a weights-only checkpoint (crossmedia.models.checkpoint format)
            blob = checkpoint_dict(model)
        write_index_dir(out, man, arrays, items, model_blob=blob, model_file=model_file, extra_files=extra,
                        overwrite=overwrite, base=base, update=update)
        return cls.load(out)

    @classmethod
    def load(cls, path, *, verify: bool = True, run=None, checkpoint: str = "best", device: str = "cpu") -> "Index":
        """Open an index folder: manifest and version checked, files' sizes (and with ``verify``
        their sha256) checked, arrays memory-mapped. With ``run``, the run's model must be the
        one the index was built with (same fingerprint). ``device`` (``cpu``, ``cuda``,
        ``cuda:N``, ``cuda:0,1``): where the default engines scan; several devices split the
        items into shards."""
        if device != "cpu":
            from ..engines.torch_topk import resolve_devices

            try:
                resolve_devices(device)
            except ValueError as e:
                raise UserError(f"--device: {e}") from None
        path = Path(path)

        def read(files: Path, version: str | None) -> "Index":
            man = read_manifest(files)
            verify_files(files, man, checksums=verify)
            items = read_items(files)
            arrays = {name[:-4]: load_array(files, name[:-4]) for name in sorted(man["files"]) if name.endswith(".npy")}
            if len(items) != int(man.get("counts", {}).get("items", -1)):
                raise DataError(f"{files / 'items.jsonl'}: has {len(items)} items, the manifest records "
                                f"{man.get('counts', {}).get('items')}")
            for key in ("image_db", "text_db"):
                if key not in arrays or arrays[key].shape[0] != len(items):
                    raise DataError(f"{files / (key + '.npy')}: missing or not one row per item ({len(items)})")
            return cls(path, man, items, arrays, files=files, version=version, device=device)

        idx = store.read_consistent(path, read)  # the live version, whole (retried if swapped meanwhile)
        if run is not None:
            model = load_checkpoint(run, checkpoint).model
            fp = model_fingerprint(model.state_dict())
            if fp != idx.fingerprint:
                raise UserError(f"{path}: index was built by a different model ({idx.model_name}, fingerprint "
                                f"{idx.fingerprint[:12]}) than run {run} ({model.model_name}, fingerprint {fp[:12]}); "
                                "rebuild it with `crossmedia index build`")
        return idx

    def save(self, out, overwrite: bool = False) -> "Index":
        """Write this index to ``out`` (a bit-identical copy of its files)."""
        arrays = {k: np.asarray(v) for k, v in self.arrays.items()}
        man = {k: v for k, v in self.manifest.items() if k != "files"}
        return Index._write(out, man, arrays, self.items, model_file=self.files / "model.pt", overwrite=overwrite,
                            extractor_file=self._extractor_path())

    def _extractor_path(self) -> Path | None:
        """The carried feature extractor's file (``extractor.pt``) of the live version, or None."""
        return self.files / EXTRACTOR_FILE if EXTRACTOR_FILE in self.manifest.get("files", {}) else None

    # ------------------------------------------------------------------ incremental updates
    def add(self, data_dir, *, split: str = "all", protocol: str | None = None, batch_size: int = 256) -> "Index":
        """Encode the items of ``data_dir`` (``split``: all or a protocol split) with the index's
        model and append them; ids already in the index are an error. Rewrites the folder
        atomically and returns the updated index."""
        model = self.model
        ds, tensors = _tensors_for(model, data_dir)
        indices = _split_indices(ds, split, protocol)
        new_ids = [str(ds.items[int(i)]["id"]) for i in indices]
        dup = [i for i in new_ids if i in self._row]
        if dup:
            raise UserError(f"{ds.root}: {len(dup)} item id(s) already in the index {self.path} "
                            f"(e.g. {', '.join(dup[:3])}); remove them first or give new ids")
        if len(set(new_ids)) != len(new_ids):
            raise UserError(f"{ds.root}: duplicate item ids in split {split!r}")
        arrays, items = _encode(model, self.codec, ds, tensors, indices, batch_size)
        merged = {}
        for key, old in self.arrays.items():
            if key in arrays:
                new = arrays[key]
                if key == "tokens" and new.shape[1] != old.shape[1]:
                    raise UserError(f"{ds.root}: token rows of width {new.shape[1]}, the index has {old.shape[1]}")
                merged[key] = np.concatenate([np.asarray(old), new])
            else:
                merged[key] = np.asarray(old)
        man = {k: v for k, v in self.manifest.items() if k != "files"}
        man["updates"] = list(man.get("updates", [])) + [
            {"op": "add", "data_root": str(ds.root), "split": split, "n": len(items), "time": _now()}]
        return self._replace(man, merged, self.items + items)

    def remove(self, ids) -> "Index":
        """Drop the items ``ids`` (unknown ids are an error); rewrites the folder atomically."""
        ids = [str(i) for i in ids]
        unknown = [i for i in ids if i not in self._row]
        if unknown:
            raise UserError(f"{self.path}: unknown item id(s) {', '.join(unknown[:5])}" + (" …" if len(unknown) > 5 else ""))
        drop = np.zeros(len(self.items), dtype=bool)
        drop[[self._row[i] for i in ids]] = True
        keep = np.flatnonzero(~drop)
        merged = {}
        for key, arr in self.arrays.items():
            arr = np.asarray(arr)
            merged[key] = arr[keep] if arr.ndim and arr.shape[0] == len(self.items) and key in _ROW_ARRAYS else arr
        man = {k: v for k, v in self.manifest.items() if k != "files"}
        man["updates"] = list(man.get("updates", [])) + [{"op": "remove", "n": int(drop.sum()), "time": _now()}]
        return self._replace(man, merged, [self.items[i] for i in keep])

    def _replace(self, man, arrays, items) -> "Index":
        # a new version of the folder, swapped in atomically; the model file is shared (hard link)
        return Index._write(self.path, man, arrays, items, model_file=self.files / "model.pt", base=self.version,
                            update=self.version is not None, overwrite=self.version is None,
                            extractor_file=self._extractor_path())

    # ------------------------------------------------------------------ model, engines
    @property
    def model(self):
        """The index's model (loaded on first use; eval mode)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    model = model_from_checkpoint(read_checkpoint(self.files / "model.pt"))
                    if model_fingerprint(model.state_dict()) != self.fingerprint:
                        raise DataError(f"{self.files / 'model.pt'}: model does not match the manifest's fingerprint")
                    self._vocab = run_vocabulary(model.info.vocab, model.info.extra.get("tokenizer"), model.info.extra.get("unseen_words"))
                    self._model = model
        return self._model

    @property
    def text_field(self) -> str | None:
        """The item field text queries are matched against and image queries retrieve (tags,
        caption, tokens; ``features`` for models on precomputed text vectors)."""
        return (self.items[0].get("text_field") if self.items else None) or self.manifest.get("data", {}).get("text_field")

    def score_kind(self, rerank: int = 0) -> str:
        """What a hit's score is (higher = more similar)."""
        if rerank:
            return f"fine-grained score ({self.model_name} word-region matching of the top {rerank}; not on the first-stage scale)"
        names = {"sign": "-Hamming distance", "composite": "inner product (query vector . quantized item code)",
                 "pq": "inner product (query vector . quantized item code)", "float_ip": "inner product",
                 "float_cosine": "cosine similarity"}
        return names.get(self.codec.name) or f"-({self.codec.spec().get('distance', 'distance')})"

    def default_engine(self) -> str:
        return self.codec.engines[0]

    def engine(self, modality: str, name: str | None = None) -> Engine:
        """The engine searching the ``modality`` items (default: the codec's first engine)."""
        name = self.codec.engine_name(name)
        key = (modality, name)
        eng = self._engines.get(key)
        if eng is None:
            with self._lock:
                eng = self._engines.get(key)
                if eng is None:
                    eng = self._make_engine(modality, name)
                    self._engines[key] = eng
        return eng

    def set_engine(self, modality: str, engine: Engine, name: str | None = None) -> None:
        """Serve searches of ``modality`` (with engine ``name``, default: the default engine) by
        ``engine`` — e.g. a micro-batching or Ray-sharded wrapper of the same items."""
        if modality not in MODALITIES:
            raise ValueError(f"set_engine: modality must be image or text, got {modality!r}")
        if engine.ntotal != len(self):
            raise ValueError(f"set_engine: the engine holds {engine.ntotal} items, the index {len(self)}")
        with self._lock:
            self._engines[(modality, name or self.default_engine())] = engine

    def _make_engine(self, modality: str, name: str) -> Engine:
        db = np.asarray(self.arrays[f"{modality}_db"])
        if self.device != "cpu" and name == self.default_engine():
            return self.codec.engine(db, name, device=self.device)
        return self.codec.engine(db, name)

    def export_faiss(self, folder) -> dict[str, Path]:
        """Write a FAISS index per modality (``image.faiss`` / ``text.faiss``) built from the
        stored codes; rows = item order (``items.jsonl``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for mod in MODALITIES:
            p = folder / f"{mod}.faiss"
            self.engine(mod, "faiss").write(p)
            out[mod] = p
        return out

    # ------------------------------------------------------------------ items
    def item(self, item_id: str) -> dict:
        """The stored record of ``item_id``: id, text, labels, image path (absolute; the image file
        itself is not copied into the index)."""
        row = self._row.get(str(item_id))
        if row is None:
            raise UserError(f"{self.path}: no item with id {item_id!r}")
        return dict(self.items[row])

    # ------------------------------------------------------------------ search
    @torch.no_grad()
    def encode_text_query(self, query: str) -> tuple[np.ndarray, dict]:
        model = self.model
        b = text_batch(model.info, self._vocab, query)
        return model.encode_text(b).float().cpu().numpy(), b

    @property
    def image_encoder(self):
        """The feature extractor this index carries (:class:`~crossmedia.features.carried.ImageEncoder`)
        for a model on precomputed image features, else None."""
        if self._image_encoder is None and self._extractor_path() is not None:
            with self._lock:
                if self._image_encoder is None:
                    from ..features.carried import ImageEncoder

                    self._image_encoder = ImageEncoder(torch.load(self._extractor_path(), map_location="cpu",
                                                                  weights_only=False))
        return self._image_encoder

    @torch.no_grad()
    def encode_image_query(self, image) -> tuple[np.ndarray, dict]:
        model = self.model
        if model.info.image_feature_dim and _is_raw_image(image):
            enc = self.image_encoder
            if enc is None:
                why = (self.manifest.get("image_encoder") or {}).get("why_not") or "built without one"
                raise UserError(f"{self.path}: the model reads precomputed image features and the index carries no "
                                f"feature extractor ({why}); give a ({model.info.image_feature_dim},) feature vector, or "
                                "rebuild the index from features made by `crossmedia features extract`")
            b = enc(image)
        else:
            b = image_batch(model.info, image)
        return model.encode_image(b).float().cpu().numpy(), b

    def search_text(self, query: str, k: int = 10, rerank: int = 0, engine: str | None = None) -> list[Hit]:
        """Image items for a text query, best first."""
        q, b = self.encode_text_query(query)
        return self._search(q, "image", k, rerank, engine,
                            lambda rows: rerank_images_for_text(self.model, b, np.asarray(self.arrays["regions"])[rows]))

    def search_image(self, image, k: int = 10, rerank: int = 0, engine: str | None = None) -> list[Hit]:
        """Text items for an image query (PIL image, path, array; feature vector for feature runs)."""
        q, b = self.encode_image_query(image)

        def fine(rows):
            with torch.no_grad():
                regions = _region_features(self.model, b)
            return rerank_texts_for_image(self.model, regions, np.asarray(self.arrays["tokens"])[rows])

        return self._search(q, "text", k, rerank, engine, fine)

    def _search(self, q: np.ndarray, modality: str, k: int, rerank: int, engine: str | None, fine) -> list[Hit]:
        k = int(k)
        if k < 1:
            raise UserError(f"-k {k}: expected a positive number of results")
        if int(rerank) < 0:
            raise UserError(f"--rerank {rerank}: expected 0 (off) or a positive number of candidates")
        # never more results (or rerank candidates) than items: bounds the work and memory of any k
        k, rerank = min(k, len(self)), min(int(rerank), len(self))
        if k == 0:
            return []
        if rerank and not self.model.supports_fine_grained:
            raise UserError(f"--rerank: model {self.model_name} has no fine-grained score to rerank with")
        if rerank and "regions" not in self.arrays:
            raise UserError(f"--rerank: {self.path} holds no rerank features (built without a fine-grained model)")
        eng = self.engine(modality, engine)
        n_first = max(int(rerank), k) if rerank else k
        scores, rows = eng.search(q, n_first)
        ok = rows[0] >= 0
        scores, rows = scores[0][ok], rows[0][ok]
        if rerank:
            rows, scores = reorder(rows, fine(rows), k)
        ids = self.ids  # Python ints and floats in one call each (per-element numpy scalars cost more)
        return [Hit(id=ids[r], score=s, rank=i, modality=modality)
                for i, (r, s) in enumerate(zip(rows[:k].tolist(), scores[:k].astype(np.float64).tolist()), 1)]

    @torch.no_grad()
    def explain(self, query: str, item_id: str) -> tuple[list[str], np.ndarray, int | None]:
        """Why image ``item_id`` matches text ``query``: the query's in-vocabulary words (one per
        attention row; out-of-vocabulary words have none), the attention of each word over the
        image's regions (n_words × R, rows sum to 1) and the model's region grid side g
        (R = g², row-major, so a row reshapes to g × g for a heatmap; None without a grid)."""
        model = self.model
        if not model.supports_fine_grained or "regions" not in self.arrays:
            raise UserError(f"explain: model {self.model_name} has no word-region attention")
        row = self._row.get(str(item_id))
        if row is None:
            raise UserError(f"{self.path}: no item with id {item_id!r}")
        b = text_batch(model.info, self._vocab, query)
        tokens = b["tokens"][0]
        words = [self._vocab.words[int(t)] for t in tokens[attention_rows(tokens)]]
        if not words:  # only unseen words, which data.unseen_words maps in the bag of words, not in the tokens
            raise UserError(f"explain: none of the words of {query!r} is in the model's vocabulary; word-region "
                            "attention needs at least one")
        regions = torch.from_numpy(np.asarray(self.arrays["regions"][row : row + 1], dtype=np.float32))
        attn = model.word_region_attention({REGION_FEATURES: regions}, b)[0].float().cpu().numpy()
        if attn.shape[0] != len(words):
            raise RuntimeError(f"{self.model_name}.word_region_attention gave {attn.shape[0]} rows for "
                               f"{len(words)} in-vocabulary words (contract: one row per word)")
        return words, attn, model.region_grid

    # ------------------------------------------------------------------ info
    def info(self) -> dict:
        m = self.manifest
        per_mod = {mod: int(np.asarray(self.arrays[f"{mod}_db"]).nbytes) / max(len(self), 1) for mod in MODALITIES}
        per_item = sum(per_mod.values())
        return {"path": str(self.path), "version": self.version, "format_version": m["format_version"], "items": len(self),
                "model": m["model"], "data": m.get("data"), "created": m.get("created"),
                "codec": m["codec"]["name"], "engines": list(self.codec.engines), "rerank": "regions" in self.arrays,
                "image_encoder": m.get("image_encoder"),
                "code_bytes_per_item": per_item, "code_bytes_per_item_by_modality": per_mod, "arrays": m.get("counts"),
                "updates": m.get("updates", []),
                "bytes_on_disk": sum(int(f["bytes"]) for f in m["files"].values())}


_ROW_ARRAYS = ("image_db", "text_db", "regions", "tokens")


def _is_raw_image(image) -> bool:
    """A file path, a PIL image or an (H, W, 3) array — not a feature vector or a feature dict."""
    from PIL import Image

    if isinstance(image, (str, Path, Image.Image)):
        return True
    return isinstance(image, np.ndarray) and image.ndim == 3


def _split_indices(ds, split: str, protocol: str | None) -> np.ndarray:
    if split == "all":
        return np.arange(len(ds))
    proto = ds.protocol(protocol)
    if split not in proto.splits:
        raise UserError(f"--split {split}: protocol {proto.name!r} has no such split "
                        f"(has {', '.join(sorted(proto.splits))}, or use 'all')")
    return np.asarray(proto[split], dtype=np.int64)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _manifest(model, codec_entry: dict, ck_path: Path, run_dir, checkpoint: str, ds, split: str) -> dict[str, Any]:
    m: dict[str, Any] = {
        "name": model.model_name, "code_kind": codec_entry["kind"], "run": str(Path(run_dir).resolve()),
        "checkpoint": checkpoint, "checkpoint_sha256": sha256_file(ck_path),
        "fingerprint": model_fingerprint(model.state_dict()), "bits": model.bits,
        "fine_grained": bool(model.supports_fine_grained), "region_grid": model.region_grid,
    }
    return {"model": m, "codec": codec_entry, "data": {"root": str(Path(ds.root).resolve()), "dataset": ds.name,
                                                       "split": split, "text_field": model.info.text_field},
            "created": _now(), "git_commit": git_commit()}
