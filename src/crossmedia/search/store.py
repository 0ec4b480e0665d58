"""Versioned index folders, replaced atomically.

An index folder holds immutable versions and a pointer to the live one::

    INDEX/CURRENT       the name of the live version ("v000007"), replaced by an atomic rename
    INDEX/v000007/      manifest.json (+ its sha256 sidecar), items.jsonl, model.pt, *.npy
    INDEX/v000006/      the previous version, kept for readers that opened it
    INDEX/.lock         taken (flock) by writers for the whole of an update
    INDEX/.tmp-*        a version being written (a killed writer's leftovers are removed by the next)

A version folder newer than the one ``CURRENT`` names was renamed into place by a writer killed
before it swapped the pointer; it was never live and the next writer removes it too.

A writer builds the new version under a temporary name, renames it to its version name (the
folder is complete before it has that name) and then renames a new ``CURRENT`` over the old
one, so a reader resolving ``CURRENT`` always lands on a complete version: the old one or the
new one, never a mix. Versions superseded more than :data:`GRACE_S` seconds ago (except the
previous one) are removed by later writers; a reader that loses such a race retries
(:func:`read_consistent`). Protects against crashed or killed processes (files are fsynced
before the swap, so against power loss too, on file systems that order renames after data).

A folder holding ``manifest.json`` directly (a version folder named on the command line) is
read as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from ..errors import DataError, UserError

__all__ = ["POINTER", "GRACE_S", "resolve", "current_version", "new_version", "is_store", "is_empty_or_leftovers",
           "read_consistent", "versions", "prune", "leftovers", "clean_leftovers", "link_or_copy"]

POINTER = "CURRENT"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
#: superseded versions younger than this (seconds) are kept for readers that still open them
GRACE_S = 60.0
_VERSION = re.compile(r"v(\d{6,})")

T = TypeVar("T")


def is_store(root: str | Path) -> bool:
    return (Path(root) / POINTER).is_file()


def current_version(root: str | Path) -> str | None:
    """The live version's name, or None when ``root`` holds no pointer (cheap: one small read)."""
    try:
        name = (Path(root) / POINTER).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _VERSION.fullmatch(name) else None


def resolve(root: str | Path) -> tuple[Path, str | None]:
    """(folder holding the files, version name or None for a plain folder) of ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: index folder not found")
    if (root / POINTER).exists():
        name = current_version(root)
        if name is None:
            raise DataError(f"{root / POINTER}: expected the name of a version folder (vNNNNNN)")
        d = root / name
        if not d.is_dir():
            raise DataError(f"{d}: version named by {root / POINTER} is missing; the index is damaged")
        return d, name
    return root, None


def read_consistent(root: str | Path, read: Callable[[Path, str | None], T], attempts: int = 5) -> T:
    """``read(folder, version)`` on the live version; retried when the version changed under the
    reader (a writer swapped and pruned in between) so only real damage is reported."""
    last: Exception | None = None
    for _ in range(attempts):
        folder, version = resolve(root)
        try:
            return read(folder, version)
        except (DataError, OSError) as e:
            if version is None or current_version(root) == version and folder.is_dir():
                raise
            last = e
    assert last is not None
    raise last


def versions(root: str | Path) -> list[tuple[int, str]]:
    out = []
    for p in Path(root).iterdir():
        m = _VERSION.fullmatch(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p.name))
    return sorted(out)


def is_empty_or_leftovers(root: str | Path) -> bool:
    """True for a missing or empty folder, or one holding only a killed writer's leftovers
    (temporary folders; version folders that never went live, when there is no pointer)."""
    root = Path(root)
    if not root.exists():
        return True
    if not root.is_dir() or (root / POINTER).exists():
        return False
    return all(p.name == LOCK or p.name.startswith(TMP_PREFIX) or (_VERSION.fullmatch(p.name) and p.is_dir())
               for p in root.iterdir())


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def leftovers(root: str | Path) -> list[str]:
    """What writers that died left in ``root``: temporary entries and versions that never went live."""
    root = Path(root)
    if not root.is_dir():
        return []
    cur = current_version(root)
    cur_n = int(cur[1:]) if cur else 0
    out = [p.name for p in root.iterdir() if p.name.startswith(TMP_PREFIX)]
    out += [name for n, name in versions(root) if n > cur_n]
    return sorted(out)


def clean_leftovers(root: Path) -> list[str]:
    """Remove what writers that died left behind (call with the writer lock held)."""
    gone = leftovers(root)
    for name in gone:
        p = root / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return gone


def _fsync_tree(d: Path) -> None:
    for p in d.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(d)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def new_version(root: str | Path, *, overwrite: bool = False, base: str | None = None,
                update: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder inside ``root``; when the block succeeds it becomes the
    next version and ``CURRENT`` is swapped to it. ``update``: ``root`` must already be an index
    whose live version is ``base`` (else another writer got there first: an error, nothing
    written). Otherwise ``root`` must be new or empty unless ``overwrite``. A plain non-store
    folder is replaced as a whole (``overwrite`` only)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder")
    if not update and not overwrite and not is_empty_or_leftovers(root):
        raise UserError(f"{root}: exists and is not empty (pass --overwrite to replace it)")
    if root.is_dir() and not is_store(root) and not is_empty_or_leftovers(root):
        # a plain folder (an index written before versioning, or anything else) is swapped whole
        from ..io import atomic_dir

        with atomic_dir(root, overwrite=True) as tmp_root:
            v = tmp_root / "v000001"
            v.mkdir()
            yield v
            _fsync_tree(v)
            _write_pointer(tmp_root, v.name)
        return
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        clean_leftovers(root)
        cur = current_version(root)
        if update and cur != base:
            raise UserError(f"{root}: the index changed while this update was computed (version {base} → {cur}); "
                            "run the command again")
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
        try:
            yield tmp
            _fsync_tree(tmp)
            nums = [n for n, _ in versions(root)]
            name = f"v{(max(nums) + 1 if nums else 1):06d}"
            os.replace(tmp, root / name)
            _write_pointer(root, name)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        prune(root)


def _write_pointer(root: Path, name: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".pointer", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, root / POINTER)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(root)


def prune(root: str | Path, grace_s: float | None = None, now: float | None = None) -> list[str]:
    """Remove versions older than the previous one whose successor went live more than
    ``grace_s`` ago (call with the writer lock held). Returns the removed names."""
    root = Path(root)
    grace = GRACE_S if grace_s is None else grace_s
    now = time.time() if now is None else now
    cur = current_version(root)
    vs = versions(root)
    names = [n for _, n in vs]
    if cur not in names:
        return []
    live = names.index(cur)
    removed = []
    for i, name in enumerate(names[: max(live - 1, 0)]):
        successor = root / names[i + 1]
        try:
            went_live = successor.stat().st_mtime
        except OSError:
            continue
        if now - went_live >= grace:
            shutil.rmtree(root / name, ignore_errors=True)
            removed.append(name)
    return removed


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` to ``dst`` (versions share unchanged files), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
