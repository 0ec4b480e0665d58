"""Progress bars (tqdm) that stay quiet when asked to or when output is not a terminal in CI."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def progress(it: Iterable[T], desc: str = "", total: int | None = None, unit: str = "it", leave: bool = False) -> tqdm:
    """A tqdm bar over ``it`` — always a tqdm, disabled when quiet, so callers may ``update``,
    ``set_postfix`` and ``close`` it either way."""
    disable = _QUIET or os.environ.get("CROSSMEDIA_NO_PROGRESS") == "1"
    return tqdm(it, desc=desc, total=total, unit=unit, leave=leave, disable=disable, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)
