"""MATLAB ``.mat`` files, both flavours, read into arrays in *MATLAB axis order*.

- v4/v5/v7 files are read with :func:`scipy.io.loadmat`; their arrays already have MATLAB's
  shape (rows × columns × …).
- v7.3 files are HDF5 (a 512-byte MATLAB header, then an HDF5 file) and are read with h5py.
  HDF5 stores MATLAB's column-major arrays with the axes reversed, so an ``IAll`` that MATLAB
  shows as 224×224×3×20015 reads as (20015, 3, 224, 224): :class:`MatVar` reverses the axes back
  (lazily, so a 3 GB image array is read slab by slab).

Callers then orient arrays by the item count (:func:`orient_rows`, :func:`orient_images`): the
item axis is the one whose length is the number of items, whichever way the file was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import DataError

MAT_V73_HEADER = b"MATLAB 7.3 MAT-file"


class MatVar:
    """One numeric variable of a ``.mat`` file. ``shape`` is MATLAB's; ``load()`` reads it all,
    ``slab(axis, start, stop)`` a range along one MATLAB axis."""

    def __init__(self, data: Any, reversed_axes: bool, name: str, path: Path):
        self._data = data
        self._reversed = reversed_axes
        self.name = name
        self.path = path

    @property
    def shape(self) -> tuple[int, ...]:
        s = tuple(int(x) for x in self._data.shape)
        return s[::-1] if self._reversed else s

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def load(self) -> np.ndarray:
        try:
            arr = np.asarray(self._data[()])
        except (OSError, ValueError) as e:  # truncated HDF5 data
            raise DataError(f"{self.path}: cannot read variable {self.name!r} ({_first_line(e)}); is the file truncated?") from None
        return arr.T if self._reversed else arr

    def slab(self, axis: int, start: int, stop: int) -> np.ndarray:
        if not self._reversed:
            idx = [slice(None)] * self.ndim
            idx[axis] = slice(start, stop)
            return np.asarray(self._data[tuple(idx)])
        h5_axis = self.ndim - 1 - axis
        idx = [slice(None)] * self.ndim
        idx[h5_axis] = slice(start, stop)
        try:
            arr = np.asarray(self._data[tuple(idx)])
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: cannot read variable {self.name!r} ({_first_line(e)}); is the file truncated?") from None
        return arr.T


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else e.__class__.__name__


def is_v73(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({_first_line(e)})") from None
    if head.startswith(MAT_V73_HEADER):
        return True
    try:
        import h5py

        return bool(h5py.is_hdf5(str(path)))
    except ImportError:  # pragma: no cover - h5py is a core dependency
        return False


def read_mat(path: str | Path) -> dict[str, Any]:
    """Variables of a ``.mat`` file: numeric arrays as :class:`MatVar`, strings as ``str``, cell
    arrays of strings as ``list[str]``, structs as dicts. Raises :class:`DataError` naming the file
    for a missing, truncated or non-MAT file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: .mat file not found")
    if is_v73(path):
        return _read_h5(path)
    return _read_v5(path)


def _read_v5(path: Path) -> dict[str, Any]:
    import scipy.io

    try:
        raw = scipy.io.loadmat(str(path), simplify_cells=True)
    except NotImplementedError:  # v7.3 without a recognisable header
        return _read_h5(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError/MatReadError on bad files
        raise DataError(f"{path}: not a readable MATLAB .mat file ({e.__class__.__name__}: {_first_line(e)}); "
                        "is it truncated?") from None
    return {k: _wrap_v5(v, k, path) for k, v in raw.items() if not k.startswith("__")}


def _wrap_v5(v: Any, name: str, path: Path) -> Any:
    if isinstance(v, dict):
        return {k: _wrap_v5(x, f"{name}.{k}", path) for k, x in v.items()}
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return [_wrap_v5(x, name, path) for x in v]
    if isinstance(v, np.ndarray) and v.dtype == object:
        flat = [_wrap_v5(x, name, path) for x in v.reshape(-1, order="F")]
        return flat
    if isinstance(v, np.ndarray) and v.dtype.kind in "US":
        return [str(x) for x in v.reshape(-1)] if v.ndim else str(v)
    if isinstance(v, (int, float, np.number)):
        v = np.asarray(v)
    if isinstance(v, np.ndarray):
        return MatVar(v, False, name, path)
    return v


def _read_h5(path: Path) -> dict[str, Any]:
    import h5py

    try:
        f = h5py.File(str(path), "r")
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({_first_line(e)}); is it truncated?") from None
    try:
        return _h5_group(f, f, path, "")
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path}: cannot read the HDF5 structure ({_first_line(e)}); is the file truncated?") from None


def _h5_group(f, group, path: Path, prefix: str) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    for key in group.keys():
        if key.startswith("#"):  # '#refs#', '#subsystem#'
            continue
        obj = group[key]
        name = prefix + key
        if isinstance(obj, h5py.Group):
            out[key] = _h5_group(f, obj, path, name + ".")
        else:
            out[key] = _h5_dataset(f, obj, path, name)
    return out


def _matlab_class(obj) -> str:
    c = obj.attrs.get("MATLAB_class", b"")
    return c.decode() if isinstance(c, bytes) else str(c)


def _h5_dataset(f, d, path: Path, name: str) -> Any:
    import h5py

    cls = _matlab_class(d)
    if cls == "char":
        arr = np.asarray(d[()])
        return "".join(chr(c) for c in arr.T.reshape(-1) if c)
    if d.dtype == h5py.ref_dtype or d.dtype.kind == "O":  # a cell array
        refs = np.asarray(d[()]).T.reshape(-1, order="F")
        vals = []
        for r in refs:
            target = f[r]
            vals.append(_h5_dataset(f, target, path, name) if isinstance(target, h5py.Dataset) else None)
        return vals
    return MatVar(d, True, name, path)


def flatten_vars(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) for every variable, descending into structs."""
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from flatten_vars(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


# ---------------------------------------------------------------------------- orientation
def item_count(candidates: list[MatVar]) -> int:
    """The number of items: an axis length that every variable in ``candidates`` has (for 2-D
    data MATLAB's rows are preferred when both axes qualify)."""
    if not candidates:
        raise DataError("no variables to infer the number of items from")
    common = None
    for v in candidates:
        lengths = set(v.shape)
        common = lengths if common is None else common & lengths
    if not common:
        desc = ", ".join(f"{v.name} {'x'.join(map(str, v.shape))}" for v in candidates)
        raise DataError(f"{candidates[0].path}: the variables do not share an item axis ({desc}); expected one row per item")
    first = candidates[0].shape
    for n in first:  # MATLAB order: rows first
        if n in common:
            return int(n)
    return int(max(common))  # pragma: no cover


def orient_rows(v: MatVar, n: int, expect: str) -> np.ndarray:
    """A 1-D or 2-D variable as an (n, D) array (rows = items), transposing when needed."""
    arr = v.load()
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataError(f"{v.path}: variable {v.name!r} has shape {'x'.join(map(str, v.shape))}; expected {expect} (2-D, one row per item)")
    if arr.shape[0] == n:
        return arr
    if arr.shape[1] == n:
        return arr.T
    raise DataError(f"{v.path}: variable {v.name!r} has shape {'x'.join(map(str, v.shape))}; expected {expect} with {n} items")


def image_layout(v: MatVar, n: int) -> tuple[int, int, int, int]:
    """(item axis, channel axis, height axis, width axis) of a 4-D (or 3-D grey) image variable in
    MATLAB order: the item axis has length ``n``, the channel axis length 3 (or 1), and height
    comes before width as in MATLAB's h×w×c×n."""
    s = v.shape
    if len(s) not in (3, 4):
        raise DataError(f"{v.path}: variable {v.name!r} has shape {'x'.join(map(str, s))}; expected images h x w x 3 x N")
    axes = list(range(len(s)))
    item = [a for a in axes if s[a] == n]
    if not item:
        raise DataError(f"{v.path}: variable {v.name!r} has shape {'x'.join(map(str, s))}; no axis of length {n} (one per item)")
    item_ax = item[-1] if len(item) > 1 and s[-1] == n else item[0]
    rest = [a for a in axes if a != item_ax]
    if len(s) == 3:
        return item_ax, -1, rest[0], rest[1]
    ch = [a for a in rest if s[a] in (3, 1)]
    if not ch:
        raise DataError(f"{v.path}: variable {v.name!r} has shape {'x'.join(map(str, s))}; expected a colour axis of length 3")
    ch_ax = ch[-1]
    hw = [a for a in rest if a != ch_ax]
    return item_ax, ch_ax, hw[0], hw[1]


def iter_images(v: MatVar, n: int, chunk: int = 256) -> Iterator[np.ndarray]:
    """Yield uint8 (B, H, W, 3) chunks of a MATLAB image variable, in item order."""
    item_ax, ch_ax, h_ax, w_ax = image_layout(v, n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        arr = v.slab(item_ax, start, stop)
        if ch_ax == -1:
            arr = np.moveaxis(arr, (item_ax, h_ax, w_ax), (0, 1, 2))[..., None]
        else:
            arr = np.moveaxis(arr, (item_ax, h_ax, w_ax, ch_ax), (0, 1, 2, 3))
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        yield to_uint8(arr)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    a = arr.astype(np.float32)
    if a.size and float(np.nanmax(a)) <= 1.0:
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)
