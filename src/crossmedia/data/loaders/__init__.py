"""Preparers for the benchmark datasets users bring (DATASETS.md): each reads a published
layout (raw release folders, DCMH-style ``.mat`` files, Karpathy JSON, plain folders) and
writes a crossmedia dataset with the standard protocol(s). One module per format; they register
here by name::

    from crossmedia.data.loaders import prepare_dataset
    ds = prepare_dataset("wikipedia", "path/to/release", "data/wikipedia")

``crossmedia data prepare NAME --src PATH --out DIR`` is the command-line front end.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from ...errors import UserError
from .base import PrepareOptions, Prepared

_MODULES = ("mirflickr", "nuswide", "iaprtc12", "wikipedia", "pascal", "karpathy", "folder")


@dataclass
class PreparerInfo:
    name: str
    fn: Callable[[Path, PrepareOptions], Prepared]
    summary: str
    formats: str


_PREPARERS: dict[str, PreparerInfo] = {}
_loaded = False


def register_preparer(name: str, summary: str, formats: str) -> Callable:
    """Decorator: ``@register_preparer("mirflickr25k", "...", "...")`` on ``fn(src, opts) -> Prepared``."""

    def deco(fn: Callable) -> Callable:
        if name in _PREPARERS and _PREPARERS[name].fn is not fn:
            raise ValueError(f"preparer {name!r} is already registered")
        _PREPARERS[name] = PreparerInfo(name, fn, summary, formats)
        return fn

    return deco


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for m in _MODULES:
            importlib.import_module(f"{__name__}.{m}")
        _loaded = True


def list_preparers() -> list[str]:
    _load_all()
    return sorted(_PREPARERS)


def get_preparer(name: str) -> PreparerInfo:
    _load_all()
    if name not in _PREPARERS:
        raise UserError(f"unknown dataset {name!r} (available: {', '.join(sorted(_PREPARERS))})")
    return _PREPARERS[name]


def prepare_dataset(name: str, src: str | Path, out: str | Path, *, overwrite: bool = False, **options):
    """Read the release at ``src`` with preparer ``name`` and write the dataset to ``out``.
    ``options`` are :class:`PrepareOptions` fields (seed, nonstandard, images, split_file, …)."""
    from .base import write_prepared

    info = get_preparer(name)
    known = {f.name for f in fields(PrepareOptions)}
    bad = sorted(set(options) - known)
    if bad:
        raise UserError(f"unknown prepare option(s) {bad} (known: {', '.join(sorted(known))})")
    opts = PrepareOptions(**{k: v for k, v in options.items() if v is not None})
    src = Path(src)
    if not src.exists():
        raise UserError(f"--src {src}: not found")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output directory exists and is not empty (pass --overwrite to replace it)")
    from .base import source_encoding

    with source_encoding(opts.encoding):
        prep = info.fn(src, opts)
    prep.source.setdefault("path", str(src.resolve()))
    if opts.encoding:
        prep.source["encoding"] = opts.encoding
    return write_prepared(prep, out, opts, overwrite=overwrite)


__all__ = ["PrepareOptions", "Prepared", "register_preparer", "list_preparers", "get_preparer", "prepare_dataset"]
