"""A plain folder of images with a manifest: CSV/TSV (header row) or JSONL, one item a row, with

- ``image``: path relative to the manifest's folder (or absolute)
- ``text``: a caption (default) or, with ``--text-kind tags``, a list of tags (JSONL list, or a
  string split on ``|``, ``;``, ``,`` or spaces)
- ``labels``: label names (JSONL list, or a string split the same way)
- optional ``id`` (default: the image path), optional ``split`` (train, val, query, retrieval,
  test) → protocol ``default`` (the seeded random one is then called ``random``)

``--src`` is the manifest file or a folder holding exactly one ``*.csv``/``*.tsv``/``*.jsonl``.
Label names are sorted. Without a split column, protocol ``default`` is seeded random: 10 % query,
the rest retrieval, of which 50 % of all items train and 5 % val (the embedded dataset's rule).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError, UserError
from . import register_preparer
from .base import (SPLIT_ALIASES, PrepareOptions, Prepared, parse_label_field, protocol_from_assignment,
                   random_protocol, read_table)

MANIFEST_EXTS = (".csv", ".tsv", ".jsonl", ".ndjson")


@register_preparer("folder", "your own data: images + a CSV/JSONL manifest with image, text, labels (optional id, split)",
                   "folder with images and one manifest.csv / .tsv / .jsonl")
def prepare_folder(src: Path, opts: PrepareOptions) -> Prepared:
    manifest = _find_manifest(src)
    base = manifest.parent
    kind = (opts.text_kind or "caption").lower()
    if kind not in ("caption", "tags"):
        raise UserError(f"--text-kind: expected caption or tags, got {opts.text_kind!r}")
    rows = read_table(manifest)
    if not rows:
        raise DataError(f"{manifest}: no rows")
    for col in ("image", "text", "labels"):
        if col not in rows[0]:
            have = ", ".join(k for k in rows[0] if k != "_where")
            raise DataError(f"{manifest}: missing column {col!r}; expected image, text, labels (found: {have})")
    names: set[str] = set()
    parsed = []
    for r in rows:
        w = r["_where"]
        for col in ("image", "text", "labels"):
            if col not in r or r[col] is None:
                raise DataError(f"{w}: missing field {col!r}")
        if not str(r["image"]).strip():
            raise DataError(f"{w}: empty 'image' path")
        labels = parse_label_field(r["labels"], w)
        names.update(labels)
        text = r["text"]
        if kind == "tags":
            text = parse_label_field(text, w)
        elif not isinstance(text, str):
            raise DataError(f"{w}: field 'text' must be a string caption (use --text-kind tags for tag lists)")
        parsed.append((r, labels, text))
    label_names = sorted(names)
    if not label_names:
        raise DataError(f"{manifest}: no item has a label; expected label names in the 'labels' column")
    col = {n: j for j, n in enumerate(label_names)}
    items, images, splits = [], [], {}
    seen: set[str] = set()
    for i, (r, labels, text) in enumerate(parsed):
        p = Path(str(r["image"]).strip())
        img = p if p.is_absolute() else base / p
        if not img.is_file():
            raise DataError(f"{r['_where']}: image {str(p)!r} not found (looked for {img})")
        item_id = str(r.get("id") or p.as_posix())
        if item_id in seen:
            raise DataError(f"{r['_where']}: duplicate item id {item_id!r}")
        seen.add(item_id)
        it = {"id": item_id, ("tags" if kind == "tags" else "caption"): text, "labels": sorted({col[n] for n in labels})}
        items.append(it)
        images.append(img)
        if r.get("split") not in (None, ""):
            s = SPLIT_ALIASES.get(str(r["split"]).strip().lower())
            if s is None:
                raise DataError(f"{r['_where']}: unknown split {r['split']!r}; expected train, val, query, retrieval or test")
            splits[i] = s
    prep = Prepared(name=base.name or "folder", items=items, label_names=label_names, images=images, text_field=kind,
                    labels_required=False, description=f"user dataset from {manifest.name}",
                    source={"path": str(src), "format": "folder + manifest", "manifest": str(manifest)})
    n = prep.n
    if n < 20:
        raise DataError(f"{manifest}: {n} items; need at least 20 to form train/val/query splits")
    if splits and len(splits) != n:
        missing = next(i for i in range(n) if i not in splits)
        raise DataError(f"{parsed[missing][0]['_where']}: empty 'split' (give every row a split, or none)")
    prep.protocols.append(random_protocol(prep, n_query=max(1, n // 10), n_train=n // 2, n_val=max(1, n // 20),
                                          user_n_val=opts.n_val, seed=opts.seed, name="random" if splits else "default"))
    if splits:
        prep.protocols.append(protocol_from_assignment(prep, splits, "default", f"{manifest} (split column)"))
    return prep


def _find_manifest(src: Path) -> Path:
    if src.is_file():
        if src.suffix.lower() not in MANIFEST_EXTS:
            raise DataError(f"{src}: expected a manifest .csv, .tsv or .jsonl")
        return src
    found = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in MANIFEST_EXTS)
    if not found:
        raise DataError(f"{src}: no manifest (.csv, .tsv or .jsonl with image, text, labels) in this folder")
    if len(found) > 1:
        raise DataError(f"{src}: several manifests ({', '.join(p.name for p in found)}); pass the one to use as --src")
    return found[0]

