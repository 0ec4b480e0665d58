"""What every preparer shares: options, the in-memory result (:class:`Prepared`), protocol
helpers (standard sizes, fixed splits, user-defined splits) and the writer that turns a
:class:`Prepared` into a crossmedia dataset folder atomically (a failure leaves nothing behind).

Layout written (see :mod:`crossmedia.data.dataset`)::

    dataset.json, items.jsonl, protocols/*.json
    images/…            only for images stored inside a .mat file, or with ``images="copy"``
    features/image_global.npy   precomputed image features that came with the release
    features/text.npy           precomputed text features (Wikipedia LDA, a .mat tag BoW)
    text/vocab.json, text/bow.npz, text/tfidf.npz     tag datasets (vocabulary from train)
    text/vocab.json, text/tokens.npy, text/lengths.npy   caption datasets
    prepare_report.json          what was read, filtered and why
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ...errors import DataError, UserError
from ...io import atomic_dir, write_json
from ...progress import progress
from ..dataset import Dataset
from ..protocol import Protocol

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class PrepareOptions:
    seed: int = 0
    nonstandard: bool = False  # accept a source whose counts differ from the published release
    images: str = "reference"  # "reference" (absolute paths to the source files) or "copy"
    split_file: Path | None = None  # a user-defined split (id,split per line; CSV/TSV/JSON)
    split_name: str = "user"
    n_val: int | None = None
    subset: str | None = None  # NUS-WIDE: tc21 | tc10
    text_kind: str | None = None  # folder: caption | tags
    min_tag_count: int | None = None  # MIRFlickr: tag frequency threshold (standard 20)
    vocab_min_count: int = 1
    max_tokens: int = 32
    lang: str | None = None  # emoji: locale of names and keywords (en, zh, ja, de, fr, es)
    skin_tones: bool = False  # emoji: also the single-tone skin variants
    label_level: str | None = None  # emoji: subgroup (fine, default) or group (coarse)
    styles: str | None = None  # emoji: artwork styles, comma-separated (google, twitter)
    tokenizer: str | None = None  # text tokenizer (see crossmedia.data.text); None/auto = detected
    encoding: str | None = None  # text encoding of the release's text files (default: UTF-8, strictly)


@dataclass
class ImageArray:
    """Images held inside a .mat file: written out as PNG files when the dataset is made."""

    iterate: Callable[[], Iterable[np.ndarray]]  # yields uint8 (B, H, W, 3) chunks in item order
    source: str


@dataclass
class Prepared:
    name: str
    items: list[dict]
    label_names: list[str]
    description: str = ""
    images: list[Path] | ImageArray | None = None  # one source image per item
    global_features: np.ndarray | None = None  # (N, F) image features shipped with the release
    global_features_kind: str = ""
    text_features: np.ndarray | None = None  # (N, D) text features shipped with the release
    text_features_kind: str = ""
    text_field: str | None = None  # "tags" or "caption": raw text the items carry
    protocols: list[Protocol] = field(default_factory=list)
    default_protocol: str = "default"
    standard: dict | None = None  # published counts (checked at load time)
    labels_required: bool = True  # the standard protocol keeps only labelled items
    source: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        y = np.zeros((self.n, len(self.label_names)), dtype=np.uint8)
        for i, it in enumerate(self.items):
            y[i, it.get("labels", [])] = 1
        return y


# ---------------------------------------------------------------------------- finding files
def find_file(src: Path, names: Sequence[str], what: str, max_depth: int = 3, required: bool = True) -> Path | None:
    """The first file under ``src`` (breadth-first, up to ``max_depth`` folders deep) whose
    relative path ends with one of ``names`` (case-insensitive)."""
    wanted = [n.lower().replace("\\", "/") for n in names]
    if src.is_file():
        if any(str(src).lower().endswith(w) for w in wanted):
            return src
        src = src.parent
    level = [src]
    for _ in range(max_depth + 1):
        nxt = []
        for d in level:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                p = Path(e.path)
                rel = p.as_posix().lower()
                if e.is_file() and any(rel.endswith("/" + w) or rel == w for w in wanted):
                    return p
            nxt.extend(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
        level = nxt
        if not level:
            break
    if required:
        raise DataError(f"{src}: expected {what} ({' or '.join(names)}) under this folder; not found")
    return None


def find_dir(src: Path, names: Sequence[str], max_depth: int = 3) -> Path | None:
    level = [src]
    wanted = {n.lower() for n in names}
    for _ in range(max_depth + 1):
        nxt = []
        for d in level:
            if d.name.lower() in wanted and d.is_dir():
                return d
            try:
                nxt.extend(Path(e.path) for e in sorted(os.scandir(d), key=lambda e: e.name)
                           if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
        level = nxt
    return None


_ENCODING: "contextvars.ContextVar[str | None]" = contextvars.ContextVar("crossmedia_source_encoding", default=None)


@contextlib.contextmanager
def source_encoding(encoding: str | None):
    """The encoding :func:`read_lines` uses while preparing (``--encoding``; None: UTF-8)."""
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError, ValueError):
            raise UserError(f"--encoding {encoding!r}: not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
    token = _ENCODING.set(encoding)
    try:
        yield
    finally:
        _ENCODING.reset(token)


def read_lines(path: Path, encoding: str | None = None) -> list[str]:
    """Lines of a text file of the release (see :func:`read_text`)."""
    return read_text(path, encoding).splitlines()


def read_text(path: Path, encoding: str | None = None) -> str:
    """A text file of the release: in ``encoding`` when the format fixes one, else in the
    ``--encoding`` given, else UTF-8 — strictly: undecodable bytes are an error naming the
    line, never silently re-read in another encoding."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.__class__.__name__})") from None
    user = _ENCODING.get()
    enc = encoding or user or "utf-8"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        hint = "check --encoding" if user else "pass --encoding ENCODING (e.g. latin-1 or cp1252) if that is its encoding"
        raise DataError(f"{path}:{line}: not valid {enc} text (byte {data[e.start]:#04x}); {hint}") from None
    except LookupError:
        raise UserError(f"--encoding {enc!r}: not a known text encoding") from None
    return text.removeprefix("\ufeff")


def mat_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src] if src.suffix.lower() == ".mat" else []
    out = []
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        depth = len(Path(root).relative_to(src).parts)
        if depth > 2:
            dirs[:] = []
        out.extend(Path(root) / f for f in files if f.lower().endswith(".mat"))
    return sorted(out)


# ---------------------------------------------------------------------------- protocols
def check_standard_count(prep: Prepared, n_published: int, what: str, opts: PrepareOptions) -> float:
    """Compare the number of items found with the published one. Returns the scale factor for
    protocol sizes (1.0 when standard). A mismatch is an error unless ``opts.nonstandard``."""
    n = prep.n
    if n == n_published:
        return 1.0
    if not opts.nonstandard:
        raise DataError(
            f"{prep.source.get('path', '?')}: found {n} {what} after the standard filtering, but the published "
            f"{prep.name} protocol has {n_published}; is the download complete? (pass --nonstandard to prepare it anyway, "
            "with proportionally scaled splits)"
        )
    prep.warnings.append(f"non-standard: {n} items instead of the published {n_published}; split sizes scaled by {n / n_published:.4f}")
    return n / n_published


def scaled(k: int, scale: float, minimum: int = 1) -> int:
    return k if scale == 1.0 else max(minimum, int(round(k * scale)))


def random_protocol(prep: Prepared, *, n_query: int, n_train: int, n_val: int, seed: int, name: str = "default",
                    scale: float = 1.0, reference: str = "", retrieval_rule: str = "",
                    user_n_val: int | None = None) -> Protocol:
    """The DCMH-style split: ``n_query`` held out, the rest retrieval, ``n_train`` of it train and
    ``n_val`` of it val (seeded; labelled items first as queries). Sizes are multiplied by
    ``scale`` (non-standard sources); ``user_n_val`` (``--n-val``) is taken as given."""
    nq, nt = scaled(n_query, scale), scaled(n_train, scale)
    nv = int(user_n_val) if user_n_val is not None else scaled(n_val, scale, minimum=1 if n_val else 0)
    if nq + nt + nv > prep.n:
        raise DataError(f"{prep.source.get('path', '?')}: {prep.n} items are too few for {nq} query + {nt} train + {nv} val")
    p = Protocol.random(prep.n, n_query=nq, n_train=nt, n_val=nv, seed=seed, name=name, dataset=prep.name,
                        labels=prep.labels())
    if reference:
        p.rule += f"; standard protocol of {reference}" if scale == 1.0 else f"; {reference}'s protocol scaled to {prep.n} items"
    if retrieval_rule:
        p.rule += "; " + retrieval_rule
    return p


def fixed_protocol(prep: Prepared, name: str, splits: dict[str, np.ndarray], rule: str, *,
                   query_in_retrieval: bool = False, seed: int | None = None) -> Protocol:
    return Protocol(name=name, n_items=prep.n, splits={k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in splits.items()},
                    seed=seed, rule=rule, dataset=prep.name, query_in_retrieval=query_in_retrieval)


def carve(idx: np.ndarray, n: int, seed: int, salt: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (the rest, ``n`` items drawn with a seeded permutation)."""
    idx = np.asarray(idx, dtype=np.int64)
    rng = np.random.default_rng([seed, salt])
    perm = rng.permutation(len(idx))
    return np.sort(idx[perm[n:]]), np.sort(idx[perm[:n]])


SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val",
                 "query": "query", "test": "test", "retrieval": "retrieval", "database": "retrieval", "db": "retrieval",
                 "gallery": "retrieval", "restval": "train"}


def protocol_from_assignment(prep: Prepared, assignment: dict[int, str], name: str, source: str) -> Protocol:
    """A protocol from per-item split names. ``query`` items are held out; the retrieval set is
    every item marked train, val or retrieval. A set with ``test`` items and no ``query`` ones
    uses the test items as both query and retrieval set (as Wikipedia's and Pascal Sentence's
    standard protocols do)."""
    groups: dict[str, list[int]] = {}
    for i, s in assignment.items():
        groups.setdefault(s, []).append(i)
    g = {k: np.asarray(sorted(v), dtype=np.int64) for k, v in groups.items()}
    empty = np.zeros(0, dtype=np.int64)
    if "test" in g and "query" in g:
        raise DataError(f"{source}: uses both 'test' and 'query'; use 'query' + 'retrieval', or 'test' alone (test = query and retrieval)")
    if "test" in g:
        if "retrieval" in g:
            raise DataError(f"{source}: 'test' means query and retrieval at once; do not also mark items 'retrieval'")
        splits = {"train": g.get("train", empty), "val": g.get("val", empty), "query": g["test"], "retrieval": g["test"]}
        rule = f"user-defined split from {source}: test items are both query and retrieval set"
        return fixed_protocol(prep, name, splits, rule, query_in_retrieval=True)
    if "query" not in g:
        raise DataError(f"{source}: no item is marked 'query' or 'test'; expected split names train, val, query, retrieval or test")
    retrieval = np.concatenate([g.get(k, empty) for k in ("train", "val", "retrieval")])
    splits = {"train": g.get("train", empty), "val": g.get("val", empty), "query": g["query"], "retrieval": np.unique(retrieval)}
    rule = f"user-defined split from {source}: query held out; retrieval = items marked train, val or retrieval"
    return fixed_protocol(prep, name, splits, rule)


def read_split_file(path: Path, ids: list[str]) -> dict[int, str]:
    """``id,split`` per line (CSV/TSV, optional header), or JSON ``{id: split}`` /
    ``{split: [ids]}``. Split names: train, val, query, retrieval/database, test."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--split {path}: file not found")
    index = {s: i for i, s in enumerate(ids)}
    pairs: list[tuple[str, str, str]] = []
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON ({e.__class__.__name__})") from None
        if not isinstance(d, dict):
            raise DataError(f"{path}: expected a JSON object {{id: split}} or {{split: [ids]}}")
        for k, v in d.items():
            if isinstance(v, list):
                pairs.extend((str(x), str(k), f"{path}: {k!r}") for x in v)
            else:
                pairs.append((str(k), str(v), f"{path}: {k!r}"))
    else:
        for lineno, line in enumerate(read_lines(path), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.split(","))]
            if len(parts) < 2:
                raise DataError(f"{path}:{lineno}: expected 'id,split'")
            if lineno == 1 and parts[1].lower() == "split":
                continue
            pairs.append((parts[0], parts[1], f"{path}:{lineno}"))
    out: dict[int, str] = {}
    for item_id, split, where in pairs:
        s = SPLIT_ALIASES.get(split.lower())
        if s is None:
            raise DataError(f"{where}: unknown split {split!r}; expected train, val, query, retrieval or test")
        if item_id not in index:
            raise DataError(f"{where}: item id {item_id!r} is not in the dataset")
        i = index[item_id]
        if i in out and out[i] != s:
            raise DataError(f"{where}: item {item_id!r} is assigned to both {out[i]!r} and {s!r}")
        out[i] = s
    if not out:
        raise DataError(f"{path}: no split assignments found")
    return out


# ---------------------------------------------------------------------------- tabular helpers
def parse_label_field(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    s = str(value).strip()
    if not s:
        return []
    for sep in ("|", ";", ","):
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return s.split()


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV/TSV (with a header) or JSONL file as dicts, with ``_where`` = file:line."""
    rows: list[dict] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for lineno, line in enumerate(read_lines(path), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{path}:{lineno}: not a JSON object (expected one object per line with image, text, labels)") from None
            if not isinstance(r, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object with image, text, labels")
            r["_where"] = f"{path}:{lineno}"
            rows.append(r)
        return rows
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: empty file; expected a header line image,text,labels")
    first = text.splitlines()[0]
    delim = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
    # the CSV parser reads the whole text: a quoted field may hold newlines (a caption over two lines)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        for r in reader:
            lineno = reader.line_num  # the physical line where the record ends
            if None in r:
                raise DataError(f"{path}:{lineno}: more fields than the header {reader.fieldnames}")
            r = dict(r)
            r["_where"] = f"{path}:{lineno}"
            rows.append(r)
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    return rows


# ---------------------------------------------------------------------------- writing
def write_prepared(prep: Prepared, out: str | Path, opts: PrepareOptions, overwrite: bool = False) -> Dataset:
    """Write ``prep`` as a crossmedia dataset at ``out`` (atomically), then load and check it."""
    from .checks import check_dataset
    from .textfeatures import write_text_outputs

    if not prep.items:
        raise DataError(f"{prep.source.get('path', '?')}: no items left after filtering")
    if not prep.protocols:
        raise DataError(f"{prep.name}: preparer made no protocol")  # pragma: no cover
    if opts.split_file is not None:
        assignment = read_split_file(opts.split_file, [str(it["id"]) for it in prep.items])
        prep.protocols.append(protocol_from_assignment(prep, assignment, opts.split_name, str(opts.split_file)))
    names = [p.name for p in prep.protocols]
    if len(set(names)) != len(names):
        raise UserError(f"--split-name {opts.split_name!r}: a protocol of that name already exists ({', '.join(names)})")
    t0 = time.time()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        items = [dict(it) for it in prep.items]
        _write_images(prep, items, tmp, opts)
        features: dict[str, Any] = {}
        if prep.global_features is not None:
            _check_rows(prep, prep.global_features, "image features")
            (tmp / "features").mkdir(exist_ok=True)
            np.save(tmp / "features" / "image_global.npy", np.ascontiguousarray(prep.global_features, dtype=np.float32))
            features["global"] = "features/image_global.npy"
            features["global_kind"] = prep.global_features_kind
        if prep.text_features is not None:
            _check_rows(prep, prep.text_features, "text features")
            (tmp / "features").mkdir(exist_ok=True)
            np.save(tmp / "features" / "text.npy", np.ascontiguousarray(prep.text_features, dtype=np.float32))
            features["text"] = "features/text.npy"
            features["text_kind"] = prep.text_features_kind
        if prep.global_features is not None or prep.text_features is not None:
            for i, it in enumerate(items):
                it.setdefault("feature_row", i)
        text_fields = [f for f in ("caption", "tags", "tokens") if items and all(f in it for it in items)]
        for f in text_fields:
            if not any(it[f] if f != "caption" else str(it[f]).strip() for it in items):
                prep.warnings.append(f"every item's {f!r} is empty: text queries cannot match anything learned from it")
        tokenizer = _choose_tokenizer(items, text_fields, prep, opts)
        meta: dict[str, Any] = {
            "description": prep.description,
            "source": {**prep.source, "preparer": prep.name, "prepared": time.strftime("%Y-%m-%dT%H:%M:%S")},
            "text_fields": text_fields,
            "image": "path" if any("image" in it for it in items) else "features",
            "default_protocol": prep.default_protocol,
            "labels_required": prep.labels_required,
        }
        if tokenizer is not None:
            meta["tokenizer"] = tokenizer
        if features:
            meta["features"] = features
        if prep.standard is not None:
            meta["standard"] = prep.standard
        if prep.warnings:
            meta["warnings"] = list(prep.warnings)
        ds = Dataset(name=prep.name, items=items, label_names=list(prep.label_names), meta=meta)
        ds.save(tmp)
        for p in prep.protocols:
            p.validate(labels=ds.labels, source=f"protocol {p.name!r} of {prep.name}")
            ds.save_protocol(p)
        default = next(p for p in prep.protocols if p.name == prep.default_protocol)
        text_meta = write_text_outputs(tmp, ds, default, prep.text_field, opts)
        if text_meta:
            ds.meta["text"] = text_meta
            ds.save(tmp)
        # the written dataset must pass the load-time checks before it is put in place
        loaded = Dataset.load(tmp)
        for p in prep.protocols:
            check_dataset(loaded, loaded.protocol(p.name))
        write_json(tmp / "prepare_report.json", {
            "dataset": prep.name, "items": prep.n, "labels": len(prep.label_names), "source": prep.source,
            "protocols": {p.name: p.summary() for p in prep.protocols}, "warnings": prep.warnings,
            "wall_time_s": round(time.time() - t0, 2),
        })
    return Dataset.load(out)


def _check_rows(prep: Prepared, arr: np.ndarray, what: str) -> None:
    if arr.ndim != 2 or arr.shape[0] != prep.n:
        raise DataError(f"{prep.source.get('path', '?')}: {what} have shape {arr.shape}; expected ({prep.n}, D), one row per item")
    bad = nonfinite_rows(arr)
    if bad.size:
        raise DataError(f"{prep.source.get('path', '?')}: {what}: {bad.size} row(s) hold NaN or infinite values "
                        f"(first ids: {', '.join(repr(str(prep.items[int(i)]['id'])) for i in bad[:5])}); fix or drop "
                        "those items")


def nonfinite_rows(arr, chunk: int = 65536) -> np.ndarray:
    """Indices of the rows of a 2-D array (or memory map) holding NaN or ±inf, read in chunks."""
    a = np.asarray(arr) if not isinstance(arr, np.memmap) else arr
    if a.dtype.kind not in "fc":
        return np.zeros(0, dtype=np.int64)
    out = []
    for s in range(0, a.shape[0], chunk):
        block = np.asarray(a[s : s + chunk]).reshape(min(chunk, a.shape[0] - s), -1)
        rows = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if rows.size:
            out.append(rows + s)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def unreadable_images(paths: Sequence[Path]) -> list[tuple[int, str]]:
    """(index, reason) of the image files that do not decode: empty, not an image, truncated or
    corrupt. JPEGs are decoded at a reduced scale (``draft``), so the check stays cheap."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    bad = []
    for i, p in enumerate(progress(paths, desc="checking images", unit="img")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(p) as im:
                    if im.width < 1 or im.height < 1:
                        raise ValueError("no pixels")
                    if im.format == "JPEG":
                        im.draft("RGB", (64, 64))
                    im.load()
        except (UnidentifiedImageError, Image.DecompressionBombError) as e:
            bad.append((i, "not a readable image" if isinstance(e, UnidentifiedImageError) else "too many pixels"))
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            bad.append((i, f"truncated or corrupt ({e.__class__.__name__})"))
    return bad


def _write_images(prep: Prepared, items: list[dict], tmp: Path, opts: PrepareOptions) -> None:
    from PIL import Image

    if prep.images is None:
        return
    if isinstance(prep.images, ImageArray):
        (tmp / "images").mkdir()
        i = 0
        bar = progress(total=prep.n, desc="writing images", unit="img", it=_chunks_flat(prep.images.iterate()))
        for arr in bar:
            if i >= prep.n:
                raise DataError(f"{prep.images.source}: more images than items ({prep.n})")
            rel = f"images/{i:06d}.png"
            Image.fromarray(arr).save(tmp / rel, format="PNG", optimize=False, compress_level=1)
            items[i]["image"] = rel
            i += 1
        if i != prep.n:
            raise DataError(f"{prep.images.source}: {i} images for {prep.n} items")
        return
    if len(prep.images) != prep.n:
        raise DataError(f"{prep.source.get('path', '?')}: {len(prep.images)} images for {prep.n} items")  # pragma: no cover
    missing = [p for p in prep.images if not Path(p).is_file()]
    if missing:
        raise DataError(f"{missing[0]}: image not found ({len(missing)} of {prep.n} images are missing)")
    bad = unreadable_images(prep.images)
    if bad:
        i, why = bad[0]
        raise DataError(f"{prep.images[i]}: {why}; {len(bad)} of {prep.n} images do not decode (first ids: "
                        f"{', '.join(repr(str(prep.items[j]['id'])) for j, _ in bad[:5])}); fix or remove those items")
    if opts.images == "copy":
        (tmp / "images").mkdir()
        for i, p in enumerate(progress(prep.images, desc="copying images", unit="img")):
            rel = f"images/{i:06d}{Path(p).suffix.lower()}"
            shutil.copyfile(p, tmp / rel)
            items[i]["image"] = rel
    elif opts.images == "reference":
        for i, p in enumerate(prep.images):
            items[i]["image"] = str(Path(p).resolve())
    else:
        raise UserError(f"--images: expected 'reference' or 'copy', got {opts.images!r}")


def _chunks_flat(chunks: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    for c in chunks:
        yield from c


def _choose_tokenizer(items: list[dict], text_fields: list[str], prep: Prepared, opts: PrepareOptions) -> str | None:
    """The dataset's tokenizer (``--tokenizer``, or detected from its text); a warning is added
    to the prepare report when it drops many characters or leaves texts empty."""
    from ..text import coverage, coverage_warnings, resolve_tokenizer

    if not text_fields:
        return None
    sample = [it[f] for f in text_fields for it in items[:5000]]
    tok = resolve_tokenizer(opts.tokenizer, None, sample)
    for f in text_fields:
        for w in coverage_warnings(coverage([it[f] for it in items], tok), f, tok):
            if w not in prep.warnings:
                prep.warnings.append(w)
    return tok.spec
